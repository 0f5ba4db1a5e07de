import { useCallback, useEffect, useRef, useState } from 'react';
import { useSubscription } from 'urql';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ApiError, resumableSubscription } from '../api';
import { CopyButton, RefusalView, Section, StatusBadge, when } from '../components';
import {
  ConsoleWorkloadChangedDocument,
  ConsoleWorkloadDocument,
  ConsoleWorkloadEventsDocument,
  ConsoleWorkloadStatisticsDocument,
  type ConsoleWorkloadEventsSubscription,
  type ConsoleWorkloadStatisticsQuery,
  type WorkloadDetailFragment,
} from '../gql/graphql';
import { useApi, useConnection } from '../hooks';
import { SharingEditor } from './SharingEditor';
import { WorkloadActions } from './WorkloadActions';

type Event = ConsoleWorkloadEventsSubscription['workloadEvents'];
type Statistics = Extract<ConsoleWorkloadStatisticsQuery['workload'], { __typename: 'Workload' }>['statistics'];

export function WorkloadPage({ id }: { id: string }) {
  const api = useApi();
  const { epoch } = useConnection();
  const [workload, setWorkload] = useState<WorkloadDetailFragment | null>(null);
  const [missing, setMissing] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const { workload: w } = await api.query(ConsoleWorkloadDocument, { id });
      if (w.__typename === 'Workload') setWorkload(w);
      else setMissing(w.message);
    } catch (e) {
      setMissing(e instanceof Error ? e.message : String(e));
    }
  }, [api, id]);
  useEffect(() => {
    void load();
  }, [load, epoch]);

  const [changed] = useSubscription({ query: ConsoleWorkloadChangedDocument, variables: { id } });
  useEffect(() => {
    if (changed.data) setWorkload(changed.data.workloadChanged.workload);
    if (changed.error?.graphQLErrors.some((e) => e.extensions?.code === 'NOT_FOUND' || e.extensions?.code === 'ACCESS_REVOKED')) {
      setMissing(changed.error.graphQLErrors[0]!.message);
    }
  }, [changed.data, changed.error]);

  if (missing && !workload) return <div className="refusal" role="alert">{missing}</div>;
  if (!workload) return <p>Loading…</p>;
  const w = workload;
  return (
    <>
      <h1>
        {w.name} <StatusBadge status={w.status} title={w.statusReason} />
      </h1>
      {missing && <div className="refusal" role="alert">{missing}</div>}
      <div className="grid">
        <Section title="Overview">
          <dl className="facts">
            <dt>Status</dt>
            <dd data-testid="workload-status">
              {w.status}
              {w.statusReason && <> · {w.statusReason}</>}
              {w.statusMessage && <div className="hint">{w.statusMessage}</div>}
            </dd>
            <dt>Importance</dt>
            <dd>{w.importance}</dd>
            <dt>Replicas</dt>
            <dd>{w.runtime.replicaCount}</dd>
            <dt>Artifact</dt>
            <dd>
              {w.artifact.name} {w.artifact.status === 'LOCKED' ? `v${w.artifact.version}` : '(draft)'}
            </dd>
            <dt>Your role</dt>
            <dd data-testid="viewer-role">{w.viewerRole}</dd>
            <dt>Expires</dt>
            <dd>{w.expiresAt ? when(w.expiresAt) : 'never'}</dd>
            <dt>Created</dt>
            <dd>{when(w.createdAt)}</dd>
          </dl>
        </Section>
        <EndpointCard endpoint={w.endpoint} />
      </div>
      <WorkloadActions workload={w} onChanged={setWorkload} />
      <ReplacementTimeline workload={w} />
      <Section title="Protons and replicas">
        {w.protons.length === 0 && <p className="hint">No protons: the workload is stopped.</p>}
        {w.protons.map((p) => (
          <div key={p.id} className="proton-block" data-proton-role={p.role}>
            <h3>
              {p.role.toLowerCase()} proton <StatusBadge status={p.status} title={p.statusReason} />{' '}
              <span className="hint">
                {p.artifact.name} {p.artifact.version ? `v${p.artifact.version}` : '(draft)'} · {p.statusReason ?? ''} {p.statusMessage ?? ''}
              </span>
            </h3>
            <table>
              <thead>
                <tr>
                  <th>Replica</th>
                  <th>Status</th>
                  <th>Ready</th>
                  <th>Reason</th>
                  <th>Restarts</th>
                  <th>Node</th>
                </tr>
              </thead>
              <tbody>
                {p.replicas.map((r) => (
                  <tr key={r.name}>
                    <td>{r.name}</td>
                    <td>
                      <StatusBadge status={r.status} />
                    </td>
                    <td>{r.ready ? 'yes' : 'no'}</td>
                    <td title={r.message ?? undefined}>{r.reason ?? '—'}</td>
                    <td>{r.restartCount}</td>
                    <td>{r.node ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </Section>
      <StatisticsCharts id={w.id} />
      <EventLog id={w.id} />
      <SharingEditor kind="workload" id={w.id} viewerRole={w.viewerRole} roles={w.sharedRoles} onSaved={() => void load()} />
    </>
  );
}

function EndpointCard({ endpoint }: { endpoint: string }) {
  const example = `curl -H "Authorization: Bearer $TOKEN" ${endpoint}`;
  return (
    <Section title="Endpoint">
      <p>
        <code data-testid="endpoint">{endpoint}</code> <CopyButton text={endpoint} />
      </p>
      <pre className="example">{example}</pre>
      <CopyButton text={example} />
    </Section>
  );
}

const STEPS = ['SUBMITTED', 'INITIALIZING', 'WARMING', 'SWITCHING', 'DRAINING', 'COMPLETED'] as const;

function ReplacementTimeline({ workload }: { workload: WorkloadDetailFragment }) {
  const r = workload.replacement;
  const past = workload.history.filter((h) => h.kind === 'REPLACEMENT');
  if (!r && past.length === 0) return null;
  const at = r ? STEPS.indexOf(r.status as (typeof STEPS)[number]) : -1;
  return (
    <Section title="Replacement">
      {r && (
        <div data-testid="replacement">
          <p>
            {r.fromArtifact.name} {r.fromArtifact.version ? `v${r.fromArtifact.version}` : '(draft)'} → {r.toArtifact.name}{' '}
            {r.toArtifact.version ? `v${r.toArtifact.version}` : '(draft)'} · <StatusBadge status={r.status} title={r.statusReason} /> · warm-up{' '}
            {r.warmupSeconds}s, old proton kept {r.keepOldVersionSeconds}s · started {when(r.createdAt)}
            {r.finishedAt && <> · finished {when(r.finishedAt)}</>}
          </p>
          <ol className="timeline">
            {STEPS.map((step, i) => {
              const state = r.status === 'CANCELLED' || r.status === 'ERRORED' ? (i <= Math.max(at, 0) ? 'done' : 'todo') : i < at ? 'done' : i === at ? 'current' : 'todo';
              return (
                <li key={step} className={`step ${state}`} data-step={step} data-state={state}>
                  <span className="marker" />
                  {step.toLowerCase()}
                  {step === 'WARMING' && <span className="hint"> {r.warmupSeconds}s</span>}
                  {step === 'DRAINING' && <span className="hint"> keep old {r.keepOldVersionSeconds}s</span>}
                </li>
              );
            })}
            {(r.status === 'CANCELLED' || r.status === 'ERRORED') && (
              <li className="step current bad" data-step={r.status}>
                <span className="marker" />
                {r.status.toLowerCase()} {r.statusReason && `· ${r.statusReason}`}
              </li>
            )}
          </ol>
          {r.statusMessage && <p className="hint">{r.statusMessage}</p>}
          <p className="hint">Each step must finish within the API's REPLACEMENT_STEP_DEADLINE_SECONDS (after its warm-up or keep-old wait), or the replacement is ERRORED and traffic stays on the old proton.</p>
        </div>
      )}
      {past.length > 0 && (
        <ul className="history">
          {past.map((h, i) => (
            <li key={i}>
              {when(h.at)}: replacement to {h.artifact.name} {h.artifact.version ? `v${h.artifact.version}` : '(draft)'}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function EventLog({ id }: { id: string }) {
  const api = useApi();
  const [events, setEvents] = useState<Event[]>([]);
  const [error, setError] = useState<string | null>(null);
  const last = useRef(0);
  useEffect(() => {
    last.current = 0;
    setEvents([]);
    // Resumed after a disconnect from the last sequence received: no gap, no duplicate.
    return resumableSubscription(
      api,
      ConsoleWorkloadEventsDocument,
      () => ({ id, after: last.current }),
      (data) => {
        const e = data.workloadEvents;
        if (e.sequence <= last.current) return;
        last.current = e.sequence;
        setEvents((cur) => [e, ...cur].slice(0, 500));
      },
      setError,
    );
  }, [api, id]);
  return (
    <Section title="Events">
      {error && <div className="refusal">{error}</div>}
      <table className="events">
        <tbody>
          {events.map((e) => (
            <tr key={e.sequence} data-event-type={e.type}>
              <td className="seq">{e.sequence}</td>
              <td>{when(e.occurredAt)}</td>
              <td>
                <code>{e.type}</code>
              </td>
              <td>{e.message}</td>
              <td className="hint">{e.actor ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function StatisticsCharts({ id }: { id: string }) {
  const api = useApi();
  const [stats, setStats] = useState<Statistics | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const from = new Date(Date.now() - 60 * 60 * 1000).toISOString();
        const { workload } = await api.query(ConsoleWorkloadStatisticsDocument, { id, from });
        if (!stop && workload.__typename === 'Workload') setStats(workload.statistics);
      } catch (e) {
        if (!stop) setError(e instanceof ApiError ? e.message : String(e));
      }
    };
    void load();
    const timer = setInterval(() => void load(), 5_000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [api, id]);
  const series = (stats?.series ?? []).map((p) => ({
    t: new Date(p.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
    requests: p.requestCount,
    errors: p.serverErrorCount + p.clientErrorCount,
    p50: p.latencyP50Ms,
    p95: p.latencyP95Ms,
    p99: p.latencyP99Ms,
  }));
  return (
    <Section title="Requests (last hour)">
      {error && <div className="refusal">{error}</div>}
      {stats && (
        <p className="hint">
          {stats.requestCount} requests · {stats.serverErrorCount} server errors · {stats.clientErrorCount} client errors · p50{' '}
          {stats.latencyP50Ms?.toFixed(1) ?? '—'} ms · p95 {stats.latencyP95Ms?.toFixed(1) ?? '—'} ms · p99 {stats.latencyP99Ms?.toFixed(1) ?? '—'} ms
        </p>
      )}
      {series.length === 0 ? (
        <p className="hint">No requests yet: call the endpoint above.</p>
      ) : (
        <div className="charts">
          <ResponsiveContainer width="100%" height={200}>
            <LineChart data={series}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="t" />
              <YAxis allowDecimals={false} />
              <Tooltip />
              <Legend />
              <Line type="monotone" dataKey="requests" stroke="#2563eb" dot={false} isAnimationActive={false} />
              <Line type="monotone" dataKey="errors" stroke="#dc2626" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
          <ResponsiveContainer width="100%" height={200}>
            <LineChart data={series}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="t" />
              <YAxis unit=" ms" />
              <Tooltip />
              <Legend />
              <Line type="monotone" dataKey="p50" stroke="#16a34a" dot={false} isAnimationActive={false} />
              <Line type="monotone" dataKey="p95" stroke="#d97706" dot={false} isAnimationActive={false} />
              <Line type="monotone" dataKey="p99" stroke="#dc2626" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </div>
      )}
    </Section>
  );
}
