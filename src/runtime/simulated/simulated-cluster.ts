/**
 * An in-memory cluster: a Deployment controller (rolling updates with surge), a scheduler, a
 * kubelet that walks each pod through the stages a real one reports, and Services reduced to
 * routes. It holds only what a real cluster would (protons, pods, routes); the controller reads
 * everything back through the `ProtonRuntime` port (`runtime()`), never from here.
 *
 * Pods are records (`SimPod`) advanced by timers from the injected `Timers`; after every change
 * the record is rendered into a fresh frozen `V1Pod` and an event is queued. Events are delivered
 * asynchronously (a microtask later), in order, like an informer's.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';
import type { Importance } from '../../domain/model.js';
import { protonObjectName } from '../conventions.js';
import type {
  ObservedProton,
  PodEvent,
  PodEventHandler,
  ProtonSpec,
  RuntimeFilter,
  WorkloadRoute,
} from '../proton-runtime.js';
import {
  RuntimeConflictError,
  RuntimeInvalidError,
  RuntimeNotFoundError,
  RuntimeUnavailableError,
} from '../proton-runtime.js';
import { assertValidProtonSpec, assertValidReplicas, protonRevision } from '../proton-spec.js';
import type { SimulatedFault, SimulatedFaultName } from './faults.js';
import { faultFromEnv, parseFault } from './faults.js';
import type { SimContainer, SimPod, SimTermination } from './sim-pod.js';
import { containerReady, GRACE_SECONDS, podPhase, podReady, podRestarts, renderPod } from './sim-pod.js';
import type { TimerHandle, Timers } from './timers.js';
import { realTimers } from './timers.js';
import type { TimingProfile } from './timings.js';
import { DEFAULT_TIMINGS } from './timings.js';
import { SimulatedReplicaServers, type ReplicaServerOptions } from './replica-server.js';
import { SimObjects, type SimProton } from './sim-objects.js';

/** How the simulated cluster is built. */
export interface SimulatedClusterOptions {
  /** Clock and scheduler; default the real ones. */
  readonly timers?: Timers;
  /** Stage durations; missing keys take `DEFAULT_TIMINGS`. */
  readonly timings?: Partial<TimingProfile>;
  /** Namespace shown on pods; default `workloads`. */
  readonly namespace?: string;
  /** Node names pods are spread over; default three nodes. */
  readonly nodes?: readonly string[];
  /** Called when a pod event handler throws; default `console.error`. */
  readonly onHandlerError?: (error: unknown) => void;
  /** Each replica serves real HTTP on a loopback port while its primary container runs (see replica-server.ts); default off. */
  readonly serveHttp?: boolean | ReplicaServerOptions;
}

/** Options of `injectFault`. */
export interface InjectFaultOptions {
  /** The container the fault applies to; default the primary. */
  readonly container?: string;
}

interface Subscriber {
  readonly handler: PodEventHandler;
}

interface QueuedEvent {
  readonly event: PodEvent;
  readonly to: readonly Subscriber[];
}

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The simulated cluster (see the module comment). */
export class SimulatedCluster {
  readonly timings: TimingProfile;
  readonly #timers: Timers;
  readonly #namespace: string;
  readonly #nodes: readonly string[];
  readonly #onHandlerError: (error: unknown) => void;
  /** The replicas' HTTP servers, when the cluster serves HTTP. */
  readonly replicaServers: SimulatedReplicaServers | undefined;

  /** Protons and pods, and the indexes reads and the scheduler go through. */
  readonly #objects = new SimObjects();
  readonly #routes = new Map<string, WorkloadRoute>();
  readonly #injected = new Map<string, { fault: SimulatedFault; container?: string }>();
  readonly #subscribers = new Set<Subscriber>();
  readonly #clusterTimers = new Set<TimerHandle>();

  #queue: QueuedEvent[] = [];
  #deliveryScheduled = false;
  #resourceVersion = 1;
  #ipCounter = 1;
  #shutDown = false;
  readonly #dirty = new Set<string>();
  #reconciling = false;

  /** Builds an empty cluster; nothing runs until a proton is applied. */
  constructor(options: SimulatedClusterOptions = {}) {
    this.#timers = options.timers ?? realTimers;
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#namespace = options.namespace ?? 'workloads';
    this.#nodes = options.nodes ?? ['sim-node-1', 'sim-node-2', 'sim-node-3'];
    this.#onHandlerError = options.onHandlerError ?? ((e) => console.error('simulated cluster: pod event handler failed', e));
    this.replicaServers = options.serveHttp
      ? new SimulatedReplicaServers(options.serveHttp === true ? {} : options.serveHttp)
      : undefined;
  }

  // ---------------------------------------------------------------- the API (used by the port)

  /** Creates or updates a proton (a Deployment); see `ProtonRuntime.applyProton`. */
  applyProton(spec: ProtonSpec): ObservedProton {
    this.#assertRunning();
    assertValidProtonSpec(spec);
    const revision = protonRevision(spec);
    const existing = this.#objects.proton(spec.protonId);
    if (existing) {
      if (existing.deletionTimestamp) {
        throw new RuntimeConflictError(`proton ${spec.protonId} is being deleted; apply it again once it is gone`);
      }
      if (existing.spec.workloadId !== spec.workloadId) {
        throw new RuntimeConflictError(`proton ${spec.protonId} belongs to workload ${existing.spec.workloadId}, not ${spec.workloadId}`);
      }
      const importanceChanged = existing.spec.importance !== spec.importance;
      if (existing.revision !== revision) existing.generation += 1;
      existing.spec = spec;
      existing.revision = revision;
      if (importanceChanged) this.#relabel(spec.protonId, spec.importance);
    } else {
      this.#objects.addProton({
        spec,
        revision,
        generation: 1,
        createdAt: this.#timers.now(),
        replicaSetUids: new Map(),
      });
    }
    this.#requestReconcile(spec.protonId);
    return this.#observeProton(this.#objects.proton(spec.protonId)!);
  }

  /** Sets a proton's desired replicas; see `ProtonRuntime.scaleProton`. */
  scaleProton(protonId: string, replicas: number): ObservedProton {
    this.#assertRunning();
    assertValidReplicas(replicas);
    const proton = this.#objects.proton(protonId);
    if (!proton) throw new RuntimeNotFoundError('proton', protonId);
    if (proton.deletionTimestamp) throw new RuntimeConflictError(`proton ${protonId} is being deleted`);
    proton.spec = { ...proton.spec, replicas };
    this.#requestReconcile(protonId);
    return this.#observeProton(proton);
  }

  /** Deletes a proton in the foreground: its pods terminate gracefully, then it is gone. */
  deleteProton(protonId: string): void {
    this.#assertRunning();
    const proton = this.#objects.proton(protonId);
    if (!proton || proton.deletionTimestamp) return;
    proton.deletionTimestamp = this.#timers.now();
    this.#injected.delete(protonId);
    this.#requestReconcile(protonId);
  }

  /** Relabels every proton of the workload and their pods with the importance; restarts nothing. */
  setImportance(workloadId: string, importance: Importance): void {
    this.#assertRunning();
    for (const proton of this.#objects.protons({ workloadId })) {
      if (proton.spec.importance === importance) continue;
      proton.spec = { ...proton.spec, importance };
      this.#relabel(proton.spec.protonId, importance);
    }
  }

  /** The protons that exist, being deleted included. */
  listProtons(filter: RuntimeFilter = {}): ObservedProton[] {
    this.#assertRunning();
    return this.#objects.protons(filter).map((p) => this.#observeProton(p));
  }

  /** One proton, or undefined. */
  getProton(protonId: string): ObservedProton | undefined {
    this.#assertRunning();
    const proton = this.#objects.proton(protonId);
    return proton && this.#observeProton(proton);
  }

  /** Points the workload's route at a proton (or nowhere) in one step. */
  routeWorkload(workloadId: string, protonId: string | null): WorkloadRoute {
    this.#assertRunning();
    if (workloadId.trim() === '' || protonId?.trim() === '') throw new RuntimeInvalidError('route ids must not be empty');
    const route: WorkloadRoute = Object.freeze({ workloadId, protonId });
    this.#routes.set(workloadId, route);
    return route;
  }

  /** Removes the workload's route, if any. */
  deleteRoute(workloadId: string): void {
    this.#assertRunning();
    this.#routes.delete(workloadId);
  }

  /** The workload's route, or undefined. */
  getRoute(workloadId: string): WorkloadRoute | undefined {
    this.#assertRunning();
    return this.#routes.get(workloadId);
  }

  /** Every pod now, as frozen `V1Pod` objects. */
  listPods(filter: RuntimeFilter = {}): V1Pod[] {
    this.#assertRunning();
    return this.#objects.pods(filter).map((p) => p.snapshot!);
  }

  /** Subscribes a handler to pod events; with `replay`, it first gets an `added` event per existing pod. */
  subscribe(handler: PodEventHandler, replay = false): () => void {
    const subscriber: Subscriber = { handler };
    this.#subscribers.add(subscriber);
    if (replay) {
      for (const pod of this.#objects.allPods()) this.#enqueue({ type: 'added', pod: pod.snapshot! }, [subscriber]);
    }
    return () => {
      this.#subscribers.delete(subscriber);
    };
  }

  // ---------------------------------------------------------------- test and demo controls

  /**
   * Injects a fault into pods the proton creates from now on (existing pods keep their
   * behaviour; roll or scale the proton to get new ones). `null` removes the injected fault.
   * Takes precedence over `SIMULATE_FAULT` in the spec.
   */
  injectFault(protonId: string, fault: SimulatedFaultName | SimulatedFault | string | null, options: InjectFaultOptions = {}): void {
    if (fault === null) {
      this.#injected.delete(protonId);
      return;
    }
    const parsed = typeof fault === 'string' ? parseFault(fault) : { ok: true as const, fault };
    if (!parsed.ok) throw new RuntimeInvalidError(parsed.message);
    this.#injected.set(protonId, { fault: parsed.fault, ...(options.container !== undefined && { container: options.container }) });
  }

  /** Evicts a running pod now, as the kubelet does under node memory pressure. */
  evictPod(podName: string, message = 'The node was low on resource: memory.'): void {
    const pod = this.#requirePod(podName);
    if (pod.evicted || pod.deletionTimestamp) return;
    this.#evict(pod, message);
  }

  /** Makes a running container of a pod exit (default the primary), as a crash would. */
  killContainer(podName: string, containerName?: string, exit: { exitCode?: number; reason?: string } = {}): void {
    const pod = this.#requirePod(podName);
    const c = pod.containers.find((x) => (containerName === undefined ? x.spec.primary : x.spec.name === containerName));
    if (!c) throw new RuntimeNotFoundError('pod', `${podName} container ${containerName ?? '(primary)'}`);
    if (c.state.kind !== 'running' || pod.deletionTimestamp || pod.evicted) return;
    this.#clearContainerTimers(pod, c);
    this.#crash(pod, c, exit.exitCode ?? 1, exit.reason ?? 'Error', 'killed by the simulated cluster');
  }

  /** Resolves once every queued pod event has been delivered to the handlers. */
  async settled(): Promise<void> {
    while (this.#queue.length > 0 || this.#deliveryScheduled) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Stops the cluster: cancels every timer and drops subscribers; later calls fail with `RuntimeUnavailableError`. */
  shutdown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    for (const pod of this.#objects.allPods()) this.#clearPodTimers(pod);
    for (const t of this.#clusterTimers) this.#timers.clearTimeout(t);
    this.#clusterTimers.clear();
    this.#subscribers.clear();
    this.#queue = [];
    this.replicaServers?.killAll();
  }

  /** Whether `shutdown` was called. */
  get isShutDown(): boolean {
    return this.#shutDown;
  }

  // ---------------------------------------------------------------- the Deployment controller

  #requestReconcile(protonId: string): void {
    this.#dirty.add(protonId);
    if (this.#reconciling) return;
    this.#reconciling = true;
    try {
      while (this.#dirty.size > 0 && !this.#shutDown) {
        const [next] = this.#dirty;
        this.#dirty.delete(next!);
        this.#reconcile(next!);
      }
    } finally {
      this.#reconciling = false;
    }
  }

  #reconcile(protonId: string): void {
    const proton = this.#objects.proton(protonId);
    const pods = this.#objects.podsOf(protonId);
    if (!proton) return;
    if (proton.deletionTimestamp) {
      for (const pod of pods) this.#deletePod(pod);
      if (this.#objects.podsOf(protonId).length === 0) this.#objects.removeProton(proton);
      return;
    }
    // Like a ReplicaSet: pods being deleted and failed pods are not counted; they are replaced.
    const active = pods.filter((p) => !p.deletionTimestamp && !p.evicted);
    const current = active.filter((p) => p.revision === proton.revision);
    const old = active.filter((p) => p.revision !== proton.revision);
    const desired = proton.spec.replicas;

    if (old.length === 0 || desired === 0) {
      for (let i = current.length; i < desired; i++) this.#createPod(proton);
      for (const pod of pickForDeletion(current, current.length - desired)) this.#deletePod(pod);
      for (const pod of old) this.#deletePod(pod);
      return;
    }

    // Rolling update, maxSurge 25% (at least 1), maxUnavailable 0: new pods come up first.
    const maxSurge = Math.max(1, Math.ceil(desired * 0.25));
    const canCreate = Math.min(desired - current.length, desired + maxSurge - active.length);
    for (let i = 0; i < canCreate; i++) this.#createPod(proton);
    for (const pod of pickForDeletion(current, current.length - desired)) this.#deletePod(pod);
    // Old pods that do not serve can go at once; serving ones only as new ones become ready.
    const oldServing = old.filter(podReady);
    for (const pod of old.filter((p) => !podReady(p))) this.#deletePod(pod);
    const available = current.filter(podReady).length + oldServing.length;
    for (const pod of pickForDeletion(oldServing, Math.min(oldServing.length, available - desired))) this.#deletePod(pod);
  }

  #observeProton(p: SimProton): ObservedProton {
    const pods = this.#objects.podsOf(p.spec.protonId).filter((x) => !x.deletionTimestamp && !x.evicted);
    return Object.freeze({
      workloadId: p.spec.workloadId,
      protonId: p.spec.protonId,
      importance: p.spec.importance,
      replicas: p.spec.replicas,
      revision: p.revision,
      ...(p.spec.restartedAt && { restartedAt: p.spec.restartedAt }),
      generation: p.generation,
      creationTimestamp: p.createdAt,
      ...(p.deletionTimestamp && { deletionTimestamp: p.deletionTimestamp }),
      status: Object.freeze({
        replicas: pods.length,
        updatedReplicas: pods.filter((x) => x.revision === p.revision).length,
        readyReplicas: pods.filter(podReady).length,
      }),
    });
  }

  #relabel(protonId: string, importance: Importance): void {
    for (const pod of this.#objects.podsOf(protonId)) {
      if (pod.importance === importance) continue;
      pod.importance = importance;
      this.#publish(pod);
    }
  }

  // ---------------------------------------------------------------- pods: creation and scheduling

  #createPod(proton: SimProton): void {
    const spec = proton.spec;
    let rsUid = proton.replicaSetUids.get(proton.revision);
    if (rsUid === undefined) {
      rsUid = randomUUID();
      proton.replicaSetUids.set(proton.revision, rsUid);
    }
    const injected = this.#injected.get(spec.protonId);
    const containers: SimContainer[] = spec.containers.map((c) => {
      const fromEnv = faultFromEnv(c.env);
      const injectedHere = injected && (injected.container === undefined ? c.primary : injected.container === c.name);
      const fault = injectedHere ? injected.fault : fromEnv?.ok ? fromEnv.fault : undefined;
      return {
        spec: c,
        ...(fault && { fault }),
        ...(!injectedHere && fromEnv && !fromEnv.ok && { configError: fromEnv.message }),
        state: { kind: 'waiting', reason: 'ContainerCreating' },
        restartCount: 0,
        crashes: 0,
        pullFailures: 0,
        faultStruck: false,
        timers: new Set(),
      };
    });
    const podFault = containers.map((c) => c.fault).find((f) => f?.name === 'evicted' || f?.name === 'unschedulable');
    let name: string;
    do name = `${protonObjectName(spec.protonId)}-${proton.revision}-${randomSuffix()}`;
    while (this.#objects.pod(name));
    const pod: SimPod = {
      name,
      uid: randomUUID(),
      namespace: this.#namespace,
      workloadId: spec.workloadId,
      protonId: spec.protonId,
      revision: proton.revision,
      replicaSetUid: rsUid,
      createdAt: this.#timers.now(),
      ...(spec.restartedAt && { restartedAt: spec.restartedAt }),
      priorityImportance: spec.importance,
      importance: spec.importance,
      containers,
      ...(podFault && { podFault }),
      unschedulable: false,
      kubeletSynced: false,
      sandboxReady: false,
      timers: new Set(),
      conditionTimes: new Map(),
      resourceVersion: '0',
    };
    this.#objects.addPod(pod);
    this.#publish(pod, 'added');
    this.#after(pod, this.timings.scheduleMs, () => this.#schedule(pod));
  }

  #schedule(pod: SimPod): void {
    if (pod.podFault?.name === 'unschedulable') {
      pod.unschedulable = true;
      this.#publish(pod);
      return;
    }
    const node = this.#objects.place(pod, this.#nodes);
    pod.hostIP = `10.0.1.${10 + this.#nodes.indexOf(node)}`;
    this.#publish(pod);
    this.#after(pod, this.timings.kubeletSyncMs, () => this.#kubeletSync(pod));
  }

  #kubeletSync(pod: SimPod): void {
    pod.kubeletSynced = true;
    pod.startTime = this.#timers.now();
    this.#publish(pod);
    this.#after(pod, this.timings.containerCreatingMs, () => this.#sandboxReady(pod));
  }

  #sandboxReady(pod: SimPod): void {
    pod.sandboxReady = true;
    const n = this.#ipCounter++;
    pod.podIP = `10.244.${Math.floor(n / 250) % 250}.${(n % 250) + 2}`;
    for (const c of pod.containers) this.#startOrFail(pod, c);
    this.#publish(pod);
  }

  // ---------------------------------------------------------------- containers

  /** Starts a container whose image is in place, or shows why it cannot start. Does not publish. */
  #startOrFail(pod: SimPod, c: SimContainer): void {
    if (c.configError !== undefined) {
      c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: c.configError };
      return;
    }
    if (c.fault?.name === 'image-pull-failure') {
      this.#pullFailed(pod, c);
      return;
    }
    c.imageID = `${c.spec.image.split('@')[0]!.replace(/:[^/:]*$/, '')}@sha256:${sha256(c.spec.image)}`;
    this.#run(pod, c);
  }

  #pullFailed(pod: SimPod, c: SimContainer): void {
    c.pullFailures += 1;
    const image = c.spec.image;
    c.state = {
      kind: 'waiting',
      reason: 'ErrImagePull',
      message: `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${image}: not found`,
    };
    const backOff = Math.min(this.timings.imagePullBackOffMs * 2 ** (c.pullFailures - 1), this.timings.imagePullBackOffMaxMs);
    this.#after(pod, c.fault?.afterMs ?? this.timings.imagePullBackOffMs, () => {
      c.state = { kind: 'waiting', reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` };
      this.#publish(pod);
      this.#after(pod, backOff, () => {
        this.#pullFailed(pod, c);
        this.#publish(pod);
      }, c);
    }, c);
  }

  /** Runs a container (a fresh start or a restart). Does not publish. */
  #run(pod: SimPod, c: SimContainer): void {
    c.state = { kind: 'running', startedAt: this.#timers.now(), ready: false, containerID: `containerd://${sha256(randomUUID())}` };
    const fault = c.fault?.name;
    if (fault === 'crash-loop' || fault === 'oom-killed' || (fault === 'crash-loop-after-ready' && c.faultStruck)) {
      const afterMs = fault === 'crash-loop-after-ready' ? this.timings.crashAfterMs : (c.fault?.afterMs ?? this.timings.crashAfterMs);
      this.#after(pod, afterMs, () => {
        if (fault === 'oom-killed') this.#crash(pod, c, 137, 'OOMKilled');
        else this.#crash(pod, c, 1, 'Error', crashMessage(c));
      }, c);
      return;
    }
    if (fault === 'never-ready') return;
    const readyMs = fault === 'slow-start' ? (c.fault?.afterMs ?? this.timings.slowStartMs) : this.timings.readinessMs;
    this.#after(pod, readyMs, () => this.#becomeReady(pod, c), c);
  }

  #becomeReady(pod: SimPod, c: SimContainer): void {
    if (c.state.kind !== 'running') return;
    c.state = { ...c.state, ready: true };
    this.#publish(pod);
    const fault = c.fault;
    if (fault && !c.faultStruck && ['evicted', 'restart-after-ready', 'crash-loop-after-ready'].includes(fault.name)) {
      c.faultStruck = true;
      this.#after(pod, fault.afterMs ?? this.timings.faultAfterReadyMs, () => {
        if (fault.name === 'evicted') this.#evict(pod, `The node was low on resource: memory. Threshold quantity: 100Mi, available: 91572Ki. Container ${c.spec.name} was using 1532Mi, request is ${c.spec.resources?.memory ?? '0'}, has larger consumption of memory. `);
        else this.#crash(pod, c, 1, 'Error', crashMessage(c));
      }, c);
    }
    this.#requestReconcile(pod.protonId);
  }

  /** A running container exits; the kubelet restarts it at once the first time, then with `CrashLoopBackOff`. Publishes. */
  #crash(pod: SimPod, c: SimContainer, exitCode: number, reason: string, message?: string): void {
    if (c.state.kind !== 'running') return;
    const wasReady = c.state.ready;
    const termination: SimTermination = {
      exitCode,
      reason,
      ...(message !== undefined && { message }),
      startedAt: c.state.startedAt,
      finishedAt: this.#timers.now(),
      containerID: c.state.containerID,
    };
    c.state = { kind: 'terminated', ...termination };
    c.crashes += 1;
    this.#publish(pod);
    if (wasReady) this.#requestReconcile(pod.protonId);
    this.#after(pod, this.timings.restartDelayMs, () => {
      c.lastTermination = termination;
      if (c.crashes <= 1) {
        c.restartCount += 1;
        this.#run(pod, c);
        this.#publish(pod);
        return;
      }
      const backOff = Math.min(this.timings.crashBackOffMs * 2 ** (c.crashes - 2), this.timings.crashBackOffMaxMs);
      c.state = {
        kind: 'waiting',
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatBackOff(backOff)} restarting failed container=${c.spec.name} pod=${pod.name}_${pod.namespace}(${pod.uid})`,
      };
      this.#publish(pod);
      this.#after(pod, backOff, () => {
        c.restartCount += 1;
        this.#run(pod, c);
        this.#publish(pod);
      }, c);
    }, c);
  }

  #evict(pod: SimPod, message: string): void {
    this.#clearPodTimers(pod);
    const now = this.#timers.now();
    for (const c of pod.containers) {
      const s = c.state;
      const startedAt = s.kind === 'running' ? s.startedAt : s.kind === 'terminated' ? s.startedAt : now;
      const containerID = s.kind === 'waiting' ? `containerd://${sha256(randomUUID())}` : s.containerID;
      c.state = { kind: 'terminated', exitCode: 137, reason: 'Error', startedAt, finishedAt: now, containerID };
    }
    pod.evicted = { at: now, message };
    this.#publish(pod);
    // Failed pods stay until garbage collected; the ReplicaSet replaces them at once.
    this.#after(pod, this.timings.failedPodGcMs, () => this.#remove(pod));
    this.#requestReconcile(pod.protonId);
  }

  // ---------------------------------------------------------------- pods: deletion

  #deletePod(pod: SimPod): void {
    if (pod.deletionTimestamp || !this.#objects.pod(pod.name)) return;
    this.#clearPodTimers(pod);
    pod.deletionTimestamp = new Date(this.#timers.now().getTime() + GRACE_SECONDS * 1000);
    // No kubelet holds an unbound pod, and a failed pod has nothing left to stop: gone at once.
    if (!pod.nodeName || podPhase(pod) === 'Failed') {
      this.#remove(pod);
      return;
    }
    this.#publish(pod);
    this.#after(pod, this.timings.terminationMs, () => this.#remove(pod));
  }

  #remove(pod: SimPod): void {
    if (!this.#objects.pod(pod.name)) return;
    this.#clearPodTimers(pod);
    this.#objects.removePod(pod);
    this.replicaServers?.removed(pod);
    pod.resourceVersion = String(++this.#resourceVersion);
    pod.snapshot = renderPod(pod, this.#timers.now());
    this.#enqueue({ type: 'deleted', pod: pod.snapshot });
    this.#requestReconcile(pod.protonId);
  }

  // ---------------------------------------------------------------- plumbing

  /** Runs `fn` after `ms` unless the pod is gone by then; `c` ties the timer to a container too. */
  #after(pod: SimPod, ms: number, fn: () => void, c?: SimContainer): void {
    const handle = this.#timers.setTimeout(() => {
      pod.timers.delete(handle);
      c?.timers.delete(handle);
      if (this.#shutDown || !this.#objects.pod(pod.name)) return;
      fn();
    }, ms);
    pod.timers.add(handle);
    c?.timers.add(handle);
  }

  #clearPodTimers(pod: SimPod): void {
    for (const t of pod.timers) this.#timers.clearTimeout(t);
    pod.timers.clear();
    for (const c of pod.containers) c.timers.clear();
  }

  #clearContainerTimers(pod: SimPod, c: SimContainer): void {
    for (const t of c.timers) {
      this.#timers.clearTimeout(t);
      pod.timers.delete(t);
    }
    c.timers.clear();
  }

  /** Renders the pod after a change and queues the event. */
  #publish(pod: SimPod, type: 'added' | 'modified' = 'modified'): void {
    if (!this.#objects.pod(pod.name)) return;
    const previous = pod.snapshot;
    pod.resourceVersion = String(++this.#resourceVersion);
    pod.snapshot = renderPod(pod, this.#timers.now());
    this.replicaServers?.sync(pod);
    this.#enqueue(type === 'added' || !previous ? { type: 'added', pod: pod.snapshot } : { type: 'modified', pod: pod.snapshot, previous });
  }

  #enqueue(event: PodEvent, to: readonly Subscriber[] = [...this.#subscribers]): void {
    if (to.length === 0) return;
    this.#queue.push({ event, to });
    if (this.#deliveryScheduled) return;
    this.#deliveryScheduled = true;
    queueMicrotask(() => this.#deliver());
  }

  #deliver(): void {
    while (this.#queue.length > 0) {
      const { event, to } = this.#queue.shift()!;
      for (const s of to) {
        if (!this.#subscribers.has(s)) continue;
        try {
          s.handler(event);
        } catch (error) {
          this.#onHandlerError(error);
        }
      }
    }
    this.#deliveryScheduled = false;
  }

  #requirePod(podName: string): SimPod {
    const pod = this.#objects.pod(podName);
    if (!pod) throw new RuntimeNotFoundError('pod', podName);
    return pod;
  }

  #assertRunning(): void {
    if (this.#shutDown) throw new RuntimeUnavailableError('the simulated cluster is shut down');
  }
}

/** The pods a ReplicaSet deletes first: unscheduled, then pending, then not ready, most restarts, newest. */
function pickForDeletion(pods: readonly SimPod[], count: number): SimPod[] {
  if (count <= 0) return [];
  const rank = (p: SimPod): number[] => [
    p.nodeName ? 1 : 0,
    podPhase(p) === 'Pending' ? 0 : 1,
    p.containers.every(containerReady) ? 1 : 0,
    -podRestarts(p),
    -p.createdAt.getTime(),
  ];
  return [...pods]
    .sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
      return a.name < b.name ? 1 : -1;
    })
    .slice(0, count);
}

function crashMessage(c: SimContainer): string {
  return `simulated crash (${c.fault ? `SIMULATE_FAULT=${c.fault.name}` : 'killed'}): exit code 1`;
}

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return s;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Formats a back-off like the kubelet (`10s`, `1m20s`, `5m0s`). */
function formatBackOff(ms: number): string {
  const total = Math.round(ms / 1000);
  if (total < 60) return ms < 1000 ? `${ms}ms` : `${total}s`;
  return `${Math.floor(total / 60)}m${total % 60}s`;
}
