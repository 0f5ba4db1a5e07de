/**
 * The state of one replica (pod), from its observation, per the predicate table of SPEC.md
 * section 2. The predicates are checked in a fixed order (see `deriveReplicaState`); the first
 * that matches decides, and the Kubernetes reason and message that made it match are carried up.
 * The answer depends on the pod and its proton's persisted context only (no process memory).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ContainerObservation, PodObservation } from './pod-observation.js';
import { containersByRelevance, findCondition, observePod } from './pod-observation.js';
import type { ReplicaStatus } from './proton-status.js';
import { FATAL_WAITING_REASONS, REASONS, TRANSIENT_WAITING_REASONS } from './reasons.js';

/**
 * What the pod cannot say about itself: where its proton is in its lifecycle. This comes from
 * persisted state (the workload's stored lifecycle), never from what a process remembers, so a
 * controller that just restarted or took over derives the same state from the same pod.
 */
export interface ReplicaContext {
  /** The proton is being updated or restarted in place: not-ready replicas are `initializing`. */
  readonly updatingInPlace?: boolean;
  /** The proton is a candidate inside its warm-up window: ready replicas are `warming`. */
  readonly warmingUp?: boolean;
  /** The proton is an old active taken out of traffic in a replace: ready or deleting replicas are `draining`. */
  readonly draining?: boolean;
}

/** A replica's state with the reason and message that explain it. */
export interface ReplicaState {
  readonly state: ReplicaStatus;
  readonly reason?: string;
  readonly message?: string;
  /** The container the reason comes from, when it comes from one. */
  readonly container?: string;
}

/** Derives a replica's state straight from a Kubernetes pod (`observePod` then `deriveReplicaState`). */
export function deriveReplicaStateOfPod(pod: V1Pod, ctx: ReplicaContext = {}): ReplicaState {
  return deriveReplicaState(observePod(pod), ctx);
}

/**
 * Derives a replica's state from its pod observation and its proton's context, and from nothing
 * else; the first matching predicate wins: unknown phase, disruption, deletion (unless the pod
 * had failed before), Failed, Succeeded, fatal waiting reason, terminated for good, restart,
 * ErrImagePull, Pending, then readiness (waiting reasons and restarts before readiness).
 */
export function deriveReplicaState(obs: PodObservation, ctx: ReplicaContext = {}): ReplicaState {
  const containers = containersByRelevance(obs);

  // Phase Unknown: the kubelet stopped reporting. Node loss is the cluster's doing: interrupted.
  if (obs.phase === 'Unknown') {
    if (obs.reason === REASONS.NodeLost) return state('interrupted', obs.reason, obs.message);
    return state('unknown', obs.reason, obs.message ?? 'the pod state could not be obtained');
  }

  // Disruption before deletion: a preempted pod is also being deleted, and "preempted" is the truth.
  if (obs.disruption) return state('interrupted', obs.disruption.reason, obs.disruption.message);

  // A pod that had failed before anyone deleted it keeps its failure: the deletion is clean-up.
  // (The kubelet also moves a pod it is stopping to Failed when a container exits non-zero on
  // SIGTERM; that failure comes after the deletion request and is part of stopping.)
  if (obs.deletionTimestamp && !(obs.phase === 'Failed' && failedBeforeDeletion(obs, containers))) {
    return state(ctx.draining ? 'draining' : 'stopping', undefined, 'the pod is being deleted');
  }

  if (obs.phase === 'Failed') {
    const failed = containers.find((c) => c.state === 'terminated' && c.exitCode !== 0);
    return state(
      'errored',
      obs.reason ?? failed?.reason ?? 'Failed',
      obs.message ?? (failed ? terminatedMessage(failed) : 'the pod failed'),
      obs.reason === undefined ? failed?.name : undefined,
    );
  }

  // A service is supposed to run forever; a pod whose containers all exited is a broken service.
  if (obs.phase === 'Succeeded') {
    const exited = containers.find((c) => c.kind === 'app' && c.state === 'terminated');
    return state(
      'errored',
      REASONS.ServiceExited,
      exited
        ? `${terminatedMessage(exited)}; a service must keep running`
        : 'all containers exited; a service must keep running',
      exited?.name,
    );
  }

  // Waiting reasons before readiness: CrashLoopBackOff is not a phase, and a crash-looping
  // container may sit in a pod whose Ready condition has not caught up yet.
  const fatal = containers.find(
    (c) => c.state === 'waiting' && c.reason !== undefined && FATAL_WAITING_REASONS.has(c.reason),
  );
  if (fatal) {
    // Repeated crashes end in CrashLoopBackOff: say what the crashes were (OOMKilled, Error).
    const last = fatal.lastTermination;
    const lastExit = last && fatal.restartCount > 0 ? `; last exit: ${last.reason ?? 'Error'} (exit code ${last.exitCode})` : '';
    return state('errored', fatal.reason, `${fatal.message ?? fatal.reason}${lastExit}`, fatal.name);
  }

  const deadForGood = containers.find(
    (c) => c.state === 'terminated' && c.exitCode !== 0 && !c.restartsOnExit,
  );
  if (deadForGood) {
    return state('errored', deadForGood.reason ?? 'Error', terminatedMessage(deadForGood), deadForGood.name);
  }

  // A container that crashed and is (or is about to be) restarted, in a pod that is not ready:
  // restarting, whatever the crash was. A single OOMKill is restarting too; only the back-off of
  // repeated crashes (CrashLoopBackOff, above) is errored.
  if (!obs.servingReady) {
    const restart = containers.map(restartOf).find((r) => r !== undefined);
    if (restart) return { state: 'restarting', ...restart };
  }

  const transient = containers.find(
    (c) => c.state === 'waiting' && c.reason !== undefined && TRANSIENT_WAITING_REASONS.has(c.reason),
  );
  // During an in-place update or restart, a new pod's whole start-up is the proton initializing
  // (SPEC.md: update and restart go running -> initializing -> running).
  const startingUp = (s: 'submitted' | 'provisioning') => (ctx.updatingInPlace ? 'initializing' : s);
  if (transient) return fromContainer(startingUp('provisioning'), transient);

  if (obs.phase === 'Pending') {
    if (obs.nodeName === undefined) {
      const scheduled = findCondition(obs, 'PodScheduled');
      return state(
        startingUp('submitted'),
        scheduled?.status === 'False' ? scheduled.reason : undefined,
        scheduled?.status === 'False' ? scheduled.message : 'waiting for a node',
      );
    }
    const initialized = findCondition(obs, 'Initialized');
    if (initialized?.status === 'False') {
      return state(startingUp('provisioning'), initialized.reason, initialized.message);
    }
    const waiting = containers.find((c) => c.state === 'waiting' && c.reason !== undefined);
    if (waiting) return fromContainer(startingUp('provisioning'), waiting);
    return state(startingUp('provisioning'), undefined, `scheduled on ${obs.nodeName}`);
  }

  // Running.
  if (obs.servingReady) {
    if (ctx.draining) return state('draining', undefined, 'out of traffic, kept for rollback');
    if (ctx.warmingUp) return state('warming', undefined, 'ready, warming up before the traffic switch');
    return state('running');
  }

  // The kubelet's last word is "every container ready" (ContainersReady True, gates met) and yet
  // the pod is not Ready: only the node controller writes that, when the node stops reporting.
  if (
    obs.readyCondition === false &&
    obs.containersReadyCondition === true &&
    obs.containersReady &&
    obs.pendingReadinessGates.length === 0
  ) {
    return state(
      'unknown',
      REASONS.NodeNotReady,
      `node ${obs.nodeName ?? 'of the pod'} stopped reporting; the pod's state cannot be confirmed`,
    );
  }

  return { ...notReadyExplanation(obs, containers), state: ctx.updatingInPlace ? 'initializing' : 'launching' };
}

/**
 * Whether a pod in phase Failed had failed before its deletion was requested: a pod-level reason
 * (admission refused it, e.g. `OutOfcpu`), or a container that exited non-zero before the request.
 */
function failedBeforeDeletion(obs: PodObservation, containers: readonly ContainerObservation[]): boolean {
  if (obs.reason !== undefined) return true;
  const requested = obs.deletionRequestedAt;
  if (requested === undefined) return false;
  return containers.some(
    (c) =>
      c.state === 'terminated' &&
      c.exitCode !== 0 &&
      c.finishedAt !== undefined &&
      c.finishedAt.getTime() < requested.getTime(),
  );
}

/**
 * The restart a container shows, if any: terminated and about to be restarted (the kubelet raises
 * restartCount only when it creates the next container), or restarted (restartCount >= 1 with a
 * terminated lastState) and not ready again. An init container that completed is done, whatever
 * its history.
 */
function restartOf(c: ContainerObservation): Omit<ReplicaState, 'state'> | undefined {
  const what = c.kind === 'app' ? 'container' : c.kind === 'sidecar' ? 'sidecar container' : 'init container';
  if (c.state === 'terminated') {
    if (!c.restartsOnExit || (c.kind === 'init' && c.exitCode === 0)) return undefined;
    const detail = c.message ? `: ${c.message}` : '';
    return explain(
      c.reason ?? 'Error',
      `${what} ${c.name} exited with code ${c.exitCode ?? 'unknown'} and is being restarted${detail}`,
      c.name,
    );
  }
  if (c.ready || c.restartCount < 1 || c.lastTermination === undefined) return undefined;
  const last = c.lastTermination;
  return explain(
    last.reason ?? 'Error',
    `${what} ${c.name} restarted ${times(c.restartCount)}, last exit code ${last.exitCode}${last.message ? `: ${last.message}` : ''}`,
    c.name,
  );
}

/** Why a running pod without a restart is not ready: the Ready condition, else the unready containers. */
function notReadyExplanation(
  obs: PodObservation,
  containers: readonly ContainerObservation[],
): Omit<ReplicaState, 'state'> {
  const ready = findCondition(obs, 'Ready');
  if (ready?.status === 'False') return explain(ready.reason, ready.message);
  const notReady = containers.filter((c) => c.kind !== 'init' && !c.ready).map((c) => c.name);
  return explain(undefined, notReady.length ? `containers not ready: [${notReady.join(' ')}]` : undefined);
}

function terminatedMessage(c: ContainerObservation): string {
  const detail = c.message ? `: ${c.message}` : '';
  return `container ${c.name} terminated with exit code ${c.exitCode ?? 'unknown'}${detail}`;
}

function times(n: number): string {
  return n === 1 ? '1 time' : `${n} times`;
}

function fromContainer(s: ReplicaStatus, c: ContainerObservation): ReplicaState {
  return state(s, c.reason, c.message, c.name);
}

function explain(reason?: string, message?: string, container?: string): Omit<ReplicaState, 'state'> {
  return {
    ...(reason !== undefined && { reason }),
    ...(message !== undefined && { message }),
    ...(container !== undefined && { container }),
  };
}

function state(s: ReplicaStatus, reason?: string, message?: string, container?: string): ReplicaState {
  return { state: s, ...explain(reason, message, container) };
}
