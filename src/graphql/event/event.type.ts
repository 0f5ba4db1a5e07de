import { encodeGlobalID } from '@pothos/plugin-relay';
import { PROTON_ROLES, PROTON_STATUSES, type ProtonRole, type ProtonStatus } from '../../domain/model.js';
import type { WorkloadEvent } from '../../store/entities/index.js';
import { builder } from '../builder.js';
import { ProtonRoleEnum, ProtonStatusEnum } from '../common/enums.type.js';
import { readableBy } from '../common/readable.js';

/** A status transition as `statusChanged` events store it (`data`). */
interface StatusChangeView {
  subject: 'workload' | 'proton';
  protonId?: string;
  role?: ProtonRole;
  from: ProtonStatus;
  to: ProtonStatus;
  reason?: string;
}

const StatusChangeSubjectEnum = builder.enumType('StatusChangeSubject', {
  description: 'Whose status changed: the workload itself or one of its protons.',
  values: { WORKLOAD: { value: 'workload' }, PROTON: { value: 'proton' } } as const,
});

const StatusChangeRef = builder.objectRef<StatusChangeView>('StatusChange').implement({
  description: 'One status transition of a workload or of one of its protons (the payload of a statusChanged event).',
  fields: (t) => ({
    subject: t.field({ type: StatusChangeSubjectEnum, resolve: (c) => c.subject }),
    protonId: t.id({ nullable: true, description: 'The proton, when the subject is PROTON.', resolve: (c) => (c.protonId ? encodeGlobalID('Proton', c.protonId) : null) }),
    protonRole: t.field({ type: ProtonRoleEnum, nullable: true, description: 'The proton\'s role when its status changed.', resolve: (c) => c.role ?? null }),
    from: t.field({ type: ProtonStatusEnum, description: 'For a workload, only WorkloadStatus values occur.', resolve: (c) => c.from }),
    to: t.field({ type: ProtonStatusEnum, resolve: (c) => c.to }),
    reason: t.string({ nullable: true, resolve: (c) => c.reason ?? null }),
  }),
});

/** The status transition a stored event carries, if it is a typed statusChanged (older events carry none). */
function statusChangeOf(e: WorkloadEvent): StatusChangeView | null {
  const d = e.data;
  if (e.type !== 'statusChanged' || (d.subject !== 'workload' && d.subject !== 'proton')) return null;
  const isStatus = (v: unknown): v is ProtonStatus => (PROTON_STATUSES as readonly unknown[]).includes(v);
  if (!isStatus(d.from) || !isStatus(d.to)) return null;
  const role = (PROTON_ROLES as readonly unknown[]).includes(d.role) ? (d.role as ProtonRole) : undefined;
  return {
    subject: d.subject,
    from: d.from,
    to: d.to,
    ...(typeof d.protonId === 'string' && { protonId: d.protonId }),
    ...(role && { role }),
    ...(typeof d.reason === 'string' && { reason: d.reason }),
  };
}

export const WorkloadEventRef = builder.objectRef<WorkloadEvent>('WorkloadEvent').implement({
  description: 'One entry of a workload\'s append-only event log.',
  // Read only by a caller holding a role on its workload (defense in depth behind the services).
  isTypeOf: readableBy<WorkloadEvent>('WorkloadEvent', 'workloadReader', (e) => e.workloadId),
  fields: (t) => ({
    sequence: t.exposeInt('sequence', { description: 'Gap-free per workload, starting at 1: resume a stream after the last one seen.' }),
    workloadId: t.id({ resolve: (e) => encodeGlobalID('Workload', e.workloadId) }),
    type: t.exposeString('type', {
      description:
        'What happened, e.g. created, updated, importanceChanged, statusChanged (one for every status transition of the workload and of each proton), replacementStep, deadlineExceeded, ttlExpired.',
    }),
    message: t.exposeString('message'),
    statusChange: t.field({
      type: StatusChangeRef,
      nullable: true,
      description: 'The transition of a statusChanged event: whose status, from what, to what. Null for other events.',
      resolve: statusChangeOf,
    }),
    actor: t.string({ nullable: true, description: 'The subject that caused it; null for the system.', resolve: (e) => e.actor ?? null }),
    occurredAt: t.field({ type: 'DateTime', resolve: (e) => e.occurredAt }),
  }),
});
