import { encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { SubscriptionEnded, type StreamHooks, type WorkloadChange, type WorkloadListChange } from '../../service/live.service.js';
import type { WorkloadEvent } from '../../store/entities/index.js';
import { CLOSE_CODES } from '../../domain/close-codes.js';
import { builder } from '../builder.js';
import { rawId } from '../common/errors.type.js';
import { checkSearch } from '../common/text.js';
import { releaseRequestScope, type GraphQLContext } from '../context.js';
import { WorkloadEventRef } from '../event/event.type.js';
import { pageOptions, primeWorkloadRows, WorkloadFilter, WorkloadNode } from '../workload/workload.type.js';
import { asSourceStream, fanOutOf } from './fan-out.js';
import { primeKnownRoles, rememberRole } from './known-roles.js';

const WorkloadChangeRef = builder.objectRef<WorkloadChange>('WorkloadChange').implement({
  description: 'A workload as it is after a change.',
  fields: (t) => ({
    sequence: t.exposeInt('sequence', { description: 'The newest event this state reflects.' }),
    workload: t.field({ type: WorkloadNode, resolve: (c) => c.workload }),
  }),
});

const WorkloadListChangeRef = builder.objectRef<WorkloadListChange>('WorkloadListChange').implement({
  description: 'A change of a list view of workloads.',
  fields: (t) => ({
    workloadId: t.id({ resolve: (c) => encodeGlobalID('Workload', c.workloadId) }),
    sequence: t.exposeInt('sequence', { description: 'The newest event of the workload when the change was read.' }),
    workload: t.field({
      type: WorkloadNode,
      nullable: true,
      description: 'The workload now; null when it left the list (no longer matches the filter, was deleted, or is no longer shared with you): remove it.',
      resolve: (c) => c.workload,
    }),
  }),
});

/** Turns the server's end of a stream into its final GraphQL error, or renews the scope for a payload. */
function deliver<T>(item: T | SubscriptionEnded, ctx: GraphQLContext): T {
  if (item instanceof SubscriptionEnded) throw new GraphQLError(item.message, { extensions: { code: item.code } });
  // Each payload reads the database as it is now. The caller's role on the workload is the one
  // the stream read (it reads it again after every sharing change, and ends the stream when the
  // role is gone), so the payload's authorization checks need no query of their own.
  releaseRequestScope(ctx);
  primeKnownRoles(ctx);
  return item;
}

function hooksFor(ctx: GraphQLContext): StreamHooks {
  return {
    // A WebSocket connection ends its operations itself when its token expires (close 4403).
    endAtTokenExpiry: !ctx.connection,
    onSlowConsumer: () =>
      ctx.connection?.close(CLOSE_CODES.slowConsumer, 'Slow consumer: resume with "after"'),
    onRole: (workloadId, role) => rememberRole(ctx, workloadId, role),
  };
}

builder.subscriptionFields((t) => ({
  workloadChanged: t.field({
    type: WorkloadChangeRef,
    description:
      'The workload now, then again whenever it, its protons or its replacement change (changes in quick succession may arrive as one). ' +
      'Ends with a NOT_FOUND error when the workload does not exist or is not shared with you, or is deleted, and with ACCESS_REVOKED when your role is removed.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, args, ctx, info) => {
      const { withReplacements, withGrants } = pageOptions(info);
      return ctx.live.workloadChanges(ctx.viewer, rawId(args.id, 'Workload'), hooksFor(ctx), { withReplacements, withGrants });
    },
    resolve: (item, _args, ctx) => {
      const change = deliver(item, ctx);
      // The payload's fields answer from the one statement it was read with (one moment).
      primeWorkloadRows(ctx, change.moment);
      return change;
    },
  }),
  workloadEvents: t.field({
    type: WorkloadEventRef,
    description:
      'The workload\'s event log after sequence `after` (0: from the start), replayed from the database, then live, in order, with no gap and no duplicate. ' +
      'After a disconnect, subscribe again with `after` set to the last sequence received. Ends with NOT_FOUND, ACCESS_REVOKED or SLOW_CONSUMER.',
    args: {
      workloadId: t.arg.id({ required: true }),
      after: t.arg.int({ required: false, defaultValue: 0 }),
    },
    subscribe: (_root, args, ctx) => {
      const after = args.after ?? 0;
      if (after < 0) throw new GraphQLError('"after" must be 0 or an event sequence number', { extensions: { code: 'VALIDATION', argument: 'after' } });
      const workloadId = rawId(args.workloadId, 'Workload');
      // In a group (ADR 0033): the group's stream reads, executes and writes each event once.
      const member = fanOutOf(ctx)?.subscriber(ctx);
      if (member) {
        void fanOutOf(ctx)!.events.join(member, workloadId, after);
        return asSourceStream<WorkloadEvent | SubscriptionEnded>(member);
      }
      return ctx.live.workloadEvents(ctx.viewer, workloadId, after, hooksFor(ctx));
    },
    resolve: (item, _args, ctx) => deliver(item, ctx),
  }),
  workloadsChanged: t.field({
    type: WorkloadListChangeRef,
    description:
      'Changes to the workloads that match `filter` and that you may see, for list views: query the list, then apply these. ' +
      'A workload that leaves the list arrives once with `workload: null`.',
    args: { filter: t.arg({ type: WorkloadFilter }) },
    subscribe: (_root, args, ctx) => {
      checkSearch(args.filter);
      const f = args.filter;
      const filter = {
        status: f?.status ?? null,
        importance: f?.importance ?? null,
        artifactStatus: f?.artifactStatus ?? null,
        artifactId: f?.artifactId ? rawId(f.artifactId, 'Artifact') : null,
        search: f?.search ?? null,
      };
      // In a group of the same caller, document and filter (ADR 0033).
      const member = fanOutOf(ctx)?.subscriber(ctx);
      if (member) {
        fanOutOf(ctx)!.lists.join(member, filter);
        return asSourceStream<WorkloadListChange | SubscriptionEnded>(member);
      }
      return ctx.live.workloadListChanges(ctx.viewer, filter, hooksFor(ctx));
    },
    resolve: (item, _args, ctx) => deliver(item, ctx),
  }),
}));
