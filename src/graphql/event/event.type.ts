import { encodeGlobalID } from '@pothos/plugin-relay';
import type { WorkloadEvent } from '../../store/entities/index.js';
import { builder } from '../builder.js';

export const WorkloadEventRef = builder.objectRef<WorkloadEvent>('WorkloadEvent').implement({
  description: 'One entry of a workload\'s append-only event log.',
  authScopes: (e) => ({ workloadReader: e.workloadId }),
  fields: (t) => ({
    sequence: t.exposeInt('sequence', { description: 'Gap-free per workload, starting at 1: resume a stream after the last one seen.' }),
    workloadId: t.id({ resolve: (e) => encodeGlobalID('Workload', e.workloadId) }),
    type: t.exposeString('type', { description: 'What happened, e.g. created, updated, importanceChanged, statusChanged.' }),
    message: t.exposeString('message'),
    actor: t.string({ nullable: true, description: 'The subject that caused it; null for the system.', resolve: (e) => e.actor ?? null }),
    occurredAt: t.field({ type: 'DateTime', resolve: (e) => e.occurredAt }),
  }),
});
