/**
 * Typed refusals of lifecycle operations: an expected outcome, not an exception. `code` is the
 * stable error code clients switch on; `cause` says which rule refused; `reason` is a sentence a
 * user can act on ("cannot start: workload is stopping").
 */

/** The rule that refused an operation. */
export const REFUSAL_CAUSES = [
  'WorkloadTerminated',
  'WorkloadDeleting',
  'WorkloadStopping',
  'WorkloadStopped',
  'WorkloadNotRunning',
  'ReplacementInProgress',
  'NoReplacementInProgress',
  'TrafficAlreadySwitched',
  'TrafficSwitching',
  'ArtifactNotDraft',
  'NoRunningProton',
  'ArtifactStatusMismatch',
  'SameLockedArtifact',
] as const;
export type RefusalCause = (typeof REFUSAL_CAUSES)[number];

/** An operation refused because the workload is not in a state that allows it. */
export interface Refusal {
  readonly ok: false;
  readonly code: 'InvalidTransition';
  readonly cause: RefusalCause;
  readonly reason: string;
}

/** Builds a refusal. */
export function refuse(cause: RefusalCause, reason: string): Refusal {
  return { ok: false, code: 'InvalidTransition', cause, reason };
}
