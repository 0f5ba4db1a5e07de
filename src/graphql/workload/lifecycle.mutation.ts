import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, QuotaExceededError, ValidationError } from '../../domain/errors.js';
import type { OperationOutcome, WorkloadOperation } from '../../controller/controller.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { WorkloadRuntimeInput } from '../artifact/artifact-spec.type.js';
import { rawId } from '../common/errors.type.js';
import { WorkloadNode } from './workload.type.js';

const WorkloadOperationPayload = builder.objectRef<OperationOutcome>('WorkloadOperationPayload').implement({
  description: 'The outcome of a lifecycle operation. A repeat that changes nothing (stopping a stopped workload) succeeds with `changed: false` and says so.',
  fields: (t) => ({
    workload: t.field({ type: WorkloadNode, resolve: (o) => o.workload }),
    changed: t.exposeBoolean('changed'),
    message: t.exposeString('message'),
  }),
});

// QuotaExceededError: starting, a bigger runtime and a replace's candidate add to the owner's and organization's usage.
const errors = { types: [NotFoundError, ForbiddenError, InvalidTransitionError, ValidationError, ConflictError, QuotaExceededError], directResult: true };

function run(ctx: GraphQLContext, id: string, op: WorkloadOperation) {
  return ctx.services.workloads.operate(ctx.viewer, rawId(id, 'Workload'), op);
}

const simple = (kind: 'start' | 'stop' | 'restart' | 'promote' | 'delete' | 'cancelReplacement', description: string) =>
  builder.mutationField(`${kind === 'cancelReplacement' ? 'cancelReplacement' : `${kind}Workload`}`, (t) =>
    t.field({
      type: WorkloadOperationPayload,
      description,
      errors,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => run(ctx, args.id, { kind }),
    }),
  );

simple('start', 'Starts a stopped workload: submitted -> provisioning -> launching -> running. Resets a draft\'s TTL.');
simple('stop', 'Stops a workload: running -> stopping -> stopped. Identity, endpoint, sharing and history are kept.');
simple('restart', 'Restarts the active proton in place: running -> initializing -> running. Resets a draft\'s TTL.');
simple('promote', 'Promotes a running draft workload: locks its artifact (assigning its version) and removes the TTL. Restarts nothing.');
simple('delete', 'Deletes a workload: stops its protons and removes its routing; the artifact stays. OWNER only.');
simple('cancelReplacement', 'Cancels the replacement in progress before its traffic switch; the active proton keeps serving.');

const UpdateWorkloadRuntimeInput = builder.inputType('UpdateWorkloadRuntimeInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    runtime: t.field({ type: WorkloadRuntimeInput, required: true }),
  }),
});

const ReplaceWorkloadArtifactInput = builder.inputType('ReplaceWorkloadArtifactInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    artifactId: t.id({ required: true, description: 'The artifact to switch to: draft for a draft workload, locked for a locked one.' }),
    runtime: t.field({ type: WorkloadRuntimeInput, description: 'Defaults to the workload\'s current runtime.' }),
    warmupSeconds: t.int({ description: 'Wait after the candidate is running, before the switch. Default 0.' }),
    keepOldVersionSeconds: t.int({ description: 'Keep the old proton after the switch, for rollback. Default 0.' }),
  }),
});

builder.mutationFields((t) => ({
  updateWorkloadRuntime: t.field({
    type: WorkloadOperationPayload,
    description: 'Changes replicas or resources in place: running -> initializing -> running. On a stopped workload it applies at the next start.',
    errors,
    args: { input: t.arg({ type: UpdateWorkloadRuntimeInput, required: true }) },
    resolve: (_root, { input }, ctx) => run(ctx, input.id, { kind: 'updateRuntime', runtime: input.runtime as never }),
  }),
  replaceWorkloadArtifact: t.field({
    type: WorkloadOperationPayload,
    description:
      'Blue/green: a candidate proton comes up beside the active one; once running and warmed up, traffic switches atomically and the old proton drains.',
    errors,
    args: { input: t.arg({ type: ReplaceWorkloadArtifactInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      run(ctx, input.id, {
        kind: 'replace',
        artifactId: rawId(input.artifactId, 'Artifact'),
        ...(input.runtime && { runtime: input.runtime as never }),
        ...(input.warmupSeconds != null && { warmupSeconds: input.warmupSeconds }),
        ...(input.keepOldVersionSeconds != null && { keepOldVersionSeconds: input.keepOldVersionSeconds }),
      }),
  }),
}));
