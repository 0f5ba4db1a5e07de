import type { ContainerObservation } from '../../domain/pod-observation.js';
import type { ReplicaView } from '../../service/replicas.js';
import { builder } from '../builder.js';
import { REPLICAS_COMPLEXITY } from '../cost.js';
import { ProtonStatusEnum } from '../common/enums.type.js';
import { reads } from '../common/projection.js';
import { ProtonRef, workloadLifecycles } from './proton.type.js';

const ContainerStatusRef = builder.objectRef<ContainerObservation & { image: string | null }>('ReplicaContainer').implement({
  description: 'One container of a replica, as the cluster reports it.',
  fields: (t) => ({
    name: t.exposeString('name'),
    image: t.string({ nullable: true, resolve: (c) => c.image }),
    primary: t.exposeBoolean('primary'),
    kind: t.string({ description: 'app, init or sidecar.', resolve: (c) => c.kind }),
    state: t.string({ description: 'waiting, running or terminated.', resolve: (c) => c.state }),
    ready: t.boolean({ resolve: (c) => c.ready }),
    restartCount: t.exposeInt('restartCount'),
    reason: t.string({ nullable: true, resolve: (c) => c.reason ?? null }),
    message: t.string({ nullable: true, resolve: (c) => c.message ?? null }),
  }),
});

const ReplicaRef = builder.objectRef<ReplicaView>('Replica').implement({
  description: 'One pod of a proton, live from the cluster.',
  fields: (t) => ({
    name: t.string({ resolve: (r) => r.pod.metadata?.name ?? '' }),
    status: t.field({
      type: ProtonStatusEnum,
      description: 'This replica\'s state, derived as its proton\'s is (WARMING, DRAINING, INITIALIZING and RESTARTING included); the proton shows the worst.',
      resolve: (r) => r.state.state,
    }),
    reason: t.string({ nullable: true, resolve: (r) => r.state.reason ?? null }),
    message: t.string({ nullable: true, resolve: (r) => r.state.message ?? null }),
    phase: t.string({ nullable: true, resolve: (r) => r.observation.phase ?? null }),
    node: t.string({ nullable: true, resolve: (r) => r.observation.nodeName ?? null }),
    ready: t.boolean({ description: 'The pod is ready to serve (also while warming up or draining).', resolve: (r) => r.observation.servingReady }),
    restartCount: t.int({ resolve: (r) => r.observation.containers.reduce((n, c) => n + c.restartCount, 0) }),
    conditions: t.stringList({
      description: 'The pod conditions that hold, e.g. PodScheduled, Initialized, ContainersReady, Ready.',
      resolve: (r) => r.observation.conditions.filter((c) => c.status === 'True').map((c) => c.type),
    }),
    containers: t.field({
      type: [ContainerStatusRef],
      resolve: (r) => {
        const images = new Map(
          [...(r.pod.spec?.initContainers ?? []), ...(r.pod.spec?.containers ?? [])].map((c) => [c.name, c.image ?? null]),
        );
        return r.observation.containers.map((c) => ({ ...c, image: images.get(c.name) ?? null }));
      },
    }),
    createdAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.pod.metadata?.creationTimestamp ?? null }),
  }),
});

builder.objectField(ProtonRef, 'replicas', (t) =>
  t.field({
    type: [ReplicaRef],
    description: 'The proton\'s pods, live from the cluster.',
    complexity: REPLICAS_COMPLEXITY,
    ...reads('workload', 'Workload.lifecycle'),
    resolve: (proton, _args, ctx) => ctx.services.workloads.replicasOf(proton, workloadLifecycles(ctx).load(proton.workload.id)),
  }),
);
