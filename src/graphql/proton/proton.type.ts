import DataLoader from 'dataloader';
import type { Proton } from '../../store/entities/index.js';
import { builder } from '../builder.js';
import { operationCache, type GraphQLContext } from '../context.js';
import { ProtonRoleEnum, ProtonStatusEnum } from '../common/enums.type.js';
import { WorkloadRuntimeRef } from '../artifact/artifact-spec.type.js';
import { ArtifactNode, artifactOf } from '../artifact/artifact.type.js';
import { ARTIFACT_COMPLEXITY } from '../cost.js';
import { reads } from '../common/projection.js';
import { readableBy } from '../common/readable.js';

export const ProtonRef = builder.objectRef<Proton>('Proton');

builder.node(ProtonRef, {
  description: 'One running instance of an artifact for a workload (on Kubernetes: a Deployment and its pods).',
  id: { resolve: (p) => p.id },
  // Read only by a caller holding a role on its workload (defense in depth behind the services);
  // told from other nodes by its shape.
  isTypeOf: readableBy<Proton>('Proton', 'workloadReader', (p) => p.workload.id, (value) => typeof value === 'object' && value !== null && 'role' in value && 'workload' in value),
  fields: (t) => ({
    // Each field says what it reads of the proton (`reads`): a list reads only those columns.
    role: t.field({ type: ProtonRoleEnum, ...reads('role'), resolve: (p) => p.role }),
    status: t.field({ type: ProtonStatusEnum, ...reads('status'), resolve: (p) => p.status }),
    statusReason: t.string({ nullable: true, description: 'The Kubernetes reason behind the status, e.g. CrashLoopBackOff.', ...reads('statusReason'), resolve: (p) => p.statusReason ?? null }),
    statusMessage: t.string({ nullable: true, ...reads('statusMessage'), resolve: (p) => p.statusMessage ?? null }),
    artifact: t.field({ type: ArtifactNode, complexity: ARTIFACT_COMPLEXITY, ...reads('artifact'), resolve: (p, _args, ctx) => artifactOf(ctx, p.artifact.id) }),
    runtime: t.field({ type: WorkloadRuntimeRef, ...reads('runtime'), resolve: (p) => p.runtime }),
    createdAt: t.field({ type: 'DateTime', ...reads('createdAt'), resolve: (p) => p.createdAt }),
    updatedAt: t.field({ type: 'DateTime', ...reads('updatedAt'), resolve: (p) => p.updatedAt }),
  }),
  loadMany: (ids, ctx) => ctx.services.workloads.loadProtons(ctx.em, ctx.viewer, ids),
});

/**
 * The stored lifecycle of workloads, per request: what a proton's replicas derive their states
 * from. A list primes it with its page; otherwise each workload is looked up by id (the request's
 * identity map answers a workload the request already read).
 */
export const workloadLifecycles = operationCache(
  (ctx: GraphQLContext) =>
    new DataLoader((ids: readonly string[]) => Promise.all(ids.map((id) => ctx.services.workloads.lifecycleOf(ctx.em, id)))),
);
