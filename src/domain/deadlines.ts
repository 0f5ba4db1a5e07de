/**
 * Every in-between state has a deadline (SPEC.md section 2, our rule): past it, the operation
 * fails with `ProgressDeadlineExceeded`. Durations are configuration, passed in; `now` is a
 * parameter, so this is arithmetic, not a timer.
 */
import type { ReplacementStatus } from './model.js';
import { REASONS } from './reasons.js';

/** Proton/workload states that are on their way somewhere and so have a deadline. */
export const TRANSITIONAL_STATES = [
  'submitted',
  'provisioning',
  'launching',
  'initializing',
  'stopping',
] as const;
export type TransitionalState = (typeof TRANSITIONAL_STATES)[number];

/** Replacement steps that have a deadline (all but the terminal ones). */
export const TRANSITIONAL_REPLACEMENT_STEPS = [
  'submitted',
  'initializing',
  'warming',
  'switching',
  'draining',
] as const satisfies readonly ReplacementStatus[];
export type TransitionalReplacementStep = (typeof TRANSITIONAL_REPLACEMENT_STEPS)[number];

/** Configured deadlines in milliseconds (configuration supplies them: `LifecyclePolicy`). */
export interface Deadlines {
  readonly states: Readonly<Record<TransitionalState, number>>;
  /**
   * Replacement steps. `warming` and `draining` wait on purpose (`warmupSeconds`,
   * `keepOldVersionSeconds`): their deadline counts from the end of that wait.
   */
  readonly replacement: Readonly<Record<TransitionalReplacementStep, number>>;
}

/** The outcome of a deadline check. */
export type DeadlineCheck =
  | { readonly exceeded: false; readonly remainingMs: number }
  | {
      readonly exceeded: true;
      readonly reason: typeof REASONS.ProgressDeadlineExceeded;
      readonly message: string;
      readonly overdueMs: number;
    };

/** Whether a transitional state entered at `enteredAt` has outlived its deadline at `now`. */
export function checkDeadline(
  state: TransitionalState,
  enteredAt: Date,
  now: Date,
  deadlines: Deadlines,
): DeadlineCheck {
  return check(state, deadlines.states[state], 0, enteredAt, now);
}

/** Whether a replacement step entered at `enteredAt` has outlived its deadline (plus its intended wait) at `now`. */
export function checkReplacementDeadline(
  step: TransitionalReplacementStep,
  enteredAt: Date,
  now: Date,
  waits: { readonly warmupSeconds: number; readonly keepOldVersionSeconds: number },
  deadlines: Deadlines,
): DeadlineCheck {
  const waitMs =
    step === 'warming'
      ? waits.warmupSeconds * 1000
      : step === 'draining'
        ? waits.keepOldVersionSeconds * 1000
        : 0;
  return check(`replacement ${step}`, deadlines.replacement[step], waitMs, enteredAt, now);
}

/** Whether a status is one that has a deadline. */
export function isTransitionalState(status: string): status is TransitionalState {
  return (TRANSITIONAL_STATES as readonly string[]).includes(status);
}

/** Formats a duration the way Kubernetes prints them (`1h2m3s`, `10m0s`, `45s`). */
export function formatDuration(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function check(label: string, deadlineMs: number, waitMs: number, enteredAt: Date, now: Date): DeadlineCheck {
  const elapsed = now.getTime() - enteredAt.getTime();
  const allowed = deadlineMs + waitMs;
  if (elapsed < allowed) return { exceeded: false, remainingMs: allowed - elapsed };
  return {
    exceeded: true,
    reason: REASONS.ProgressDeadlineExceeded,
    message: `${label} for ${formatDuration(elapsed)}, past its deadline of ${formatDuration(allowed)}`,
    overdueMs: elapsed - allowed,
  };
}
