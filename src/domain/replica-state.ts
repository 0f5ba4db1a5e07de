/**
 * The state of one replica (pod), from its observation, per the predicate table of SPEC.md
 * section 2. The predicates are checked in a fixed order (see `deriveReplicaState`); the first
 * that matches decides, and the Kubernetes reason and message that made it match are carried up.
 */
import type { ContainerObservation, PodObservation } from './pod-observation.js';
import { containersByRelevance, findCondition } from './pod-observation.js';
import type { ReplicaStatus } from './proton-status.js';
import { FATAL_WAITING_REASONS, REASONS, TRANSIENT_WAITING_REASONS } from './reasons.js';

/** What the pod cannot say about itself: where its proton is in its lifecycle. */
export interface ReplicaContext {
  /** The proton is being updated or restarted in place: not-ready replicas are `initializing`. */
  readonly updatingInPlace?: boolean;
  /** The proton is a candidate inside its warm-up window: ready replicas are `warming`. */
  readonly warmingUp?: boolean;
  /** The proton is an old active taken out of traffic in a replace: ready or deleting replicas are `draining`. */
  readonly draining?: boolean;
  /** The replica was ready when last observed. */
  readonly wasReady?: boolean;
  /** The replica's restart count when last observed; without it, any restart on record counts. */
  readonly previousRestartCount?: number;
}

/** A replica's state with the reason and message that explain it. */
export interface ReplicaState {
  readonly state: ReplicaStatus;
  readonly reason?: string;
  readonly message?: string;
  /** The container the reason comes from, when it comes from one. */
  readonly container?: string;
}

/**
 * Derives a replica's state from its pod observation; the first matching predicate wins:
 * unknown phase, disruption, deletion, Failed, Succeeded, fatal waiting reason, terminated
 * for good, OOMKilled, ErrImagePull, Pending, then readiness (waiting reasons before readiness).
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

  if (obs.deletionTimestamp) {
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
  if (fatal) return fromContainer('errored', fatal);

  const deadForGood = containers.find(
    (c) => c.state === 'terminated' && c.exitCode !== 0 && !c.restartsOnExit,
  );
  if (deadForGood) {
    return state('errored', deadForGood.reason ?? 'Error', terminatedMessage(deadForGood), deadForGood.name);
  }

  // An OOM kill that made the container restart: the limit is too low, waiting will not fix it.
  const oom = containers.find((c) => !c.ready && c.restartCount > 0 && wasOomKilled(c));
  if (oom) {
    return state(
      'errored',
      REASONS.OOMKilled,
      `container ${oom.name} was OOMKilled (exit code 137) and restarted ${times(oom.restartCount)}`,
      oom.name,
    );
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

  const restarted =
    ctx.previousRestartCount === undefined
      ? containers.some((c) => c.restartCount > 0 && c.lastTermination !== undefined)
      : obs.restartCount > ctx.previousRestartCount;
  const why = notReadyExplanation(obs, containers);
  if (ctx.wasReady && restarted) return { ...why, state: 'restarting' };
  return { ...why, state: ctx.updatingInPlace ? 'initializing' : 'launching' };
}

/** Why a running pod is not ready: a restarting container's last exit, else the Ready condition. */
function notReadyExplanation(
  obs: PodObservation,
  containers: readonly ContainerObservation[],
): Omit<ReplicaState, 'state'> {
  const exited = containers.find((c) => !c.ready && c.state === 'terminated');
  if (exited) return explain(exited.reason ?? 'Error', terminatedMessage(exited), exited.name);
  const restarted = containers.find((c) => !c.ready && c.lastTermination && c.restartCount > 0);
  if (restarted?.lastTermination) {
    const last = restarted.lastTermination;
    return explain(
      last.reason ?? 'Error',
      `container ${restarted.name} restarted ${times(restarted.restartCount)}, last exit code ${last.exitCode}`,
      restarted.name,
    );
  }
  const ready = findCondition(obs, 'Ready');
  if (ready?.status === 'False') return explain(ready.reason, ready.message);
  const notReady = containers.filter((c) => c.kind !== 'init' && !c.ready).map((c) => c.name);
  return explain(undefined, notReady.length ? `containers not ready: [${notReady.join(' ')}]` : undefined);
}

function wasOomKilled(c: ContainerObservation): boolean {
  return (
    (c.state === 'terminated' && c.reason === 'OOMKilled') || c.lastTermination?.reason === 'OOMKilled'
  );
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
