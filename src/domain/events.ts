/**
 * What the event log records, as typed payloads: each event is stored with its `type` and this
 * payload (`workload_event.data`), so readers never recover a type from an English message. A
 * `statusChanged` is written for every status transition of a workload and of each of its
 * protons, whatever caused it (an operation, an observation, a deadline, the TTL), so the log is
 * a complete status history.
 */
import type { ProtonRole, ProtonStatus, ReplacementStatus, WorkloadStatus } from './model.js';

/** The kinds of operation a user asks of an existing workload. */
export type OperationKind = 'start' | 'stop' | 'restart' | 'promote' | 'delete' | 'cancelReplacement' | 'updateRuntime' | 'replace';

/** The event type recorded when an operation is accepted. */
export const OPERATION_EVENT_TYPES = {
  start: 'startRequested',
  stop: 'stopRequested',
  restart: 'restartRequested',
  promote: 'promoted',
  delete: 'deleteRequested',
  cancelReplacement: 'replacementCancelled',
  updateRuntime: 'runtimeUpdated',
  replace: 'replacementRequested',
} as const satisfies Record<OperationKind, string>;
export type OperationEventType = (typeof OPERATION_EVENT_TYPES)[OperationKind];

/** A workload's or a proton's status moved from one value to another. */
export type StatusChanged =
  | {
      readonly type: 'statusChanged';
      readonly subject: 'workload';
      readonly from: WorkloadStatus;
      readonly to: WorkloadStatus;
      readonly reason?: string;
    }
  | {
      readonly type: 'statusChanged';
      readonly subject: 'proton';
      readonly protonId: string;
      readonly role: ProtonRole;
      readonly from: ProtonStatus;
      readonly to: ProtonStatus;
      readonly reason?: string;
    };

/** Every payload the controller writes to the event log. */
export type WorkloadEventData =
  | { readonly type: OperationEventType; readonly operation: OperationKind }
  | StatusChanged
  | { readonly type: 'replacementStep'; readonly from: ReplacementStatus; readonly to: ReplacementStatus; readonly reason?: string }
  | { readonly type: 'errorCleared'; readonly reason: string }
  | { readonly type: 'deadlineExceeded'; readonly reason: string }
  | { readonly type: 'ttlExpired'; readonly reason: string }
  | { readonly type: 'deleted' };

/** The event types of `WorkloadEventData`. */
export type WorkloadEventType = WorkloadEventData['type'];

/** A typed payload and the sentence shown to people. */
export interface RecordedEvent {
  readonly data: WorkloadEventData;
  readonly message: string;
}

/** A workload status transition, explained. */
export function workloadStatusChanged(from: WorkloadStatus, to: WorkloadStatus, why?: { reason?: string; message?: string }): RecordedEvent {
  const detail = [why?.reason, why?.message].filter(Boolean).join(': ');
  return {
    data: { type: 'statusChanged', subject: 'workload', from, to, ...(why?.reason && { reason: why.reason }) },
    message: `status ${from} -> ${to}${detail ? `: ${detail}` : ''}`,
  };
}

/** A proton status transition, explained. */
export function protonStatusChanged(
  proton: { readonly id: string; readonly role: ProtonRole },
  from: ProtonStatus,
  to: ProtonStatus,
  reason?: string,
): RecordedEvent {
  return {
    data: { type: 'statusChanged', subject: 'proton', protonId: proton.id, role: proton.role, from, to, ...(reason && { reason }) },
    message: `${proton.role} proton ${proton.id} status ${from} -> ${to}${reason ? `: ${reason}` : ''}`,
  };
}

/** A replacement moved to its next step. */
export function replacementStep(from: ReplacementStatus, to: ReplacementStatus, why?: { reason?: string; message?: string }): RecordedEvent {
  return {
    data: { type: 'replacementStep', from, to, ...(why?.reason && { reason: why.reason }) },
    message: `replacement ${from} -> ${to}${why?.message ? `: ${why.message}` : ''}`,
  };
}
