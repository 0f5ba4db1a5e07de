import { useCallback, useEffect, useMemo, useState } from 'react';
import { useSubscription } from 'urql';
import { StatusBadge, when } from '../components';
import {
  ConsoleWorkloadsChangedDocument,
  ConsoleWorkloadsDocument,
  type ConsoleWorkloadsQuery,
  type WorkloadFilter,
  type WorkloadOrderField,
  type WorkloadRowFragment,
  type WorkloadStatus,
  type OrderDirection,
} from '../gql/graphql';
import { useApi, useConnection } from '../hooks';

const STATUSES: WorkloadStatus[] = ['SUBMITTED', 'PROVISIONING', 'LAUNCHING', 'RUNNING', 'STOPPING', 'STOPPED', 'ERRORED', 'INTERRUPTED', 'SUSPENDED', 'TERMINATED', 'UNKNOWN'];
const PAGE = 20;

type Page = ConsoleWorkloadsQuery['workloads'];
type Cursor = { after?: string; before?: string };

export function WorkloadList() {
  const api = useApi();
  const { epoch } = useConnection();
  const [statuses, setStatuses] = useState<WorkloadStatus[]>([]);
  const [search, setSearch] = useState('');
  const [field, setField] = useState<WorkloadOrderField>('CREATED_AT');
  const [direction, setDirection] = useState<OrderDirection>('DESC');
  const [cursor, setCursor] = useState<Cursor>({});
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [stale, setStale] = useState(0);

  const filter = useMemo<WorkloadFilter>(
    () => ({ ...(statuses.length > 0 && { status: statuses }), ...(search.trim() && { search: search.trim() }) }),
    [statuses, search],
  );

  const load = useCallback(async () => {
    try {
      const vars = cursor.before ? { last: PAGE, before: cursor.before } : { first: PAGE, ...(cursor.after && { after: cursor.after }) };
      const data = await api.query(ConsoleWorkloadsDocument, { ...vars, filter, orderBy: { field, direction } });
      setPage(data.workloads);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }, [api, cursor, filter, field, direction]);

  // Reload on every change of the view, after a reconnect (changes may have been missed) and when a change needs it.
  useEffect(() => {
    void load();
  }, [load, epoch, stale]);

  // Live: a changed row is replaced in place; one that left the filter goes; a new one reloads the page.
  const [live] = useSubscription({ query: ConsoleWorkloadsChangedDocument, variables: { filter } }, (_prev, change: unknown) => change);
  useEffect(() => {
    const change = (live.data as { workloadsChanged?: { workloadId: string; workload: WorkloadRowFragment | null } } | undefined)?.workloadsChanged;
    if (!change) return;
    setPage((current) => {
      if (!current) return current;
      const at = current.edges.findIndex((e) => e.node.id === change.workloadId);
      if (at === -1) {
        if (change.workload) setStale((n) => n + 1);
        return current;
      }
      if (!change.workload) {
        setStale((n) => n + 1);
        return { ...current, edges: current.edges.filter((_, i) => i !== at) };
      }
      const edges = current.edges.slice();
      edges[at] = { ...edges[at]!, node: change.workload };
      return { ...current, edges };
    });
  }, [live.data]);

  const toggle = (s: WorkloadStatus) => {
    setCursor({});
    setStatuses((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));
  };

  return (
    <>
      <h1>Workloads {page && <span className="count">{page.totalCount}</span>}</h1>
      <div className="filters card">
        <div className="row wrap">
          {STATUSES.map((s) => (
            <label key={s} className="check">
              <input type="checkbox" checked={statuses.includes(s)} onChange={() => toggle(s)} /> {s.toLowerCase()}
            </label>
          ))}
        </div>
        <div className="row">
          <input
            aria-label="Search"
            placeholder="Search names and descriptions"
            value={search}
            onChange={(e) => {
              setCursor({});
              setSearch(e.target.value);
            }}
          />
          <label>
            Order by{' '}
            <select aria-label="Order by" value={field} onChange={(e) => setField(e.target.value as WorkloadOrderField)}>
              <option value="CREATED_AT">created</option>
              <option value="UPDATED_AT">updated</option>
              <option value="NAME">name</option>
            </select>
          </label>
          <select aria-label="Direction" value={direction} onChange={(e) => setDirection(e.target.value as OrderDirection)}>
            <option value="DESC">descending</option>
            <option value="ASC">ascending</option>
          </select>
        </div>
      </div>
      {error && <div className="refusal" role="alert">{error}</div>}
      <table className="workloads">
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>Importance</th>
            <th>Artifact</th>
            <th>Protons</th>
            <th>Replicas</th>
            <th>Role</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {page?.edges.map(({ node: w }) => {
            const replicas = w.protons.flatMap((p) => p.replicas);
            const ready = replicas.filter((r) => r.ready).length;
            const restarts = replicas.reduce((n, r) => n + r.restartCount, 0);
            return (
              <tr key={w.id} data-workload={w.name}>
                <td>
                  <a href={`#/workloads/${encodeURIComponent(w.id)}`}>{w.name}</a>
                </td>
                <td>
                  <StatusBadge status={w.status} title={w.statusReason} />
                </td>
                <td>{w.importance.toLowerCase()}</td>
                <td>
                  {w.artifact.name} {w.artifact.status === 'LOCKED' ? `v${w.artifact.version}` : <em>draft</em>}
                </td>
                <td className="protons">
                  {w.protons.map((p) => (
                    <span key={p.id} className="proton" title={`${p.role} proton`}>
                      {p.role.toLowerCase()} <StatusBadge status={p.status} />
                    </span>
                  ))}
                </td>
                <td>
                  <span className="replicas" title={`${ready} of ${replicas.length} ready; desired ${w.runtime.replicaCount}`}>
                    {replicas.map((r) => (
                      <span key={r.name} className={`dot ${r.ready ? 'ready' : 'not-ready'}`} />
                    ))}{' '}
                    {ready}/{w.runtime.replicaCount}
                    {restarts > 0 && <span className="restarts"> ↻{restarts}</span>}
                  </span>
                </td>
                <td>{w.viewerRole.toLowerCase()}</td>
                <td>{when(w.createdAt)}</td>
              </tr>
            );
          })}
          {page && page.edges.length === 0 && (
            <tr>
              <td colSpan={8} className="empty">
                No workloads match. <a href="#/new">Create one</a>.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div className="row pager">
        <button type="button" disabled={!(page?.pageInfo.hasPreviousPage || cursor.after)} onClick={() => setCursor({ before: page?.pageInfo.startCursor ?? undefined })}>
          ← Previous
        </button>
        <button type="button" disabled={!page?.pageInfo.hasNextPage} onClick={() => setCursor({ after: page?.pageInfo.endCursor ?? undefined })}>
          Next →
        </button>
      </div>
    </>
  );
}
