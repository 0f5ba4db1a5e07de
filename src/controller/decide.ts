/**
 * Phase "decide" (pure): from the stored lifecycle and the observation, the next lifecycle state
 * and the typed events that record the way there; from a lifecycle state, the runtime it wants
 * (which protons run with how many replicas, which go, where the route points). The rules
 * themselves are the domain's (`observeWorkload`, `expireDeadline`, `expireTtl`); this file
 * only runs them in order and names what changed.
 */
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import { replacementStep, workloadStatusChanged, type RecordedEvent } from '../domain/events.js';
import { expireDeadline, expireTtl, observeWorkload, type OperationContext, type WorkloadState } from '../domain/lifecycle.js';
import type { Importance } from '../domain/model.js';
import { forgetRetired, retireDropped } from '../domain/proton-identity.js';
import type { ProtonStatusReport } from '../domain/proton-status.js';
import { isReplacementInProgress, replacementEffects } from '../domain/replacement.js';
import { REASONS } from '../domain/reasons.js';
import { collapseProtonStatus } from '../domain/workload-status.js';
import type { ProtonSpec } from '../runtime/proton-runtime.js';
import { protonSpecFromArtifact } from '../runtime/proton-spec.js';
import type { StoredLifecycle } from './lifecycle-store.js';
import type { Observation } from './observe.js';

/** The next stored lifecycle, the events on the way there, and whether deletion is complete. */
export interface Decision {
  readonly next: StoredLifecycle;
  readonly events: readonly RecordedEvent[];
  readonly finishedDeleting: boolean;
}

/** Folds an observation into the lifecycle, then fails what outlived its deadline or TTL. */
export function decideState(
  stored: StoredLifecycle,
  observation: Observation,
  ctx: OperationContext,
  protonExists: (protonId: string) => boolean,
): Decision {
  const before = stored.state;
  // A status is explained by the report of the proton active in the state that has it.
  const why = (s: WorkloadState) => explainStatus(s, s.active?.protonId ? observation.reports.get(s.active.protonId) : undefined);
  let next = retireDropped(before, observeWorkload(before, observation.workload, ctx).next);
  const events: RecordedEvent[] = [...transitionEvents(before, next, why(next))];
  for (const [expire, type, reason] of [
    [expireDeadline, 'deadlineExceeded', REASONS.ProgressDeadlineExceeded],
    [expireTtl, 'ttlExpired', REASONS.TTLExpired],
  ] as const) {
    const t = expire(next, ctx);
    if (!t.ok || t.noop) continue;
    const after = retireDropped(next, t.next);
    events.push({ data: { type, reason }, message: t.message }, ...transitionEvents(next, after, why(after)));
    next = after;
  }
  next = forgetRetired(next, protonExists);
  return {
    next: { ...stored, state: next },
    events,
    finishedDeleting: before.desiredState === 'deleted' && observation.runtimeEmpty,
  };
}

/** The events that name what changed between two states: replacement step, cleared error, status (explained by `why`). */
export function transitionEvents(
  before: WorkloadState,
  after: WorkloadState,
  why: { reason?: string; message?: string },
): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  const r = after.replacement;
  // A replacement entering `submitted` is a new one: its request is the operation's own event.
  if (r && before.replacement && before.replacement.status !== r.status && r.status !== 'submitted') {
    events.push(replacementStep(before.replacement.status, r.status, { ...(r.reason && { reason: r.reason }), ...(r.message && { message: r.message }) }));
  }
  if (before.stickyError && !after.stickyError && before.status === 'errored' && after.status !== 'errored') {
    events.push({ data: { type: 'errorCleared', reason: before.stickyError.reason }, message: `errored cleared: ${before.stickyError.reason}` });
  }
  if (before.status !== after.status) events.push(workloadStatusChanged(before.status, after.status, why));
  return events;
}

/** Why a workload shows its status: its end of life, its sticky error, or its active proton's reason. */
export function explainStatus(state: WorkloadState, active: ProtonStatusReport | undefined): { reason?: string; message?: string } {
  if (state.endOfLife) return { reason: state.endOfLife.reason, ...(state.endOfLife.message && { message: state.endOfLife.message }) };
  if (state.status === 'errored' && state.stickyError) return state.stickyError;
  if (active && collapseProtonStatus(active.status) === state.status) {
    return { ...(active.reason && { reason: active.reason }), ...(active.message && { message: active.message }) };
  }
  return {};
}

/** What a proton is made of, as its record holds it. */
export interface ProtonRecord {
  readonly id: string;
  readonly spec: ArtifactSpec;
  readonly runtime: WorkloadRuntime;
  readonly restartedAt?: Date;
}

/** One proton the runtime should hold; `onlyIfPresent` scales an existing one without creating it. */
export interface DesiredProton {
  readonly spec: ProtonSpec;
  readonly onlyIfPresent: boolean;
}

/** The runtime a lifecycle state wants. */
export interface DesiredRuntime {
  readonly protons: readonly DesiredProton[];
  /** Protons to delete (a missing one is fine). */
  readonly remove: readonly string[];
  /** Where the workload's route points, or that it goes. */
  readonly route: { readonly kind: 'point'; readonly protonId: string } | { readonly kind: 'delete' } | { readonly kind: 'none' };
}

/** The runtime wanted for a workload in this state (the active runs, a candidate beside it, what left its slot goes). */
export function desiredRuntime(
  workload: { readonly id: string; readonly importance: Importance },
  state: WorkloadState,
  records: ReadonlyMap<string, ProtonRecord>,
  now: Date,
): DesiredRuntime {
  const gone = state.desiredState === 'deleted' || state.endOfLife !== undefined;
  const effects = state.replacement ? replacementEffects(state.replacement, now) : [];
  const protons: DesiredProton[] = [];
  const remove: string[] = [];
  const want = (protonId: string | undefined, replicas: (r: ProtonRecord) => number, onlyIfPresent = false) => {
    const record = protonId ? records.get(protonId) : undefined;
    if (!record) return;
    const spec = protonSpecFromArtifact({
      workloadId: workload.id,
      protonId: record.id,
      artifact: record.spec,
      runtime: record.runtime,
      importance: workload.importance,
      replicas: replicas(record),
      ...(record.restartedAt && { restartedAt: record.restartedAt }),
    });
    protons.push({ spec, onlyIfPresent });
  };

  const activeId = state.active?.protonId;
  const candidateId = state.candidate?.protonId;
  const oldActiveId = state.oldActive?.protonId;
  if (gone) {
    if (activeId) remove.push(activeId);
  } else if (state.desiredState === 'stopped') want(activeId, () => 0, true);
  else want(activeId, (r) => r.runtime.replicaCount);

  if (candidateId) {
    if (!gone && isReplacementInProgress(state.replacement)) want(candidateId, (r) => r.runtime.replicaCount);
    else remove.push(candidateId);
  }
  // The old active drains until keep-old has passed (or the workload goes).
  if (oldActiveId && (gone || effects.some((e) => e.type === 'removeOldActive'))) remove.push(oldActiveId);
  remove.push(...(state.retiring ?? []));

  // The route: one atomic switch, and only once the candidate runs.
  let route: DesiredRuntime['route'] = { kind: 'none' };
  if (gone) route = { kind: 'delete' };
  else {
    const toCandidate = candidateId && effects.some((e) => e.type === 'switchTraffic' && e.to === 'candidate');
    const target = toCandidate ? candidateId : activeId;
    if (target) route = { kind: 'point', protonId: target };
  }
  return { protons, remove, route };
}
