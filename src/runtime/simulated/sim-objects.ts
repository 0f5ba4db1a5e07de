/**
 * What the simulated cluster holds of protons and pods, with the indexes its reads and its
 * scheduler go through, so that what one workload or proton reads costs what it holds, not what
 * the cluster holds (a controller pass reads one workload's pods and protons; at 1,000 workloads a
 * scan of every pod per read made a burst quadratic).
 */
import type { ProtonSpec, RuntimeFilter } from '../proton-runtime.js';
import type { SimPod } from './sim-pod.js';

/** A proton as the cluster keeps it (a Deployment). */
export interface SimProton {
  spec: ProtonSpec;
  revision: string;
  generation: number;
  readonly createdAt: Date;
  deletionTimestamp?: Date;
  /** ReplicaSet uid per revision, so pods of one revision share an owner. */
  readonly replicaSetUids: Map<string, string>;
}

export class SimObjects {
  readonly #protons = new Map<string, SimProton>();
  readonly #pods = new Map<string, SimPod>();
  readonly #podsByProton = new Map<string, Set<SimPod>>();
  readonly #protonsByWorkload = new Map<string, Set<string>>();
  readonly #podsOnNode = new Map<string, number>();

  proton(protonId: string): SimProton | undefined {
    return this.#protons.get(protonId);
  }

  addProton(proton: SimProton): void {
    this.#protons.set(proton.spec.protonId, proton);
    addTo(this.#protonsByWorkload, proton.spec.workloadId, proton.spec.protonId);
  }

  removeProton(proton: SimProton): void {
    this.#protons.delete(proton.spec.protonId);
    removeFrom(this.#protonsByWorkload, proton.spec.workloadId, proton.spec.protonId);
  }

  /** The protons `filter` selects (being deleted included). */
  protons(filter: RuntimeFilter = {}): SimProton[] {
    if (filter.protonId !== undefined) {
      const proton = this.#protons.get(filter.protonId);
      return proton && (filter.workloadId === undefined || filter.workloadId === proton.spec.workloadId) ? [proton] : [];
    }
    if (filter.workloadId === undefined) return [...this.#protons.values()];
    return [...(this.#protonsByWorkload.get(filter.workloadId) ?? [])].map((id) => this.#protons.get(id)!);
  }

  pod(name: string): SimPod | undefined {
    return this.#pods.get(name);
  }

  addPod(pod: SimPod): void {
    this.#pods.set(pod.name, pod);
    addTo(this.#podsByProton, pod.protonId, pod);
  }

  /** Forgets a pod, and its place on its node. */
  removePod(pod: SimPod): void {
    this.#pods.delete(pod.name);
    removeFrom(this.#podsByProton, pod.protonId, pod);
    if (pod.nodeName) this.#podsOnNode.set(pod.nodeName, this.#podsOnNode.get(pod.nodeName)! - 1);
  }

  /** Every pod, in creation order. */
  allPods(): SimPod[] {
    return [...this.#pods.values()];
  }

  /** The proton's pods, in creation order, being deleted included. */
  podsOf(protonId: string): SimPod[] {
    return [...(this.#podsByProton.get(protonId) ?? [])];
  }

  /** The pods of the protons `filter` selects. */
  pods(filter: RuntimeFilter = {}): SimPod[] {
    if (filter.protonId === undefined && filter.workloadId === undefined) return this.allPods();
    return this.protons(filter).flatMap((p) => this.podsOf(p.spec.protonId));
  }

  /** Places a pod on the node of `nodes` that holds fewest pods (the first of them on a tie); returns it. */
  place(pod: SimPod, nodes: readonly string[]): string {
    const node = nodes.reduce((best, n) => ((this.#podsOnNode.get(n) ?? 0) < (this.#podsOnNode.get(best) ?? 0) ? n : best));
    pod.nodeName = node;
    this.#podsOnNode.set(node, (this.#podsOnNode.get(node) ?? 0) + 1);
    return node;
  }
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set?.delete(value) && set.size === 0) index.delete(key);
}
