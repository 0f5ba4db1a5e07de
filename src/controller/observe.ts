/**
 * Phase "observe" (pure): what the runtime shows of one workload, as a typed observation. Pods
 * become replica states (with the context the lifecycle state gives each proton), replica states
 * become proton reports, and the route and the protons that still exist say how far a
 * replacement got. Nothing here reads a clock or calls the runtime: the facts are passed in.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { replicaContextFor, type WorkloadObservation, type WorkloadState } from '../domain/lifecycle.js';
import { deriveProtonStatus, type ProtonDesired, type ProtonStatusReport, type RolloutProgress } from '../domain/proton-status.js';
import type { ProtonSlot } from '../domain/proton-identity.js';
import { deriveReplicaStateOfPod } from '../domain/replica-state.js';
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

/** The typed observation of one workload. */
export interface Observation {
  /** A status report per observed proton id. */
  readonly reports: ReadonlyMap<string, ProtonStatusReport>;
  /** What the lifecycle rules fold into the state. */
  readonly workload: WorkloadObservation;
  /** Neither a pod nor a proton of the workload is left. */
  readonly runtimeEmpty: boolean;
}

/**
 * Derives the observation of a workload from its runtime facts; `replicasOf` is each proton's
 * desired replica count. A function of the pods and the stored state only: a controller that just
 * started or took over derives the same (SPEC section 2, ADR 0010).
 */
export function observe(state: WorkloadState, facts: RuntimeFacts, replicasOf: (protonId: string) => number): Observation {
  const reports = new Map<string, ProtonStatusReport>();
  const podsOf = (protonId: string) => facts.pods.filter((p) => podProtonId(p) === protonId);
  const gone = state.desiredState === 'deleted' || state.endOfLife !== undefined;

  const report = (slot: ProtonSlot, desired: ProtonDesired, rollout?: RolloutProgress): ProtonStatusReport | undefined => {
    const protonId = state[slot]?.protonId;
    if (!protonId) return undefined;
    const context = replicaContextFor(state, slot);
    const replicas = podsOf(protonId).map((pod) => deriveReplicaStateOfPod(pod, context));
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
    runtimeEmpty: facts.pods.length === 0 && facts.protons.size === 0,
  };
}
