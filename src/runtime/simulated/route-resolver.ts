/**
 * The routing decision on the simulated cluster: the workload's route names a proton; a request
 * goes to one of that proton's ready, not terminating replicas (round robin), at the loopback
 * address its simulated server listens on — what a Service with readiness-gated endpoints does.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { RouteResolution, RouteResolver } from '../route-resolver.js';
import type { SimulatedCluster } from './simulated-cluster.js';

/** Resolves routes of one simulated cluster. */
export class SimulatedRouteResolver implements RouteResolver {
  readonly #cluster: SimulatedCluster;
  readonly #next = new Map<string, number>();

  constructor(cluster: SimulatedCluster) {
    this.#cluster = cluster;
  }

  /** A ready replica of the routed proton, or why there is none. */
  async resolveRoute(workloadId: string): Promise<RouteResolution> {
    const servers = this.#cluster.replicaServers;
    if (!servers || this.#cluster.isShutDown) return { kind: 'unroutable', protonId: null, reason: 'Unsupported' };
    const route = this.#cluster.getRoute(workloadId);
    if (!route) return { kind: 'unroutable', protonId: null, reason: 'NoRoute' };
    const protonId = route.protonId;
    if (protonId === null) return { kind: 'unroutable', protonId: null, reason: 'RoutedNowhere' };
    const ready = this.#cluster
      .listPods({ workloadId, protonId })
      .filter(serves)
      .map((p) => p.metadata!.name!)
      .sort();
    const start = this.#next.get(protonId) ?? 0;
    for (let i = 0; i < ready.length; i++) {
      const name = ready[(start + i) % ready.length]!;
      const origin = await servers.origin(name);
      if (!origin) continue;
      this.#next.set(protonId, (start + i + 1) % ready.length);
      return { kind: 'forward', protonId, target: origin, replica: name };
    }
    return { kind: 'unroutable', protonId, reason: 'NoReadyReplica' };
  }
}

/** Whether a Service would send traffic to the pod: ready and not terminating. */
function serves(pod: V1Pod): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
