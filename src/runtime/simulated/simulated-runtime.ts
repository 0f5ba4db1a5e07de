/**
 * The `ProtonRuntime` adapter over a `SimulatedCluster`: one client of the cluster, as an API
 * server replica is one client of a real cluster. Several clients may share a cluster (two app
 * instances in a crash test); stopping a client ends only its own watches.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Importance } from '../../domain/model.js';
import type {
  ObservedProton,
  PodEventHandler,
  ProtonRuntime,
  ProtonSpec,
  RuntimeFilter,
  Unsubscribe,
  WatchPodsOptions,
  WorkloadRoute,
} from '../proton-runtime.js';
import { RuntimeUnavailableError } from '../proton-runtime.js';
import type { RouteResolution } from '../route-resolver.js';
import { SimulatedRouteResolver } from './route-resolver.js';
import type { SimulatedClusterOptions } from './simulated-cluster.js';
import { SimulatedCluster } from './simulated-cluster.js';

/** Options of a simulated runtime client. */
export interface SimulatedRuntimeOptions {
  /** Shut the cluster down when this client stops (the embedded default owns its cluster). */
  readonly ownsCluster?: boolean;
}

/** A `ProtonRuntime` backed by a simulated cluster. */
export class SimulatedProtonRuntime implements ProtonRuntime {
  readonly kind = 'simulated';
  readonly #cluster: SimulatedCluster;
  readonly #resolver: SimulatedRouteResolver;
  readonly #ownsCluster: boolean;
  readonly #unsubscribes = new Set<Unsubscribe>();
  #state: 'new' | 'started' | 'stopped' = 'new';

  /** A client of `cluster`; call `start()` before watching or listing. */
  constructor(cluster: SimulatedCluster, options: SimulatedRuntimeOptions = {}) {
    this.#cluster = cluster;
    this.#ownsCluster = options.ownsCluster ?? false;
    this.#resolver = new SimulatedRouteResolver(cluster);
  }

  /** The cluster behind this client, for fault injection in tests and demos. */
  get cluster(): SimulatedCluster {
    return this.#cluster;
  }

  /** Starts the client; the simulated cache is synced at once. */
  async start(): Promise<void> {
    if (this.#state === 'stopped') throw new RuntimeUnavailableError('this runtime client was stopped; create a new one');
    if (this.#cluster.isShutDown) throw new RuntimeUnavailableError('the simulated cluster is shut down');
    this.#state = 'started';
  }

  /** Ends every watch of this client (and shuts the cluster down if it owns it). */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    for (const unsubscribe of this.#unsubscribes) unsubscribe();
    this.#unsubscribes.clear();
    if (this.#ownsCluster) this.#cluster.shutdown();
  }

  /** The simulated cluster is read in-process: every read is current already. */
  async resync(): Promise<void> {
    this.#assertUsable();
  }

  /** Whether `start()` completed and `stop()` was not called. */
  isSynced(): boolean {
    return this.#state === 'started' && !this.#cluster.isShutDown;
  }

  /** The simulated cluster delivers events in-process: its watch never restarts. */
  podWatchRestarts(): number {
    return 0;
  }

  /** Creates or updates a proton; see the port. */
  async applyProton(spec: ProtonSpec): Promise<ObservedProton> {
    this.#assertUsable();
    return this.#cluster.applyProton(spec);
  }

  /** Sets a proton's desired replicas; see the port. */
  async scaleProton(protonId: string, replicas: number): Promise<ObservedProton> {
    this.#assertUsable();
    return this.#cluster.scaleProton(protonId, replicas);
  }

  /** Deletes a proton gracefully; see the port. */
  async deleteProton(protonId: string): Promise<void> {
    this.#assertUsable();
    this.#cluster.deleteProton(protonId);
  }

  /** Relabels the workload's objects; see the port. */
  async setImportance(workloadId: string, importance: Importance): Promise<void> {
    this.#assertUsable();
    this.#cluster.setImportance(workloadId, importance);
  }

  /** The protons that exist; see the port. */
  async listProtons(filter?: RuntimeFilter): Promise<readonly ObservedProton[]> {
    this.#assertUsable();
    return this.#cluster.listProtons(filter);
  }

  /** One proton; see the port. */
  async getProton(protonId: string): Promise<ObservedProton | undefined> {
    this.#assertUsable();
    return this.#cluster.getProton(protonId);
  }

  /** Switches the workload's route; see the port. */
  async routeWorkload(workloadId: string, protonId: string | null): Promise<WorkloadRoute> {
    this.#assertUsable();
    return this.#cluster.routeWorkload(workloadId, protonId);
  }

  /** Removes the workload's route; see the port. */
  async deleteRoute(workloadId: string): Promise<void> {
    this.#assertUsable();
    this.#cluster.deleteRoute(workloadId);
  }

  /** The workload's route; see the port. */
  async getRoute(workloadId: string): Promise<WorkloadRoute | undefined> {
    this.#assertUsable();
    return this.#cluster.getRoute(workloadId);
  }

  /** Where the workload's traffic goes now: a ready replica's loopback address (see route-resolver.ts). */
  async resolveRoute(workloadId: string): Promise<RouteResolution> {
    if (this.#state === 'stopped') return { kind: 'unroutable', protonId: null, reason: 'Unsupported' };
    return this.#resolver.resolveRoute(workloadId);
  }

  /** Subscribes to pod events; see the port. */
  watchPods(handler: PodEventHandler, options: WatchPodsOptions = {}): Unsubscribe {
    this.#assertUsable();
    const unsubscribe = this.#cluster.subscribe(handler, options.replay ?? false);
    const wrapped: Unsubscribe = () => {
      unsubscribe();
      this.#unsubscribes.delete(wrapped);
    };
    this.#unsubscribes.add(wrapped);
    return wrapped;
  }

  /** The pods now; see the port. */
  async listPods(filter?: RuntimeFilter): Promise<readonly V1Pod[]> {
    this.#assertUsable();
    return this.#cluster.listPods(filter);
  }

  #assertUsable(): void {
    if (this.#state === 'stopped') throw new RuntimeUnavailableError('this runtime client was stopped');
    if (this.#cluster.isShutDown) throw new RuntimeUnavailableError('the simulated cluster is shut down');
  }
}

/** The embedded default: a fresh simulated cluster whose replicas serve HTTP, and a client that owns it. */
export function createSimulatedRuntime(options: SimulatedClusterOptions = {}): SimulatedProtonRuntime {
  return new SimulatedProtonRuntime(new SimulatedCluster({ serveHttp: true, ...options }), { ownsCluster: true });
}
