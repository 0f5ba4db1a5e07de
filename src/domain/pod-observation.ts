/**
 * A pure mapper from a Kubernetes pod to the few facts status derivation needs. Everything
 * downstream (replica state, proton and workload status) reads this observation, never the pod,
 * so the simulated runtime can produce observations directly and the Kubernetes runtime only has
 * to call `observePod`.
 */
import type {
  V1Container,
  V1ContainerState,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
} from '@kubernetes/client-node';
import { DISRUPTION_POD_REASONS } from './reasons.js';

/** The pod phases Kubernetes reports. */
export const POD_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] as const;
export type PodPhase = (typeof POD_PHASES)[number];

/** Where a container sits in the pod: an init step, a sidecar (restartable init), or a regular container. */
export type ContainerKind = 'init' | 'sidecar' | 'app';

/** The current state of one container; `unreported` until the kubelet first reports it. */
export type ContainerStateKind = 'waiting' | 'running' | 'terminated' | 'unreported';

/** A container's previous termination (`lastState.terminated`), the evidence of a restart. */
export interface ContainerTermination {
  readonly reason?: string;
  readonly message?: string;
  readonly exitCode: number;
  readonly finishedAt?: Date;
}

/** The observed facts of one container. */
export interface ContainerObservation {
  readonly name: string;
  readonly kind: ContainerKind;
  /** The container that serves the workload's traffic. */
  readonly primary: boolean;
  readonly state: ContainerStateKind;
  /** Waiting or terminated reason (e.g. `CrashLoopBackOff`, `OOMKilled`). */
  readonly reason?: string;
  readonly message?: string;
  /** Exit code when `state` is `terminated`. */
  readonly exitCode?: number;
  readonly startedAt?: Date;
  readonly finishedAt?: Date;
  readonly ready: boolean;
  readonly started: boolean;
  readonly restartCount: number;
  readonly lastTermination?: ContainerTermination;
  /** Whether the kubelet will start this container again after it terminates. */
  readonly restartsOnExit: boolean;
}

/** One pod condition with its date parsed. */
export interface PodConditionObservation {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: Date;
}

/** Why the cluster took a pod away (eviction, preemption, node loss). */
export interface PodDisruption {
  readonly reason: string;
  readonly message?: string;
}

/** The domain's view of one pod (one replica of a proton). */
export interface PodObservation {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly phase: PodPhase;
  /** Pod-level `status.reason` / `status.message` (e.g. `Evicted`). */
  readonly reason?: string;
  readonly message?: string;
  readonly nodeName?: string;
  readonly creationTimestamp?: Date;
  /** When the pod will be removed at the latest (deletion request + grace period). */
  readonly deletionTimestamp?: Date;
  /** When its deletion was requested: `deletionTimestamp` minus `deletionGracePeriodSeconds`. */
  readonly deletionRequestedAt?: Date;
  readonly conditions: readonly PodConditionObservation[];
  /** Init containers in spec order, sidecars included (`kind: 'sidecar'`). */
  readonly initContainers: readonly ContainerObservation[];
  /** Regular containers in spec order. */
  readonly containers: readonly ContainerObservation[];
  /** Name of the primary container, if the pod has any regular container. */
  readonly primaryContainer?: string;
  /** The primary container is ready (the one whose readiness means "can serve"). */
  readonly primaryReady: boolean;
  /** Every regular container and every sidecar is ready. */
  readonly containersReady: boolean;
  /** The pod's `Ready` condition; `undefined` when not reported yet. */
  readonly readyCondition?: boolean;
  /** The pod's `ContainersReady` condition (the kubelet's own verdict); `undefined` when not reported yet. */
  readonly containersReadyCondition?: boolean;
  /** Condition types of `spec.readinessGates` that are not `True` yet. */
  readonly pendingReadinessGates: readonly string[];
  /** Ready to serve: primary ready, all containers and sidecars ready, and the pod not marked unready. */
  readonly servingReady: boolean;
  /** Sum of restart counts of regular containers and sidecars. */
  readonly restartCount: number;
  readonly disruption?: PodDisruption;
}

/** Options of `observePod`. */
export interface ObservePodOptions {
  /** Name of the container that serves traffic; default: the pod's `kubectl.kubernetes.io/default-container` annotation, else the first regular container. */
  readonly primaryContainer?: string;
}

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** Maps a Kubernetes pod (typed object or raw API JSON with string dates) to a `PodObservation`. */
export function observePod(pod: V1Pod, opts: ObservePodOptions = {}): PodObservation {
  const spec = pod.spec;
  const status = pod.status;
  const podRestartPolicy = spec?.restartPolicy ?? 'Always';
  const regularSpecs = spec?.containers ?? [];
  const primaryName =
    opts.primaryContainer ??
    pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION] ??
    regularSpecs[0]?.name;

  const initContainers = (spec?.initContainers ?? []).map((c) => {
    const kind: ContainerKind = c.restartPolicy === 'Always' ? 'sidecar' : 'init';
    return observeContainer(c, findStatus(status?.initContainerStatuses, c.name), {
      kind,
      primary: false,
      restartsOnExit: kind === 'sidecar' || podRestartPolicy !== 'Never',
    });
  });
  const containers = regularSpecs.map((c) =>
    observeContainer(c, findStatus(status?.containerStatuses, c.name), {
      kind: 'app',
      primary: c.name === primaryName,
      restartsOnExit: podRestartPolicy === 'Always',
    }),
  );

  const conditions = (status?.conditions ?? []).map(observeCondition);
  const readyCond = conditions.find((c) => c.type === 'Ready');
  const readyCondition = readyCond === undefined ? undefined : readyCond.status === 'True';
  const containersReadyCond = conditions.find((c) => c.type === 'ContainersReady');
  const pendingReadinessGates = (spec?.readinessGates ?? [])
    .map((g) => g.conditionType)
    .filter((type) => conditions.find((c) => c.type === type)?.status !== 'True');
  const deletionTimestamp = toDate(pod.metadata?.deletionTimestamp);
  const primary = containers.find((c) => c.primary);
  const primaryReady = primary?.ready ?? false;
  const serving = [...containers, ...initContainers.filter((c) => c.kind === 'sidecar')];
  const containersReady = serving.length > 0 && serving.every((c) => c.ready);
  const phase = parsePhase(status?.phase);

  return omitUndefined({
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace,
    uid: pod.metadata?.uid,
    phase,
    reason: status?.reason,
    message: status?.message,
    nodeName: spec?.nodeName || undefined,
    creationTimestamp: toDate(pod.metadata?.creationTimestamp),
    deletionTimestamp,
    deletionRequestedAt:
      deletionTimestamp === undefined
        ? undefined
        : new Date(deletionTimestamp.getTime() - (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000),
    conditions,
    initContainers,
    containers,
    primaryContainer: primary?.name,
    primaryReady,
    containersReady,
    readyCondition,
    containersReadyCondition: containersReadyCond === undefined ? undefined : containersReadyCond.status === 'True',
    pendingReadinessGates,
    servingReady: phase === 'Running' && primaryReady && containersReady && readyCondition !== false,
    restartCount: serving.reduce((sum, c) => sum + c.restartCount, 0),
    disruption: findDisruption(status?.reason, status?.message, conditions),
  });
}

/** Every container of the observation, most relevant first: primary, other regular, sidecars, init. */
export function containersByRelevance(obs: PodObservation): readonly ContainerObservation[] {
  const rank = (c: ContainerObservation): number =>
    c.primary ? 0 : c.kind === 'app' ? 1 : c.kind === 'sidecar' ? 2 : 3;
  return [...obs.containers, ...obs.initContainers]
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i)
    .map(({ c }) => c);
}

/** The condition of the given type, if the pod reports it. */
export function findCondition(
  obs: PodObservation,
  type: string,
): PodConditionObservation | undefined {
  return obs.conditions.find((c) => c.type === type);
}

function findStatus(
  statuses: readonly V1ContainerStatus[] | undefined,
  name: string,
): V1ContainerStatus | undefined {
  return statuses?.find((s) => s.name === name);
}

function observeContainer(
  spec: V1Container,
  status: V1ContainerStatus | undefined,
  base: { kind: ContainerKind; primary: boolean; restartsOnExit: boolean },
): ContainerObservation {
  const current = describeState(status?.state);
  const last = status?.lastState?.terminated;
  return omitUndefined({
    name: spec.name,
    kind: base.kind,
    primary: base.primary,
    ...current,
    ready: status?.ready ?? false,
    started: status?.started ?? current.state === 'running',
    restartCount: status?.restartCount ?? 0,
    lastTermination:
      last === undefined
        ? undefined
        : omitUndefined({
            reason: last.reason,
            message: last.message,
            exitCode: last.exitCode,
            finishedAt: toDate(last.finishedAt),
          }),
    restartsOnExit: base.restartsOnExit,
  });
}

function describeState(state: V1ContainerState | undefined): {
  state: ContainerStateKind;
  reason?: string;
  message?: string;
  exitCode?: number;
  startedAt?: Date;
  finishedAt?: Date;
} {
  if (state?.terminated) {
    const t = state.terminated;
    return {
      state: 'terminated',
      reason: t.reason,
      message: t.message,
      exitCode: t.exitCode,
      startedAt: toDate(t.startedAt),
      finishedAt: toDate(t.finishedAt),
    };
  }
  if (state?.running) return { state: 'running', startedAt: toDate(state.running.startedAt) };
  if (state?.waiting) {
    return { state: 'waiting', reason: state.waiting.reason, message: state.waiting.message };
  }
  return { state: 'unreported' };
}

function observeCondition(c: V1PodCondition): PodConditionObservation {
  const status = c.status === 'True' || c.status === 'False' ? c.status : 'Unknown';
  return omitUndefined({
    type: c.type,
    status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: toDate(c.lastTransitionTime),
  });
}

function findDisruption(
  reason: string | undefined,
  message: string | undefined,
  conditions: readonly PodConditionObservation[],
): PodDisruption | undefined {
  // The pod's own reason says it in the user's words (`Evicted`, `Terminated` for a node
  // shutdown, `NodeLost`); the DisruptionTarget condition (Kubernetes >= 1.26) names the cause
  // otherwise (PreemptionByScheduler, EvictionByEvictionAPI, DeletionByTaintManager, ...).
  const target = conditions.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (reason !== undefined && reason !== '' && (target !== undefined || DISRUPTION_POD_REASONS.has(reason))) {
    return omitUndefined({ reason, message: message ?? target?.message });
  }
  if (target) return omitUndefined({ reason: target.reason ?? 'DisruptionTarget', message: target.message });
  return undefined;
}

function parsePhase(phase: string | undefined): PodPhase {
  // A pod just created may not carry a status yet: the API server defaults it to Pending.
  if (phase === undefined) return 'Pending';
  return isPodPhase(phase) ? phase : 'Unknown';
}

function isPodPhase(phase: string): phase is PodPhase {
  return (POD_PHASES as readonly string[]).includes(phase);
}

/** Accepts a `Date` (client-node objects) or an RFC 3339 string (raw API JSON). */
function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === 'string' && value !== '') {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

/** Drops keys whose value is `undefined`, so observations compare cleanly with `toEqual`. */
function omitUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
