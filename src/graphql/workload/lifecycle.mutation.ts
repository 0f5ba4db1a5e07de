import { RULEBOOK } from '../../domain/rulebook.js';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, QuotaExceededError, ValidationError } from '../../domain/errors.js';
import type { OperationOutcome, WorkloadOperation } from '../../service/workload.service.js';
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

/** A lifecycle mutation that takes only the workload's id; its description is the rulebook's. */
const simple = (mutation: 'startWorkload' | 'stopWorkload' | 'restartWorkload' | 'promoteWorkload' | 'deleteWorkload' | 'cancelReplacement', kind: 'start' | 'stop' | 'restart' | 'promote' | 'delete' | 'cancelReplacement') =>
  builder.mutationField(mutation, (t) =>
    t.field({
      type: WorkloadOperationPayload,
      description: RULEBOOK[mutation].description,
      errors,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => run(ctx, args.id, { kind }),
    }),
  );

simple('startWorkload', 'start');
simple('stopWorkload', 'stop');
simple('restartWorkload', 'restart');
simple('promoteWorkload', 'promote');
simple('deleteWorkload', 'delete');
simple('cancelReplacement', 'cancelReplacement');

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
    description: RULEBOOK.updateWorkloadRuntime.description,
    errors,
    args: { input: t.arg({ type: UpdateWorkloadRuntimeInput, required: true }) },
    resolve: (_root, { input }, ctx) => run(ctx, input.id, { kind: 'updateRuntime', runtime: input.runtime as never }),
  }),
  replaceWorkloadArtifact: t.field({
    type: WorkloadOperationPayload,
    description: RULEBOOK.replaceWorkloadArtifact.description,
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
