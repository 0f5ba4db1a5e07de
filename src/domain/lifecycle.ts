/**
 * Lifecycle rules (SPEC.md section 3): one transition function per operation. Each takes the
 * workload's current state and returns either the next state with the effects the controller
 * must carry out, or a typed refusal a user can act on. Idempotent repeats succeed as no-ops that
 * say so. Nothing here performs the effects: the controller does, the store persists `next`.
 */
import type { DesiredState, ProtonStatus, WorkloadStatus } from './model.js';
import type { ArtifactStatus } from './model.js';
import type { DeadlineCheck, TransitionalState } from './deadlines.js';
import {
  checkDeadline,
  checkReplacementDeadline,
  formatDuration,
  isTransitionalState,
} from './deadlines.js';
import type { LifecyclePolicy } from './policy.js';
import type { ProtonStatusReport } from './proton-status.js';
import { REASONS } from './reasons.js';
import type { Refusal } from './refusal.js';
import { refuse } from './refusal.js';
import type { ReplicaContext } from './replica-state.js';
import type { ReplacementEffect, ReplacementState } from './replacement.js';
import {
  advanceReplacement,
  cancelReplacementStep,
  failReplacement,
  inProgressStep,
  isBeforeSwitch,
  isReplacementInProgress,
  replacementEffects,
  startReplacement,
} from './replacement.js';
import { draftExpiresAt, remainingTtlMs } from './ttl.js';
import type { EndOfLife, StickyError } from './workload-status.js';
import { deriveWorkloadStatus } from './workload-status.js';

/** The artifact a workload runs, as far as lifecycle rules care. */
export interface ArtifactRef {
  readonly id: string;
  readonly status: ArtifactStatus;
}

/** One proton of the workload, as far as lifecycle rules care. */
export interface ProtonState {
  /** The proton's identity, once the controller created it (see proton-identity.ts). */
  readonly protonId?: string;
  readonly artifactId: string;
  readonly status: ProtonStatus;
}

/** Everything the lifecycle rules need to know about a workload: a plain, storable value. */
export interface WorkloadState {
  /** The derived, user-facing status. */
  readonly status: WorkloadStatus;
  /** When `status` was entered; deadlines count from here. */
  readonly statusEnteredAt: Date;
  readonly desiredState: DesiredState;
  readonly artifact: ArtifactRef;
  /** The proton that serves traffic. */
  readonly active?: ProtonState;
  /** A replacement's new proton, before the switch. */
  readonly candidate?: ProtonState;
  /** A replacement's old proton, after the switch, kept for rollback until removed. */
  readonly oldActive?: ProtonState;
  /** The current or most recent replacement. */
  readonly replacement?: ReplacementState;
  /** Protons that left their slot and are being removed from the runtime (forgotten once gone). */
  readonly retiring?: readonly string[];
  /** The active proton is being updated or restarted in place (its not-ready replicas are `initializing`). */
  readonly updatingInPlace?: boolean;
  /** Draft TTL; absent for workloads on locked artifacts. */
  readonly expiresAt?: Date;
  /** Set once the workload reached its end of life (TTL expiry, deletion by policy). */
  readonly endOfLife?: EndOfLife;
  /** A failed operation's error, kept until the next operation or until all replicas are ready. */
  readonly stickyError?: StickyError;
}

/** What the controller must do after a transition; every effect is idempotent. */
export type LifecycleEffect =
  | { readonly type: 'startActiveProton'; readonly artifactId: string }
  | { readonly type: 'restartActiveProton' }
  | { readonly type: 'updateActiveProtonInPlace' }
  | { readonly type: 'stopProtons' }
  | { readonly type: 'removeRouting' }
  | { readonly type: 'lockArtifact'; readonly artifactId: string }
  | ReplacementEffect;

/** An accepted operation: the next state, the effects to carry out, and a message for the event log. */
export interface Transition {
  readonly ok: true;
  /** The operation changed nothing (an idempotent repeat); `message` says why. */
  readonly noop: boolean;
  readonly message: string;
  readonly next: WorkloadState;
  readonly effects: readonly LifecycleEffect[];
}

/** The outcome of a lifecycle operation. */
export type TransitionResult = Transition | Refusal;

/** The clock and the configured policy (draft lifetime, deadlines) an operation runs with. */
export interface OperationContext extends LifecyclePolicy {
  readonly now: Date;
}

/** Creates a workload on an artifact: submitted, desired running, with a TTL if the artifact is a draft. */
export function createWorkload(input: { readonly artifact: ArtifactRef }, ctx: OperationContext): Transition {
  const { artifact } = input;
  const expiresAt = draftExpiresAt(artifact.status, ctx.now, ctx.draftTtlMs);
  return accepted(
    `workload created on ${artifact.status} artifact ${artifact.id}`,
    {
      status: 'submitted',
      statusEnteredAt: ctx.now,
      desiredState: 'running',
      artifact,
      active: { artifactId: artifact.id, status: 'submitted' },
      ...(expiresAt && { expiresAt }),
    },
    [{ type: 'startActiveProton', artifactId: artifact.id }],
  );
}

/** Starts a stopped workload (resetting a draft's TTL); a no-op when already started, refused while stopping. */
export function startWorkload(state: WorkloadState, ctx: OperationContext): TransitionResult {
  const gone = refuseIfGone('start', state);
  if (gone) return gone;
  if (state.desiredState === 'running') {
    const hint = state.status === 'errored' ? '; restart it to recover from errored' : '';
    return noop(`workload is already started (${state.status})${hint}`, state);
  }
  if (state.status !== 'stopped' && state.status !== 'suspended') {
    return refuse('WorkloadStopping', `cannot start: workload is ${state.status}; wait until it is stopped`);
  }
  const expiresAt = draftExpiresAt(state.artifact.status, ctx.now, ctx.draftTtlMs);
  return accepted(
    expiresAt ? `workload started; expires at ${expiresAt.toISOString()}` : 'workload started',
    {
      ...withoutOperationState(state),
      status: 'submitted',
      statusEnteredAt: ctx.now,
      desiredState: 'running',
      active: { ...state.active, artifactId: state.artifact.id, status: 'submitted' },
      ...(expiresAt && { expiresAt }),
    },
    [{ type: 'startActiveProton', artifactId: state.artifact.id }],
  );
}

/** Stops a workload (identity, endpoint, sharing and history kept); a no-op when already stopped or stopping. */
export function stopWorkload(state: WorkloadState, ctx: OperationContext): TransitionResult {
  // Deletion is the newest fact about a workload, so it is checked before its end of life.
  if (state.desiredState === 'deleted') {
    return refuse('WorkloadDeleting', 'cannot stop: workload is being deleted');
  }
  if (state.endOfLife) return noop('workload is terminated; there is nothing to stop', state);
  if (state.desiredState === 'stopped' && (state.status === 'stopped' || state.status === 'stopping')) {
    return noop(`workload is already ${state.status}`, state);
  }
  if (state.replacement?.status === 'switching') {
    return refuse(
      'ReplacementInProgress',
      'cannot stop: traffic is switching to the new proton; retry in a moment',
    );
  }
  const { replacement, effects } = supersedeReplacement(state, ctx.now, 'stop');
  return accepted(
    replacement !== state.replacement ? `workload stopping; ${describeSuperseded(replacement)}` : 'workload stopping',
    {
      ...endedReplacement(withoutOperationState(state), replacement),
      status: 'stopping',
      statusEnteredAt: ctx.now,
      desiredState: 'stopped',
    },
    [{ type: 'stopProtons' }, ...effects],
  );
}

/** Restarts the active proton in place and resets a draft's TTL; refused for stopped, terminated or replacing workloads. */
export function restartWorkload(state: WorkloadState, ctx: OperationContext): TransitionResult {
  const blocked = refuseUnlessStarted('restart', state);
  if (blocked) return blocked;
  const expiresAt = draftExpiresAt(state.artifact.status, ctx.now, ctx.draftTtlMs);
  return accepted(
    expiresAt ? `workload restarting; expires at ${expiresAt.toISOString()}` : 'workload restarting',
    {
      ...withoutOperationState(state),
      status: 'launching',
      statusEnteredAt: ctx.now,
      active: { ...state.active, artifactId: state.artifact.id, status: 'initializing' },
      updatingInPlace: true,
      ...(expiresAt && { expiresAt }),
    },
    [{ type: 'restartActiveProton' }],
  );
}

/** Applies a runtime change in place (running -> initializing -> running); on a stopped workload it applies at the next start. */
export function updateWorkload(state: WorkloadState, ctx: OperationContext): TransitionResult {
  const gone = refuseIfGone('update', state);
  if (gone) return gone;
  if (state.desiredState === 'stopped') {
    if (state.status === 'stopping') {
      return refuse('WorkloadStopping', 'cannot update: workload is stopping; wait until it is stopped');
    }
    return accepted('runtime updated; it applies at the next start', withoutOperationState(state), []);
  }
  const blocked = refuseUnlessStarted('update', state);
  if (blocked) return blocked;
  return accepted(
    'runtime update rolling out in place',
    {
      ...withoutOperationState(state),
      status: 'launching',
      statusEnteredAt: ctx.now,
      active: { ...state.active, artifactId: state.artifact.id, status: 'initializing' },
      updatingInPlace: true,
    },
    [{ type: 'updateActiveProtonInPlace' }],
  );
}

/** Options of a replace. */
export interface ReplaceInput {
  readonly artifact: ArtifactRef;
  readonly warmupSeconds?: number;
  readonly keepOldVersionSeconds?: number;
}

/** Starts a blue/green replacement onto another artifact: draft->draft or locked->locked, one at a time. */
export function replaceWorkload(state: WorkloadState, input: ReplaceInput, ctx: OperationContext): TransitionResult {
  const gone = refuseIfGone('replace', state);
  if (gone) return gone;
  if (isReplacementInProgress(state.replacement)) {
    return refuse(
      'ReplacementInProgress',
      `cannot replace: a replacement is already in progress (${state.replacement.status}); wait for it or cancel it`,
    );
  }
  const from = state.artifact;
  const to = input.artifact;
  if (from.status === 'draft' && to.status === 'locked') {
    return refuse(
      'ArtifactStatusMismatch',
      'cannot replace a draft artifact with a locked one: promote the workload instead',
    );
  }
  if (from.status === 'locked' && to.status === 'draft') {
    return refuse('ArtifactStatusMismatch', 'cannot replace a locked artifact with a draft one');
  }
  if (from.status === 'locked' && from.id === to.id) {
    return refuse('SameLockedArtifact', `cannot replace: locked artifact ${to.id} cannot replace itself`);
  }
  if (state.desiredState === 'stopped') {
    return state.status === 'stopped' || state.status === 'suspended'
      ? refuse('WorkloadStopped', `cannot replace: workload is ${state.status}; start it first`)
      : refuse('WorkloadStopping', `cannot replace: workload is ${state.status}`);
  }
  // Our rule: an errored workload may be replaced; that is how a broken draft is fixed.
  if (!state.active || (state.status !== 'running' && state.status !== 'errored')) {
    return refuse(
      'WorkloadNotRunning',
      `cannot replace: workload is ${state.status}; wait until it is running`,
    );
  }
  const replacement = startReplacement({
    fromArtifactId: from.id,
    toArtifactId: to.id,
    ...(input.warmupSeconds !== undefined && { warmupSeconds: input.warmupSeconds }),
    ...(input.keepOldVersionSeconds !== undefined && { keepOldVersionSeconds: input.keepOldVersionSeconds }),
    now: ctx.now,
  });
  return accepted(
    `replacement onto artifact ${to.id} submitted`,
    { ...withoutOperationState(state), replacement },
    replacementEffects(replacement, ctx.now),
  );
}

/** Cancels the replacement in progress before its traffic switch; the active proton keeps serving. */
export function cancelReplacement(state: WorkloadState, ctx: OperationContext): TransitionResult {
  const result = cancelReplacementStep(state.replacement, ctx.now);
  if (!result.ok) return result;
  return accepted(
    'replacement cancelled; the active proton keeps serving',
    withoutCandidate({ ...state, replacement: result.replacement }),
    replacementEffects(result.replacement, ctx.now),
  );
}

/** Promotes a draft workload: locks its artifact and removes the TTL, restarting nothing. */
export function promoteWorkload(state: WorkloadState, _ctx: OperationContext): TransitionResult {
  const gone = refuseIfGone('promote', state);
  if (gone) return gone;
  if (state.artifact.status !== 'draft') {
    return refuse('ArtifactNotDraft', `cannot promote: artifact ${state.artifact.id} is already locked`);
  }
  if (isReplacementInProgress(state.replacement)) {
    return refuse(
      'ReplacementInProgress',
      `cannot promote: a replacement is in progress (${state.replacement.status}); wait for it or cancel it`,
    );
  }
  if (state.active?.status !== 'running') {
    return refuse(
      'NoRunningProton',
      `cannot promote: the active proton is not running (${state.active?.status ?? 'none'})`,
    );
  }
  const { expiresAt: _expiresAt, ...rest } = state;
  return accepted(
    `workload promoted: artifact ${state.artifact.id} locked, TTL removed`,
    { ...rest, artifact: { ...state.artifact, status: 'locked' } },
    [{ type: 'lockArtifact', artifactId: state.artifact.id }],
  );
}

/** Deletes a workload: stops its protons and removes its routing (the artifact stays); a no-op when already deleting. */
export function deleteWorkload(state: WorkloadState, ctx: OperationContext): TransitionResult {
  if (state.desiredState === 'deleted') return noop('workload is already being deleted', state);
  const { replacement, effects } = supersedeReplacement(state, ctx.now, 'delete');
  const tornDown = state.endOfLife !== undefined;
  return accepted(
    'workload deleting',
    {
      ...endedReplacement(withoutOperationState(state), replacement),
      // A terminated workload keeps showing its end of life while its record goes away.
      status: tornDown ? state.status : 'stopping',
      statusEnteredAt: tornDown ? state.statusEnteredAt : ctx.now,
      desiredState: 'deleted',
    },
    [{ type: 'stopProtons' }, { type: 'removeRouting' }, ...effects],
  );
}

/** Terminates a draft workload whose TTL has passed (end of life); a no-op before that or without a TTL. */
export function expireTtl(state: WorkloadState, ctx: OperationContext): TransitionResult {
  if (state.desiredState === 'deleted') return noop('workload is being deleted', state);
  if (state.endOfLife) return noop('workload is already terminated', state);
  const remaining = remainingTtlMs(state.expiresAt, ctx.now);
  if (remaining === undefined || state.expiresAt === undefined) {
    return noop('workload has no TTL (its artifact is locked)', state);
  }
  if (remaining > 0) return noop(`TTL not reached: expires in ${formatDuration(remaining)}`, state);
  const message = `draft TTL expired at ${state.expiresAt.toISOString()}`;
  const { replacement, effects } = supersedeReplacement(state, ctx.now, 'TTL expiry');
  return accepted(
    `workload terminated: ${message}`,
    {
      ...endedReplacement(withoutOperationState(state), replacement),
      status: 'terminated',
      statusEnteredAt: ctx.now,
      desiredState: 'stopped',
      endOfLife: { reason: REASONS.TTLExpired, message },
    },
    [{ type: 'stopProtons' }, ...effects],
  );
}

/**
 * Fails whatever outlived its deadline: a replacement step (the replacement errors, the workload
 * stays on its active proton) and/or the workload's transitional status (the workload errors).
 */
export function expireDeadline(state: WorkloadState, ctx: OperationContext): TransitionResult {
  const { deadlines } = ctx;
  const messages: string[] = [];
  let next: WorkloadState = state;
  const effects: LifecycleEffect[] = [];

  const r = state.replacement;
  const step = r && inProgressStep(r);
  if (r && step) {
    const check = checkReplacementDeadline(step, r.stepEnteredAt, ctx.now, r, deadlines);
    if (check.exceeded) {
      const failed = failReplacement(r, ctx.now, check.reason, check.message);
      messages.push(`replacement errored: ${check.message}`);
      next = endedReplacement(next, failed);
      effects.push(...replacementEffects(failed, ctx.now));
    }
  }

  const key = deadlineKey(state);
  if (key !== undefined && !state.endOfLife) {
    const check: DeadlineCheck = checkDeadline(key, state.statusEnteredAt, ctx.now, deadlines);
    if (check.exceeded) {
      messages.push(`workload errored: ${check.message}`);
      next = {
        ...next,
        status: 'errored',
        statusEnteredAt: ctx.now,
        stickyError: { reason: check.reason, message: check.message },
      };
    }
  }

  if (messages.length === 0) return noop('no deadline has passed', state);
  return accepted(`${REASONS.ProgressDeadlineExceeded}: ${messages.join('; ')}`, next, effects);
}

/**
 * Fails the replacement in progress because its next step was refused (the database kept a rule
 * across objects, e.g. the target draft is taken): a typed reason and an event at once, instead of
 * retrying a write that cannot succeed. The workload stays on its active proton.
 */
export function refuseReplacementStep(state: WorkloadState, ctx: OperationContext, message: string): TransitionResult {
  const r = state.replacement;
  if (!isReplacementInProgress(r)) return noop('no replacement is in progress', state);
  const failed = failReplacement(r, ctx.now, REASONS.StepRefused, message);
  return accepted(`replacement errored: ${message}`, endedReplacement(state, failed), replacementEffects(failed, ctx.now));
}

/** What the controller saw of the workload's protons since the last observation. */
export interface WorkloadObservation {
  /** Report of the proton that was active before this observation. */
  readonly active?: ProtonStatusReport;
  /** Report of the replacement's candidate proton, once it exists. */
  readonly candidate?: ProtonStatusReport;
  /** The router now sends all traffic to the candidate. */
  readonly trafficSwitched?: boolean;
  /** The old active proton of a replacement is gone. */
  readonly oldActiveRemoved?: boolean;
}

/** The state after an observation, the effects it calls for, and what to record in the event log. */
export interface ObservationOutcome {
  readonly next: WorkloadState;
  readonly effects: readonly LifecycleEffect[];
  readonly events: readonly string[];
}

/** Folds an observation into the workload state: advances the replacement, swaps protons at the switch, re-derives the status. */
export function observeWorkload(
  state: WorkloadState,
  obs: WorkloadObservation,
  ctx: OperationContext,
): ObservationOutcome {
  const events: string[] = [];
  let next: WorkloadState = state;
  let activeReport = obs.active;

  const r = state.replacement;
  if (isReplacementInProgress(r)) {
    const advanced = advanceReplacement(r, {
      now: ctx.now,
      ...(obs.candidate && { candidate: obs.candidate.status }),
      ...(obs.trafficSwitched !== undefined && { trafficSwitched: obs.trafficSwitched }),
      ...(obs.oldActiveRemoved !== undefined && { oldActiveRemoved: obs.oldActiveRemoved }),
    });
    if (advanced !== r) {
      events.push(`replacement ${r.status} -> ${advanced.status}${advanced.message ? `: ${advanced.message}` : ''}`);
    }
    const candidate = obs.candidate
      ? { ...state.candidate, artifactId: r.toArtifactId, status: obs.candidate.status }
      : state.candidate;
    next = { ...next, replacement: advanced, ...(candidate && { candidate }) };
    if (advanced.status === 'draining' && r.status !== 'draining' && candidate && state.active) {
      // The switch: the candidate serves now; the old active drains beside it. Replace rules
      // keep the artifact status (draft->draft, locked->locked), so only the id changes.
      next = {
        ...withoutCandidate(next),
        active: candidate,
        oldActive: { ...state.active, status: 'draining' },
        artifact: { ...state.artifact, id: r.toArtifactId },
      };
      activeReport = obs.candidate;
    } else {
      next = endedReplacement(next, advanced);
    }
    if (advanced.status === 'completed') {
      const { oldActive: _o, ...rest } = next;
      next = rest;
    }
  }

  if (activeReport && next.active) next = { ...next, active: { ...next.active, status: activeReport.status } };
  if (next.active?.status === 'running' && next.updatingInPlace) {
    const { updatingInPlace: _u, ...rest } = next;
    next = rest;
  }

  // Without news of the active proton there is nothing to re-derive the status from.
  if (!activeReport && next.active && !next.endOfLife) {
    return { next, effects: observationEffects(state, next, ctx.now), events };
  }

  const derived = deriveWorkloadStatus({
    ...(activeReport && { active: activeReport }),
    ...(next.endOfLife && { endOfLife: next.endOfLife }),
    ...(next.stickyError && { stickyError: next.stickyError }),
  });
  const { stickyError: _s, ...withoutSticky } = next;
  next = { ...withoutSticky, ...(derived.stickyError && { stickyError: derived.stickyError }) };
  if (derived.errorCleared) events.push(`errored cleared: ${derived.summary}`);
  if (derived.status !== state.status) {
    events.push(`status ${state.status} -> ${derived.status}: ${derived.summary}`);
    next = { ...next, status: derived.status, statusEnteredAt: ctx.now };
  }

  return { next, effects: observationEffects(state, next, ctx.now), events };
}

/** The replica context for pods of the workload's active, candidate or old active proton. */
export function replicaContextFor(
  state: WorkloadState,
  proton: 'active' | 'candidate' | 'oldActive',
): ReplicaContext {
  switch (proton) {
    case 'active':
      return state.updatingInPlace ? { updatingInPlace: true } : {};
    case 'candidate':
      return state.replacement?.status === 'warming' ? { warmingUp: true } : {};
    case 'oldActive':
      return { draining: true };
  }
}

function deadlineKey(state: WorkloadState): TransitionalState | undefined {
  if (state.status === 'launching' && state.active?.status === 'initializing') return 'initializing';
  return isTransitionalState(state.status) ? state.status : undefined;
}

function refuseIfGone(op: string, state: WorkloadState): Refusal | undefined {
  if (state.desiredState === 'deleted') return refuse('WorkloadDeleting', `cannot ${op}: workload is being deleted`);
  if (state.endOfLife) {
    return refuse('WorkloadTerminated', `cannot ${op}: workload is terminated (end of life); create a new one`);
  }
  return undefined;
}

function refuseUnlessStarted(op: string, state: WorkloadState): Refusal | undefined {
  const gone = refuseIfGone(op, state);
  if (gone) return gone;
  if (state.desiredState === 'stopped') {
    return state.status === 'stopping'
      ? refuse('WorkloadStopping', `cannot ${op}: workload is stopping`)
      : refuse('WorkloadStopped', `cannot ${op}: workload is ${state.status}; start it instead`);
  }
  if (isReplacementInProgress(state.replacement)) {
    return refuse(
      'ReplacementInProgress',
      `cannot ${op}: a replacement is in progress (${state.replacement.status}); wait for it or cancel it`,
    );
  }
  return undefined;
}

/** Ends a replacement that a stop, delete or TTL expiry overtakes. */
function supersedeReplacement(
  state: WorkloadState,
  now: Date,
  by: string,
): { replacement: ReplacementState | undefined; effects: readonly ReplacementEffect[] } {
  const r = state.replacement;
  if (!isReplacementInProgress(r)) return { replacement: r, effects: [] };
  const message = `superseded by ${by}`;
  const ended: ReplacementState = isBeforeSwitch(r)
    ? { ...r, status: 'cancelled', stepEnteredAt: now, reason: REASONS.ReplacementSuperseded, message }
    : r.status === 'draining'
      ? { ...r, status: 'completed', stepEnteredAt: now, reason: REASONS.ReplacementSuperseded, message }
      : failReplacement(r, now, REASONS.ReplacementSuperseded, message);
  return { replacement: ended, effects: replacementEffects(ended, now) };
}

/** Stores a replacement's new state, dropping the candidate if it ended without a switch. */
function endedReplacement(state: WorkloadState, replacement: ReplacementState | undefined): WorkloadState {
  if (replacement === undefined) return state;
  const next = { ...state, replacement };
  return replacement.status === 'cancelled' || replacement.status === 'errored' ? withoutCandidate(next) : next;
}

function observationEffects(before: WorkloadState, after: WorkloadState, now: Date): readonly LifecycleEffect[] {
  // While under way, the step's effects every time (level-triggered); once ended, only on the
  // observation that ended it (`replacementEffects` on the stored state resumes after a crash).
  const r = after.replacement;
  if (!r) return [];
  const endedNow = r !== before.replacement && !isReplacementInProgress(r);
  return isReplacementInProgress(r) || endedNow ? replacementEffects(r, now) : [];
}

function describeSuperseded(r: ReplacementState | undefined): string {
  return r ? `replacement ${r.status} (${r.message ?? 'superseded'})` : '';
}

function withoutCandidate(state: WorkloadState): WorkloadState {
  const { candidate: _c, ...rest } = state;
  return rest;
}

function withoutOperationState(state: WorkloadState): WorkloadState {
  // A new operation ends the previous one's sticky error and in-place flag (SPEC: "until the next operation").
  const { stickyError: _s, updatingInPlace: _u, ...rest } = state;
  return rest;
}

function accepted(message: string, next: WorkloadState, effects: readonly LifecycleEffect[]): Transition {
  return { ok: true, noop: false, message, next, effects };
}

function noop(message: string, state: WorkloadState): Transition {
  return { ok: true, noop: true, message, next: state, effects: [] };
}
