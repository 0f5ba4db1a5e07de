/**
 * The user-facing workload status: the active proton's status with proton-only states collapsed,
 * the end-of-life rule, and the sticky `errored` rule (SPEC.md section 2).
 */
import type { ProtonStatus, WorkloadStatus } from './model.js';
import type { ProtonStatusReport } from './proton-status.js';
import { allReplicasReady } from './proton-status.js';

/**
 * Proton status -> workload status. Every proton status appears here, so adding one to the model
 * fails the type-check until it is mapped.
 */
const COLLAPSE: Readonly<Record<ProtonStatus, WorkloadStatus>> = {
  unknown: 'unknown',
  submitted: 'submitted',
  provisioning: 'provisioning',
  launching: 'launching',
  running: 'running',
  suspended: 'suspended',
  interrupted: 'interrupted',
  stopping: 'stopping',
  stopped: 'stopped',
  errored: 'errored',
  terminated: 'terminated',
  // In-place update or restart: not serving until ready again, like a first launch.
  initializing: 'launching',
  restarting: 'launching',
  // A candidate warming up and an old active draining are both invisible to the user: the
  // workload keeps serving through the other proton.
  warming: 'running',
  draining: 'running',
};

/** Maps a proton status to the workload status it shows as (proton-only states collapse). */
export function collapseProtonStatus(status: ProtonStatus): WorkloadStatus {
  return COLLAPSE[status];
}

/** An `errored` status carried between derivations until the next operation or full readiness. */
export interface StickyError {
  readonly reason: string;
  readonly message: string;
}

/** Why a workload reached its end of life (TTL expiry, deletion by policy). */
export interface EndOfLife {
  readonly reason: string;
  readonly message?: string;
}

/** Inputs of `deriveWorkloadStatus`. */
export interface WorkloadStatusInput {
  /** The active proton's report; absent while the workload has no proton yet. */
  readonly active?: ProtonStatusReport;
  readonly endOfLife?: EndOfLife;
  /** The sticky error persisted from the previous derivation (cleared by any new operation). */
  readonly stickyError?: StickyError;
}

/** The derived workload status, with a one-line summary and what to persist for next time. */
export interface WorkloadStatusReport {
  readonly status: WorkloadStatus;
  readonly reason?: string;
  readonly message?: string;
  /** Human-readable, e.g. "1 of 3 replicas: CrashLoopBackOff: back-off restarting failed container app". */
  readonly summary: string;
  /** Persist this and pass it back as `stickyError` next time; absent means "clear it". */
  readonly stickyError?: StickyError;
  /** This derivation cleared a sticky error (all replicas ready again, or the proton came to rest). */
  readonly errorCleared?: boolean;
}

/** Derives the workload status from its active proton, its end of life, and its sticky error. */
export function deriveWorkloadStatus(input: WorkloadStatusInput): WorkloadStatusReport {
  const { active, endOfLife, stickyError } = input;

  if (endOfLife) {
    return {
      status: 'terminated',
      reason: endOfLife.reason,
      ...(endOfLife.message !== undefined && { message: endOfLife.message }),
      summary: `terminated: ${explanation(endOfLife.reason, endOfLife.message)}`,
    };
  }

  if (!active) {
    if (stickyError) return stickyErrored(stickyError);
    return { status: 'submitted', summary: 'waiting for a proton to be created' };
  }

  const status = collapseProtonStatus(active.status);
  if (status === 'errored') {
    const reason = active.reason ?? stickyError?.reason ?? 'Errored';
    const message = active.message ?? stickyError?.message ?? 'a replica failed';
    return {
      status,
      reason,
      message,
      summary: replicaSummary(active, status),
      stickyError: { reason, message },
    };
  }

  const derived = {
    status,
    ...(active.reason !== undefined && { reason: active.reason }),
    ...(active.message !== undefined && { message: active.message }),
    summary: replicaSummary(active, status),
  };
  if (!stickyError) return derived;
  // Our rule: errored stays until the next operation (which clears it before we get here) or
  // until every replica is ready again. A proton that came to rest where it was asked to
  // (stopped, suspended) also ends it: the failed operation completed after all.
  const atRest = status === 'stopped' || status === 'suspended';
  if (allReplicasReady(active) || atRest) return { ...derived, errorCleared: true };
  return stickyErrored(stickyError);
}

function stickyErrored(sticky: StickyError): WorkloadStatusReport {
  return {
    status: 'errored',
    reason: sticky.reason,
    message: sticky.message,
    summary: explanation(sticky.reason, sticky.message),
    stickyError: sticky,
  };
}

function replicaSummary(active: ProtonStatusReport, status: WorkloadStatus): string {
  if (status === 'stopped' || status === 'suspended' || status === 'terminated') return status;
  const of = `${active.affected} of ${active.total} ${active.total === 1 ? 'replica' : 'replicas'}`;
  if (active.reason !== undefined) return `${of}: ${explanation(active.reason, active.message)}`;
  if (active.message !== undefined) return `${of} ${status}: ${active.message}`;
  return `${of} ${status}`;
}

function explanation(reason: string, message?: string): string {
  return message ? `${reason}: ${message}` : reason;
}
