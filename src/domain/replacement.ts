/**
 * The replacement state machine (SPEC.md section 3, rule 7): a candidate proton comes up beside
 * the active one, warms up, traffic switches atomically, the old proton drains and is kept for
 * rollback, then removed.
 *
 *   submitted -> initializing -> warming -> switching -> draining -> completed
 *        \______________\___________\-> cancelled (by the user, before the switch)
 *        \______________\___________\___________\__________\-> errored
 *
 * The machine is level-triggered, like a Kubernetes reconciler: `replacementEffects` returns
 * the idempotent effects the current step needs, every time it is asked, so a controller that
 * crashed at any step resumes by reading the stored state and asking again.
 */
import type { TransitionalReplacementStep } from './deadlines.js';
import { TRANSITIONAL_REPLACEMENT_STEPS } from './deadlines.js';
import type { ProtonStatus, ReplacementStatus } from './model.js';
import { REASONS } from './reasons.js';
import type { Refusal } from './refusal.js';
import { refuse } from './refusal.js';

/** Default wait between the candidate being ready and the traffic switch. */
export const DEFAULT_WARMUP_SECONDS = 0;
/** Default time the old proton is kept after the switch, for rollback. */
export const DEFAULT_KEEP_OLD_VERSION_SECONDS = 0;

/** One replacement's stored state. */
export interface ReplacementState {
  readonly status: ReplacementStatus;
  readonly fromArtifactId: string;
  readonly toArtifactId: string;
  readonly warmupSeconds: number;
  readonly keepOldVersionSeconds: number;
  /** When the current step began; waits and deadlines count from here. */
  readonly stepEnteredAt: Date;
  /** For `errored`: the step it failed in (decides what has to be undone). */
  readonly failedStep?: ReplacementStatus;
  readonly reason?: string;
  readonly message?: string;
}

/** What the controller must do for a replacement step; each effect is idempotent. */
export type ReplacementEffect =
  | { readonly type: 'createCandidate'; readonly artifactId: string }
  | { readonly type: 'switchTraffic'; readonly to: 'candidate' | 'active' }
  | { readonly type: 'removeCandidate' }
  | { readonly type: 'removeOldActive' };

/** What the controller saw since the last step. */
export interface ReplacementObservation {
  readonly now: Date;
  /** The candidate proton's status; absent until the candidate proton exists. */
  readonly candidate?: ProtonStatus;
  /** The router sends all traffic to the candidate. */
  readonly trafficSwitched?: boolean;
  /** The old active proton is gone. */
  readonly oldActiveRemoved?: boolean;
}

const IN_PROGRESS: ReadonlySet<ReplacementStatus> = new Set(TRANSITIONAL_REPLACEMENT_STEPS);
const BEFORE_SWITCH: ReadonlySet<ReplacementStatus> = new Set(['submitted', 'initializing', 'warming']);
const CANDIDATE_FAILED: ReadonlySet<ProtonStatus> = new Set(['errored', 'interrupted', 'terminated']);
const CANDIDATE_READY: ReadonlySet<ProtonStatus> = new Set(['running', 'warming']);

/** Whether a replacement is still under way (not completed, cancelled or errored). */
export function isReplacementInProgress(r: ReplacementState | undefined): r is ReplacementState {
  return r !== undefined && IN_PROGRESS.has(r.status);
}

/** The replacement's step if it is still under way, else undefined. */
export function inProgressStep(r: ReplacementState): TransitionalReplacementStep | undefined {
  return TRANSITIONAL_REPLACEMENT_STEPS.find((s) => s === r.status);
}

/** Whether traffic has not switched yet, so the replacement can still be cancelled. */
export function isBeforeSwitch(r: ReplacementState): boolean {
  return BEFORE_SWITCH.has(r.status);
}

/** Starts a replacement in `submitted`. */
export function startReplacement(input: {
  readonly fromArtifactId: string;
  readonly toArtifactId: string;
  readonly warmupSeconds?: number;
  readonly keepOldVersionSeconds?: number;
  readonly now: Date;
}): ReplacementState {
  return {
    status: 'submitted',
    fromArtifactId: input.fromArtifactId,
    toArtifactId: input.toArtifactId,
    warmupSeconds: input.warmupSeconds ?? DEFAULT_WARMUP_SECONDS,
    keepOldVersionSeconds: input.keepOldVersionSeconds ?? DEFAULT_KEEP_OLD_VERSION_SECONDS,
    stepEnteredAt: input.now,
  };
}

/** Moves a replacement as far as the observation allows (possibly several steps, e.g. with no warm-up). */
export function advanceReplacement(r: ReplacementState, obs: ReplacementObservation): ReplacementState {
  let current = r;
  // Each step either stays or moves strictly forward, so this ends within the number of steps.
  for (let i = 0; i < IN_PROGRESS.size + 1; i++) {
    const next = step(current, obs);
    if (next === current) return current;
    current = next;
  }
  return current;
}

/** The idempotent effects the replacement's current step needs at `now`. */
export function replacementEffects(r: ReplacementState, now: Date): readonly ReplacementEffect[] {
  switch (r.status) {
    case 'submitted':
      return [{ type: 'createCandidate', artifactId: r.toArtifactId }];
    case 'initializing':
    case 'warming':
    case 'completed':
      return [];
    case 'switching':
      return [{ type: 'switchTraffic', to: 'candidate' }];
    case 'draining':
      return keepOldElapsed(r, now) ? [{ type: 'removeOldActive' }] : [];
    case 'cancelled':
      return [{ type: 'removeCandidate' }];
    case 'errored':
      if (r.failedStep === 'draining') return [{ type: 'removeOldActive' }];
      if (r.failedStep === 'switching') {
        // The switch did not confirm in time: send traffic back to the proton known to serve.
        return [{ type: 'switchTraffic', to: 'active' }, { type: 'removeCandidate' }];
      }
      return [{ type: 'removeCandidate' }];
  }
}

/** Cancels a replacement before its traffic switch; refused once traffic has switched or when none is in progress. */
export function cancelReplacementStep(
  r: ReplacementState | undefined,
  now: Date,
  reason: string = REASONS.ReplacementCancelled,
  message = 'replacement cancelled before the traffic switch; the active proton keeps serving',
): { readonly ok: true; readonly replacement: ReplacementState } | Refusal {
  if (!isReplacementInProgress(r)) {
    return refuse('NoReplacementInProgress', 'cannot cancel: no replacement is in progress');
  }
  if (r.status === 'switching') {
    // The switch is one atomic step in flight: traffic may or may not have moved yet, so say so.
    return refuse('TrafficSwitching', 'cannot cancel: the replacement is switching traffic right now; wait for it to finish, then replace back if needed');
  }
  if (!isBeforeSwitch(r)) {
    return refuse(
      'TrafficAlreadySwitched',
      `cannot cancel: the replacement is ${r.status} and traffic has already switched to the new proton`,
    );
  }
  return { ok: true, replacement: { ...r, status: 'cancelled', stepEnteredAt: now, reason, message } };
}

/** Marks an in-progress replacement errored (candidate failure, missed deadline), remembering the failed step. */
export function failReplacement(
  r: ReplacementState,
  now: Date,
  reason: string,
  message: string,
): ReplacementState {
  if (!isReplacementInProgress(r)) return r;
  return { ...r, status: 'errored', failedStep: r.status, stepEnteredAt: now, reason, message };
}

function step(r: ReplacementState, obs: ReplacementObservation): ReplacementState {
  const { now, candidate } = obs;
  const to = (status: ReplacementStatus): ReplacementState => ({ ...r, status, stepEnteredAt: now });
  const candidateFailed = candidate !== undefined && CANDIDATE_FAILED.has(candidate);
  if (BEFORE_SWITCH.has(r.status) && candidateFailed) {
    return failReplacement(r, now, REASONS.CandidateFailed, `the candidate proton is ${candidate}`);
  }
  switch (r.status) {
    case 'submitted':
      return candidate === undefined ? r : to('initializing');
    case 'initializing':
      return candidate !== undefined && CANDIDATE_READY.has(candidate) ? to('warming') : r;
    case 'warming': {
      const warmedUp = now.getTime() - r.stepEnteredAt.getTime() >= r.warmupSeconds * 1000;
      // The switch needs a candidate that is ready right now, not only when warming began.
      return warmedUp && candidate !== undefined && CANDIDATE_READY.has(candidate) ? to('switching') : r;
    }
    case 'switching':
      return obs.trafficSwitched ? to('draining') : r;
    case 'draining':
      return keepOldElapsed(r, now) && obs.oldActiveRemoved ? to('completed') : r;
    case 'completed':
    case 'cancelled':
    case 'errored':
      return r;
  }
}

function keepOldElapsed(r: ReplacementState, now: Date): boolean {
  return now.getTime() - r.stepEnteredAt.getTime() >= r.keepOldVersionSeconds * 1000;
}
