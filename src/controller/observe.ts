/**
 * Phase "observe" (pure): what the runtime shows of one workload, as a typed observation. Pods
 * become replica states (with the context the lifecycle state gives each proton), replica states
 * become proton reports, and the route and the protons that still exist say how far a
 * replacement got. Nothing here reads a clock or calls the runtime: the facts are passed in.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { replicaContextFor, type WorkloadObservation, type WorkloadState } from '../domain/lifecycle.js';
import { observePod } from '../domain/pod-observation.js';
import { deriveProtonStatus, type ProtonDesired, type ProtonStatusReport, type RolloutProgress } from '../domain/proton-status.js';
import type { ProtonSlot } from '../domain/proton-identity.js';
import { deriveReplicaState, type ReplicaState } from '../domain/replica-state.js';
import { isReplacementInProgress } from '../domain/replacement.js';
import { podProtonId, podRevision } from '../runtime/conventions.js';
import type { ObservedProton, WorkloadRoute } from '../runtime/proton-runtime.js';

/** What the runtime holds of one workload right now. */
export interface RuntimeFacts {
  readonly pods: readonly V1Pod[];
  /** The workload's protons that exist (being deleted included), by id. */
  readonly protons: ReadonlyMap<string, ObservedProton>;
  readonly route: WorkloadRoute | undefined;
}

/** What was last seen of one pod: was it ever ready, and its restart count (to tell `restarting`). */
export interface PodMemory {
  readonly wasReady: boolean;
  readonly restartCount: number;
}

/** The typed observation of one workload. */
export interface Observation {
  /** A status report per observed proton id. */
  readonly reports: ReadonlyMap<string, ProtonStatusReport>;
  /** What the lifecycle rules fold into the state. */
  readonly workload: WorkloadObservation;
  /** The pod memory to keep for the next pass: pods that still exist. */
  readonly memory: ReadonlyMap<string, PodMemory>;
  /** Neither a pod nor a proton of the workload is left. */
  readonly runtimeEmpty: boolean;
}

/** Derives the observation of a workload from its runtime facts; `replicasOf` is each proton's desired replica count. */
export function observe(
  state: WorkloadState,
  facts: RuntimeFacts,
  replicasOf: (protonId: string) => number,
  before: ReadonlyMap<string, PodMemory> = new Map(),
): Observation {
  const memory = new Map<string, PodMemory>();
  const reports = new Map<string, ProtonStatusReport>();
  const podsOf = (protonId: string) => facts.pods.filter((p) => podProtonId(p) === protonId);
  const gone = state.desiredState === 'deleted' || state.endOfLife !== undefined;

  const report = (slot: ProtonSlot, desired: ProtonDesired, rollout?: RolloutProgress): ProtonStatusReport | undefined => {
    const protonId = state[slot]?.protonId;
    if (!protonId) return undefined;
    const context = replicaContextFor(state, slot);
    const replicas = podsOf(protonId).map((pod) => replicaState(pod, context, before, memory));
    const r = deriveProtonStatus(replicas, desired, rollout);
    reports.set(protonId, r);
    return r;
  };

  const activeId = state.active?.protonId;
  const activeDesired: ProtonDesired = gone
    ? { state: state.endOfLife ? 'terminated' : 'stopped', replicas: 0 }
    : state.desiredState === 'stopped'
      ? { state: 'stopped', replicas: 0 }
      : { state: 'running', replicas: activeId ? replicasOf(activeId) : 0 };
  // An in-place update or restart is done only when every live pod runs the current template.
  let rollout: RolloutProgress | undefined;
  if (state.updatingInPlace && activeId && activeDesired.state === 'running') {
    const current = facts.protons.get(activeId);
    const live = podsOf(activeId).filter((p) => !p.metadata?.deletionTimestamp);
    const updated = live.filter((p) => current && podRevision(p) === current.revision).length;
    rollout = { complete: updated === live.length && updated >= activeDesired.replicas, updated };
  }
  const active = report('active', activeDesired, rollout);
  const candidateId = state.candidate?.protonId;
  const candidate =
    candidateId && isReplacementInProgress(state.replacement)
      ? report('candidate', { state: 'running', replicas: replicasOf(candidateId) })
      : undefined;
  // The old active drains until its pods are gone; with none left it is not "submitted" but leaving.
  if (state.oldActive?.protonId && podsOf(state.oldActive.protonId).length > 0) report('oldActive', { state: 'running', replicas: 0 });
  const oldActiveId = state.oldActive?.protonId;

  return {
    reports,
    workload: {
      ...(active && { active }),
      ...(candidate && { candidate }),
      ...(candidateId && { trafficSwitched: facts.route?.protonId === candidateId }),
      ...(oldActiveId && { oldActiveRemoved: !facts.protons.has(oldActiveId) }),
    },
    memory,
    runtimeEmpty: facts.pods.length === 0 && facts.protons.size === 0,
  };
}

function replicaState(
  pod: V1Pod,
  context: ReturnType<typeof replicaContextFor>,
  before: ReadonlyMap<string, PodMemory>,
  after: Map<string, PodMemory>,
): ReplicaState {
  const uid = pod.metadata?.uid ?? pod.metadata?.name ?? '';
  const memory = before.get(uid);
  const observation = observePod(pod);
  const state = deriveReplicaState(observation, {
    ...context,
    ...(memory && { wasReady: memory.wasReady, previousRestartCount: memory.restartCount }),
  });
  const restartCount = observation.containers.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  const ready = state.state === 'running' || state.state === 'warming' || state.state === 'draining';
  if (!pod.metadata?.deletionTimestamp || ready) after.set(uid, { wasReady: (memory?.wasReady ?? false) || ready, restartCount });
  return state;
}
