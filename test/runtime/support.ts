/**
 * Builders and observers for runtime tests: proton specs, a pod tracker fed by the watch, and
 * the replica-state history a controller would derive from the events.
 */
import { randomUUID } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import { observePod } from '../../src/domain/pod-observation.js';
import type { ReplicaState } from '../../src/domain/replica-state.js';
import { deriveReplicaState } from '../../src/domain/replica-state.js';
import type { PodEvent, ProtonContainer, ProtonRuntime, ProtonSpec, RuntimeFilter } from '../../src/runtime/proton-runtime.js';

/** A fresh DNS-safe id (a UUID, like the store's). */
export function newId(): string {
  return randomUUID();
}

/** A primary container serving on 8080 with a readiness probe. */
export function primaryContainer(overrides: Partial<ProtonContainer> = {}): ProtonContainer {
  return {
    name: 'app',
    image: 'registry.example.com/acme/echo:1.0',
    primary: true,
    port: 8080,
    env: [{ name: 'GREETING', value: 'hello' }],
    readinessProbe: { path: '/healthz', initialDelaySeconds: 0, periodSeconds: 1 },
    resources: { cpu: '100m', memory: '64Mi' },
    ...overrides,
  };
}

/** A proton spec with one primary container; fields can be overridden. */
export function protonSpec(overrides: Partial<ProtonSpec> = {}): ProtonSpec {
  return {
    workloadId: newId(),
    protonId: newId(),
    containers: [primaryContainer()],
    replicas: 1,
    importance: 'low',
    ...overrides,
  };
}

/** The spec with the primary container's environment replaced (a template change). */
export function withEnv(spec: ProtonSpec, env: ProtonContainer['env']): ProtonSpec {
  return { ...spec, containers: spec.containers.map((c) => (c.primary ? { ...c, env } : c)) };
}

/** Whether the pod serves: Running, every container ready, Ready condition true. */
export function isServing(pod: V1Pod): boolean {
  return observePod(pod).servingReady && !pod.metadata?.deletionTimestamp;
}

/** Whether the pod is being deleted. */
export function isDeleting(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp !== undefined;
}

/** One replica state as a short string for sequence assertions: `state` or `state(reason)`. */
export function describeState(s: ReplicaState): string {
  return s.reason === undefined ? s.state : `${s.state}(${s.reason})`;
}

interface PodHistory {
  readonly states: string[];
}

/**
 * Follows the pods of one filter through the watch: the current pods by name, every event, and
 * per pod the sequence of replica states a controller would derive from each pod alone
 * (consecutive repeats folded).
 */
export class PodTracker {
  readonly pods = new Map<string, V1Pod>();
  readonly events: PodEvent[] = [];
  readonly #memory = new Map<string, PodHistory>();
  readonly #unsubscribe: () => void;

  /** Starts watching; with `replay`, existing pods arrive as `added` first. */
  constructor(runtime: ProtonRuntime, readonly filter: RuntimeFilter = {}, replay = false) {
    this.#unsubscribe = runtime.watchPods((e) => this.#onEvent(e), { replay });
  }

  /** Stops watching. */
  close(): void {
    this.#unsubscribe();
  }

  /** The replica-state history of one pod. */
  statesOf(podName: string): readonly string[] {
    return this.#memory.get(podName)?.states ?? [];
  }

  /** The names of every pod seen, in order of first sight. */
  podNames(): string[] {
    return [...this.#memory.keys()];
  }

  /** Pods currently known, not being deleted. */
  live(): V1Pod[] {
    return [...this.pods.values()].filter((p) => !isDeleting(p));
  }

  /** Pods currently known that serve. */
  serving(): V1Pod[] {
    return [...this.pods.values()].filter(isServing);
  }

  #onEvent(e: PodEvent): void {
    if (e.type === 'error') return;
    const labels = e.pod.metadata?.labels ?? {};
    if (this.filter.workloadId !== undefined && labels['workload-api/workload-id'] !== this.filter.workloadId) return;
    if (this.filter.protonId !== undefined && labels['workload-api/proton-id'] !== this.filter.protonId) return;
    this.events.push(e);
    const name = e.pod.metadata!.name!;
    if (e.type === 'deleted') this.pods.delete(name);
    else this.pods.set(name, e.pod);
    const memory = this.#memory.get(name) ?? { states: [] };
    this.#memory.set(name, memory);
    const label = e.type === 'deleted' ? 'gone' : describeState(deriveReplicaState(observePod(e.pod)));
    if (memory.states.at(-1) !== label) memory.states.push(label);
  }
}
