/**
 * The simulated kubelet's record of one pod and its containers, and its rendering as the
 * `V1Pod` the Kubernetes API would return at that moment. Records are mutable and private to
 * the cluster; every rendering is a fresh, deeply frozen object.
 */
import type {
  V1Container,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
} from '@kubernetes/client-node';
import type { Importance } from '../../domain/model.js';
import { LABELS, PRIORITY_CLASSES, protonObjectName } from '../conventions.js';
import { podTemplate, TERMINATION_GRACE_SECONDS } from '../pod-template.js';
import type { ProtonContainer } from '../proton-runtime.js';
import type { SimulatedFault } from './faults.js';
import type { TimerHandle } from './timers.js';

/** A container's previous or current termination. */
export interface SimTermination {
  readonly exitCode: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly containerID: string;
}

/** What a container is doing now. */
export type SimContainerState =
  | { readonly kind: 'waiting'; readonly reason: string; readonly message?: string }
  | { readonly kind: 'running'; readonly startedAt: Date; readonly ready: boolean; readonly containerID: string }
  | ({ readonly kind: 'terminated' } & SimTermination);

/** One container of a simulated pod. */
export interface SimContainer {
  readonly spec: ProtonContainer;
  readonly fault?: SimulatedFault;
  /** Shown as `CreateContainerConfigError` instead of starting (e.g. an unknown fault name). */
  readonly configError?: string;
  state: SimContainerState;
  lastTermination?: SimTermination;
  restartCount: number;
  /** Set once the image was pulled. */
  imageID?: string;
  /** Crashes so far; the back-off grows with them. */
  crashes: number;
  /** Failed image pulls so far. */
  pullFailures: number;
  /** The after-ready fault has struck (it strikes once per container). */
  faultStruck: boolean;
  /** Timers that advance this container (also held in the pod's set). */
  readonly timers: Set<TimerHandle>;
}

/** One simulated pod. */
export interface SimPod {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly workloadId: string;
  readonly protonId: string;
  readonly revision: string;
  readonly replicaSetUid: string;
  readonly createdAt: Date;
  readonly restartedAt?: Date;
  /** Priority class is fixed at creation, like a real pod's. */
  readonly priorityImportance: Importance;
  importance: Importance;
  readonly containers: SimContainer[];
  /** The pod-level fault, if any (`evicted`, `unschedulable`). */
  readonly podFault?: SimulatedFault;
  unschedulable: boolean;
  nodeName?: string;
  hostIP?: string;
  podIP?: string;
  startTime?: Date;
  /** The kubelet has taken the pod (container statuses reported). */
  kubeletSynced: boolean;
  /** The sandbox is up (PodReadyToStartContainers). */
  sandboxReady: boolean;
  deletionTimestamp?: Date;
  evicted?: { readonly at: Date; readonly message: string };
  readonly timers: Set<TimerHandle>;
  readonly conditionTimes: Map<string, { status: string; time: Date }>;
  resourceVersion: string;
  snapshot?: V1Pod;
}

/** Whether the container has started at least once (it has, or had, a container id). */
export function everStarted(c: SimContainer): boolean {
  return c.state.kind !== 'waiting' || c.lastTermination !== undefined;
}

/** Whether the container is running and ready. */
export function containerReady(c: SimContainer): boolean {
  return c.state.kind === 'running' && c.state.ready;
}

/** Whether every container of the pod is ready and the pod serves. */
export function podReady(pod: SimPod): boolean {
  return podPhase(pod) === 'Running' && pod.containers.every(containerReady) && !pod.deletionTimestamp;
}

/** The pod's phase from its facts. */
export function podPhase(pod: SimPod): 'Pending' | 'Running' | 'Failed' {
  if (pod.evicted) return 'Failed';
  if (!pod.kubeletSynced) return 'Pending';
  return pod.containers.every(everStarted) ? 'Running' : 'Pending';
}

/** The total restarts of the pod's containers. */
export function podRestarts(pod: SimPod): number {
  return pod.containers.reduce((n, c) => n + c.restartCount, 0);
}

/** Renders the record as the API would return it; updates the record's condition transition times. */
export function renderPod(pod: SimPod, now: Date): V1Pod {
  const phase = podPhase(pod);
  const priority = PRIORITY_CLASSES[pod.priorityImportance];
  // The same template a Deployment of the Kubernetes adapter carries, plus what the API server adds.
  const template = podTemplate({
    workloadId: pod.workloadId,
    protonId: pod.protonId,
    revision: pod.revision,
    importance: pod.importance,
    priorityImportance: pod.priorityImportance,
    ...(pod.restartedAt && { restartedAt: pod.restartedAt }),
    containers: pod.containers.map((c) => c.spec),
  });
  const pod_: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      generateName: `${protonObjectName(pod.protonId)}-${pod.revision}-`,
      namespace: pod.namespace,
      uid: pod.uid,
      resourceVersion: pod.resourceVersion,
      creationTimestamp: pod.createdAt,
      labels: { ...template.metadata.labels, [LABELS.podTemplateHash]: pod.revision },
      annotations: template.metadata.annotations,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${protonObjectName(pod.protonId)}-${pod.revision}`,
          uid: pod.replicaSetUid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      ...(pod.deletionTimestamp && { deletionTimestamp: pod.deletionTimestamp, deletionGracePeriodSeconds: GRACE_SECONDS }),
    },
    spec: {
      ...template.spec,
      containers: (template.spec.containers ?? []).map(withApiDefaults),
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      schedulerName: 'default-scheduler',
      priority: priority.value,
      preemptionPolicy: 'PreemptLowerPriority',
      ...(pod.nodeName && { nodeName: pod.nodeName }),
    },
    status: {
      phase,
      qosClass: qosClass(pod),
      ...(pod.evicted && { reason: 'Evicted', message: pod.evicted.message }),
      ...(pod.hostIP && { hostIP: pod.hostIP, hostIPs: [{ ip: pod.hostIP }] }),
      ...(pod.podIP && !pod.evicted && { podIP: pod.podIP, podIPs: [{ ip: pod.podIP }] }),
      ...(pod.startTime && { startTime: pod.startTime }),
      conditions: renderConditions(pod, now),
      ...(pod.kubeletSynced && { containerStatuses: pod.containers.map(renderContainerStatus) }),
    },
  };
  return deepFreeze(pod_);
}

/** The grace period every simulated pod declares (`terminationGracePeriodSeconds`). */
export const GRACE_SECONDS = TERMINATION_GRACE_SECONDS;

function renderConditions(pod: SimPod, now: Date): V1PodCondition[] {
  const wanted: { type: string; status: 'True' | 'False'; reason?: string; message?: string }[] = [];
  if (pod.evicted) {
    wanted.push({ type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message: pod.evicted.message });
  }
  if (pod.kubeletSynced) {
    const unready = pod.containers.filter((c) => !containerReady(c)).map((c) => c.spec.name);
    const notReady = { reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]` };
    const ready = unready.length === 0 && !pod.evicted;
    wanted.push(
      { type: 'PodReadyToStartContainers', status: pod.sandboxReady && !pod.evicted ? 'True' : 'False' },
      { type: 'Initialized', status: 'True' },
      { type: 'Ready', status: ready ? 'True' : 'False', ...(!ready && notReady) },
      { type: 'ContainersReady', status: ready ? 'True' : 'False', ...(!ready && notReady) },
    );
  }
  if (pod.nodeName) {
    wanted.push({ type: 'PodScheduled', status: 'True' });
  } else if (pod.unschedulable) {
    wanted.push({
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message: '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
    });
  }
  return wanted.map((c) => {
    const previous = pod.conditionTimes.get(c.type);
    const time = previous && previous.status === c.status ? previous.time : now;
    pod.conditionTimes.set(c.type, { status: c.status, time });
    return { ...c, lastTransitionTime: time };
  });
}

function renderContainerStatus(c: SimContainer): V1ContainerStatus {
  const s = c.state;
  const state =
    s.kind === 'waiting'
      ? { waiting: { reason: s.reason, ...(s.message !== undefined && { message: s.message }) } }
      : s.kind === 'running'
        ? { running: { startedAt: s.startedAt } }
        : { terminated: renderTermination(s) };
  const containerID = s.kind === 'waiting' ? c.lastTermination?.containerID : s.containerID;
  return {
    name: c.spec.name,
    state,
    lastState: c.lastTermination ? { terminated: renderTermination(c.lastTermination) } : {},
    ready: containerReady(c),
    restartCount: c.restartCount,
    image: c.spec.image,
    imageID: c.imageID ?? '',
    started: s.kind === 'running',
    ...(containerID !== undefined && { containerID }),
  };
}

function renderTermination(t: SimTermination) {
  return {
    exitCode: t.exitCode,
    reason: t.reason,
    ...(t.message !== undefined && { message: t.message }),
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    containerID: t.containerID,
  };
}

/** A template container as the API server returns it (with the fields it defaults). */
function withApiDefaults(c: V1Container): V1Container {
  return { ...c, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' };
}

function qosClass(pod: SimPod): string {
  const any = pod.containers.some((c) => c.spec.resources?.cpu || c.spec.resources?.memory);
  return any ? 'Burstable' : 'BestEffort';
}

/** Freezes an object graph (Dates included), so no consumer can mutate what the cluster emitted. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}
