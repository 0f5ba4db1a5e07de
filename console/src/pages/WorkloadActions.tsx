import { useEffect, useState } from 'react';
import type { TypedDocumentNode } from '@urql/core';
import { ApiError } from '../api';
import { RefusalView, roleRefusal, Section } from '../components';
import {
  ConsoleArtifactsDocument,
  ConsoleCancelReplacementDocument,
  ConsoleDeleteWorkloadDocument,
  ConsolePromoteWorkloadDocument,
  ConsoleReplaceWorkloadArtifactDocument,
  ConsoleRestartWorkloadDocument,
  ConsoleStartWorkloadDocument,
  ConsoleStopWorkloadDocument,
  ConsoleUpdateWorkloadDocument,
  ConsoleUpdateWorkloadRuntimeDocument,
  type ArtifactRowFragment,
  type Importance,
  type RefusalFragment,
  type WorkloadDetailFragment,
} from '../gql/graphql';
import { navigate, useApi } from '../hooks';

type Refusal = RefusalFragment | { __typename: 'TransportError'; code?: string; message: string };
type Result = { __typename: string } & Partial<RefusalFragment> & { workload?: WorkloadDetailFragment | null; message?: string };

/** Runs a mutation and sorts its answer into the new workload or a typed refusal. */
function useAction(onChanged: (w: WorkloadDetailFragment) => void) {
  const api = useApi();
  const [refusals, setRefusals] = useState<Record<string, Refusal | null>>({});
  const [busy, setBusy] = useState<string | null>(null);
  const run = async <V extends Record<string, unknown>>(key: string, doc: TypedDocumentNode<Record<string, Result>, V>, variables: V): Promise<Result | null> => {
    setBusy(key);
    setRefusals((r) => ({ ...r, [key]: null }));
    try {
      const data = await api.mutate(doc, variables);
      const result = Object.values(data)[0]!;
      if ('code' in result && result.code) {
        setRefusals((r) => ({ ...r, [key]: result as RefusalFragment }));
        return null;
      }
      if (result.workload) onChanged(result.workload);
      return result;
    } catch (e) {
      setRefusals((r) => ({ ...r, [key]: { __typename: 'TransportError', code: e instanceof ApiError ? e.code : undefined, message: e instanceof Error ? e.message : String(e) } }));
      return null;
    } finally {
      setBusy(null);
    }
  };
  return { run, refusals, busy };
}

const IMPORTANCE: Importance[] = ['LOW', 'MODERATE', 'HIGH', 'CRITICAL'];

export function WorkloadActions({ workload: w, onChanged }: { workload: WorkloadDetailFragment; onChanged: (w: WorkloadDetailFragment) => void }) {
  const api = useApi();
  const { run, refusals, busy } = useAction(onChanged);
  const editorRefusal = roleRefusal(w.viewerRole, 'EDITOR');
  const ownerRefusal = roleRefusal(w.viewerRole, 'OWNER');
  const [replicas, setReplicas] = useState(w.runtime.replicaCount);
  const [importance, setImportance] = useState<Importance>(w.importance);
  const [artifacts, setArtifacts] = useState<ArtifactRowFragment[]>([]);
  const [target, setTarget] = useState('');
  const [warmup, setWarmup] = useState(0);
  const [keepOld, setKeepOld] = useState(0);

  useEffect(() => {
    void api
      .query(ConsoleArtifactsDocument, { first: 30 })
      .then((d) => setArtifacts(d.artifacts.edges.map((e) => e.node)))
      .catch(() => setArtifacts([]));
  }, [api]);

  const button = (key: string, label: string, doc: TypedDocumentNode<never, { id: string }>, reason: string | null) => (
    <div className="action" key={key}>
      <button type="button" data-action={key} disabled={Boolean(reason) || busy !== null} title={reason ?? undefined} onClick={() => void run(key, doc as never, { id: w.id })}>
        {label}
      </button>
      {reason && <span className="hint disabled-reason">{reason}</span>}
      <RefusalView refusal={refusals[key] ?? null} />
    </div>
  );

  return (
    <Section title="Actions">
      <div className="row wrap actions">
        {button('start', 'Start', ConsoleStartWorkloadDocument as never, editorRefusal)}
        {button('stop', 'Stop', ConsoleStopWorkloadDocument as never, editorRefusal)}
        {button('restart', 'Restart', ConsoleRestartWorkloadDocument as never, editorRefusal)}
        {button('promote', 'Promote', ConsolePromoteWorkloadDocument as never, editorRefusal ?? (w.artifact.status === 'LOCKED' ? 'the artifact is already locked' : null))}
        {button('cancel', 'Cancel replacement', ConsoleCancelReplacementDocument as never, editorRefusal)}
        <div className="action">
          <button
            type="button"
            data-action="delete"
            className="danger"
            disabled={Boolean(ownerRefusal) || busy !== null}
            title={ownerRefusal ?? undefined}
            onClick={() => {
              if (!confirm(`Delete workload ${w.name}?`)) return;
              void run('delete', ConsoleDeleteWorkloadDocument as never, { id: w.id }).then((r) => r && navigate());
            }}
          >
            Delete
          </button>
          {ownerRefusal && <span className="hint disabled-reason">{ownerRefusal}</span>}
          <RefusalView refusal={refusals.delete ?? null} />
        </div>
      </div>
      <div className="row wrap forms">
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void run('runtime', ConsoleUpdateWorkloadRuntimeDocument as never, { input: { id: w.id, runtime: { replicaCount: replicas } } });
          }}
        >
          <label>
            Replicas <input aria-label="Replicas" type="number" min={0} value={replicas} onChange={(e) => setReplicas(Number(e.target.value))} />
          </label>
          <button type="submit" disabled={Boolean(editorRefusal) || busy !== null} title={editorRefusal ?? undefined}>
            Update runtime
          </button>
          <RefusalView refusal={refusals.runtime ?? null} />
        </form>
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void run('importance', ConsoleUpdateWorkloadDocument as never, { input: { id: w.id, importance } });
          }}
        >
          <label>
            Importance{' '}
            <select aria-label="Importance" value={importance} onChange={(e) => setImportance(e.target.value as Importance)}>
              {IMPORTANCE.map((i) => (
                <option key={i}>{i}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={Boolean(editorRefusal) || busy !== null} title={editorRefusal ?? undefined}>
            Update importance
          </button>
          <RefusalView refusal={refusals.importance ?? null} />
        </form>
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void run('replace', ConsoleReplaceWorkloadArtifactDocument as never, {
              input: { id: w.id, artifactId: target, warmupSeconds: warmup, keepOldVersionSeconds: keepOld },
            });
          }}
        >
          <label>
            Replace with{' '}
            <select aria-label="Replacement artifact" value={target} onChange={(e) => setTarget(e.target.value)}>
              <option value="">choose an artifact…</option>
              {artifacts
                .filter((a) => a.id !== w.artifact.id)
                .map((a) => (
                  <option key={a.id} value={a.id}>
                    {a.name} {a.status === 'LOCKED' ? `v${a.version}` : '(draft)'} · {a.spec.containerGroups[0]?.containers[0]?.imageUri}
                  </option>
                ))}
            </select>
          </label>
          <label>
            Warm-up s <input aria-label="Warm-up seconds" type="number" min={0} value={warmup} onChange={(e) => setWarmup(Number(e.target.value))} />
          </label>
          <label>
            Keep old s <input aria-label="Keep old seconds" type="number" min={0} value={keepOld} onChange={(e) => setKeepOld(Number(e.target.value))} />
          </label>
          <button type="submit" data-action="replace" disabled={Boolean(editorRefusal) || !target || busy !== null} title={editorRefusal ?? undefined}>
            Replace
          </button>
          <RefusalView refusal={refusals.replace ?? null} />
        </form>
      </div>
    </Section>
  );
}
