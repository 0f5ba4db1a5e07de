/**
 * The replicas of a proton as the API shows them: each pod the runtime has now, what status
 * derivation reads of it, and its state, derived exactly as the controller derives the proton's
 * status.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { deserializeLifecycle } from '../controller/lifecycle-store.js';
import { replicaContextFor } from '../domain/lifecycle.js';
import { observePod, type PodObservation } from '../domain/pod-observation.js';
import { deriveReplicaState, type ReplicaContext, type ReplicaState } from '../domain/replica-state.js';
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import type { Proton } from '../store/entities/index.js';

/** One replica of a proton: the pod, what status derivation reads of it, and its state. */
export interface ReplicaView {
  readonly pod: V1Pod;
  readonly observation: PodObservation;
  readonly state: ReplicaState;
}

/**
 * The replicas of a proton as the runtime sees them right now (the proton's workload must be
 * visible to the caller), each with its state derived from the pod and the proton's place in the
 * workload's stored lifecycle (candidate warming up, old active draining, active updating in
 * place), never from anything a process remembers.
 */
export async function replicasOf(
  runtime: ProtonRuntime,
  proton: Proton,
  workloadLifecycle: Promise<Record<string, unknown> | null>,
): Promise<readonly ReplicaView[]> {
  const [pods, lifecycle] = await Promise.all([runtime.listPods({ protonId: proton.id }), workloadLifecycle]);
  const context = replicaContextOf(lifecycle, proton.id);
  return pods.map((pod) => {
    const observation = observePod(pod);
    return { pod, observation, state: deriveReplicaState(observation, context) };
  });
}

/** The replica context of a proton from its workload's stored lifecycle; none for a proton in no slot. */
function replicaContextOf(lifecycle: Record<string, unknown> | null, protonId: string): ReplicaContext {
  if (lifecycle === null) return {};
  const stored = deserializeLifecycle(lifecycle);
  const slots = ['active', 'candidate', 'oldActive'] as const;
  const slot = slots.find((name) => stored.state[name]?.protonId === protonId);
  return slot === undefined ? {} : replicaContextFor(stored.state, slot);
}
