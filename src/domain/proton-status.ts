/**
 * A proton's status: the worst of its replicas' states, combined with what the proton is asked
 * to be (running, stopped, suspended, terminated).
 */
import type { ProtonStatus } from './model.js';
import type { ReplicaState } from './replica-state.js';
import { REASONS } from './reasons.js';

/**
 * Replica states, WORST FIRST. This one constant is the aggregation order (SPEC.md section 2).
 *
 * Why this order: a user looking at a proton must see the state that needs them most.
 * - `errored` first: something is broken and will not heal without a change.
 * - `interrupted` next: the cluster took replicas away (eviction, preemption, node loss); it
 *   may heal, but serving capacity is gone right now.
 * - `restarting`: a replica that served is down again; capacity is lost, a crash may follow.
 * - `unknown`: we cannot see the replica; assume the worst of the healthy states.
 * - `submitted > provisioning > initializing > launching`: the earlier a replica is in its
 *   start-up, the further the proton is from serving, so the earlier step wins.
 * - `stopping > draining > warming`: replicas on their way out or not yet in traffic; they do
 *   not hurt serving, but a proton with any of them is not simply "running".
 * - `running` last: only when every replica runs is the proton running.
 * States decided by desired state rather than pods (`stopped`, `suspended`, `terminated`) are
 * not replica states; `deriveProtonStatus` applies them to the whole proton.
 */
export const REPLICA_STATE_SEVERITY = [
  'errored',
  'interrupted',
  'restarting',
  'unknown',
  'submitted',
  'provisioning',
  'initializing',
  'launching',
  'stopping',
  'draining',
  'warming',
  'running',
] as const satisfies readonly ProtonStatus[];
/** A state a single replica can be in (12 of the 15 proton statuses). */
export type ReplicaStatus = (typeof REPLICA_STATE_SEVERITY)[number];

/** States in which a replica is ready to take traffic. */
const READY_STATES: ReadonlySet<ReplicaStatus> = new Set(['running', 'warming']);

/** Rank of a replica state in `REPLICA_STATE_SEVERITY`: 0 is the worst. */
export function replicaSeverity(state: ReplicaStatus): number {
  return REPLICA_STATE_SEVERITY.indexOf(state);
}

/** Whether replica state `a` is strictly worse than `b`. */
export function isWorseReplicaState(a: ReplicaStatus, b: ReplicaStatus): boolean {
  return replicaSeverity(a) < replicaSeverity(b);
}

/** The worst replica state with its explanation and how many replicas share it. */
export interface ReplicaAggregate extends ReplicaState {
  /** Replicas in the worst state. */
  readonly affected: number;
  /** Replicas considered. */
  readonly total: number;
  /** Replicas ready to take traffic. */
  readonly ready: number;
}

/** The worst of the replicas' states (undefined for no replicas); the result does not depend on replica order. */
export function aggregateReplicaStates(replicas: readonly ReplicaState[]): ReplicaAggregate | undefined {
  if (replicas.length === 0) return undefined;
  let worst: ReplicaStatus = 'running';
  for (const r of replicas) if (isWorseReplicaState(r.state, worst)) worst = r.state;
  const inWorst = replicas.filter((r) => r.state === worst);
  const explanation = mostCommonExplanation(inWorst);
  return {
    state: worst,
    ...explanation,
    affected: inWorst.length,
    total: replicas.length,
    ready: replicas.filter((r) => READY_STATES.has(r.state)).length,
  };
}

/** What a proton is asked to be; `stopped`, `suspended` and `terminated` apply to the whole proton. */
export type ProtonDesiredState = 'running' | 'stopped' | 'suspended' | 'terminated';

/** The desired side of a proton. */
export interface ProtonDesired {
  readonly state: ProtonDesiredState;
  /** Desired replica count. */
  readonly replicas: number;
}

/** A proton's derived status, with the explanation and replica counts behind it. */
export interface ProtonStatusReport {
  readonly status: ProtonStatus;
  readonly reason?: string;
  readonly message?: string;
  readonly container?: string;
  /** Replicas in the deciding state (missing replicas count as `submitted`). */
  readonly affected: number;
  /** Replicas considered, missing ones included. */
  readonly total: number;
  /** Replicas ready to take traffic. */
  readonly ready: number;
  readonly desiredReplicas: number;
}

/** How far an in-place rollout (update or restart) has come. */
export interface RolloutProgress {
  /** Every live pod runs the current template and there are enough of them. */
  readonly complete: boolean;
  /** Pods of the current template. */
  readonly updated: number;
}

/**
 * Derives a proton's status from its replicas' states and its desired state. While an in-place
 * rollout is incomplete, the old pods' health must not make the proton look done: it is at best
 * `initializing` (SPEC.md: update and restart go running -> initializing -> running).
 */
export function deriveProtonStatus(
  replicas: readonly ReplicaState[],
  desired: ProtonDesired,
  rollout?: RolloutProgress,
): ProtonStatusReport {
  const counts = { desiredReplicas: desired.replicas };
  if (desired.state !== 'running') {
    if (replicas.length === 0) {
      return { status: desired.state, affected: 0, total: 0, ready: 0, ...counts };
    }
    return {
      status: 'stopping',
      message: `${replicas.length} ${replicas.length === 1 ? 'pod' : 'pods'} still terminating`,
      affected: replicas.length,
      total: replicas.length,
      ready: 0,
      ...counts,
    };
  }

  // Pods already being deleted while the proton should run are surplus (a rollout replacing
  // them, a scale-down): they leave, and the pods that take their place count as missing.
  const live = replicas.filter((r) => r.state !== 'stopping');
  const missing = Math.max(0, desired.replicas - live.length);
  const placeholders: ReplicaState[] = Array.from({ length: missing }, () => ({
    state: 'submitted',
    reason: REASONS.ReplicasMissing,
    message: 'pod not created yet',
  }));
  const aggregate = aggregateReplicaStates([...live, ...placeholders]);
  if (aggregate === undefined) {
    return { status: 'submitted', message: 'waiting for pods to be created', affected: 0, total: 0, ready: 0, ...counts };
  }
  const { state, ...rest } = aggregate;
  if (rollout && !rollout.complete && replicaSeverity(state) > replicaSeverity('initializing')) {
    return {
      ...rest,
      status: 'initializing',
      reason: REASONS.RolloutInProgress,
      message: `${rollout.updated} of ${desired.replicas} ${desired.replicas === 1 ? 'replica' : 'replicas'} updated`,
      ...counts,
    };
  }
  return { status: state, ...rest, ...counts };
}

/** Whether a running proton has all its desired replicas ready. */
export function allReplicasReady(report: ProtonStatusReport): boolean {
  return report.desiredReplicas > 0 && report.ready >= report.desiredReplicas && report.status === 'running';
}

function mostCommonExplanation(replicas: readonly ReplicaState[]): Omit<ReplicaState, 'state'> {
  // Prefer replicas that explain themselves; then the most frequent explanation; then a stable
  // key, so the answer never depends on replica order.
  const explained = replicas.filter((r) => r.reason !== undefined || r.message !== undefined);
  const groups = new Map<string, { count: number; sample: ReplicaState }>();
  for (const r of explained) {
    const key = JSON.stringify([r.reason ?? '', r.message ?? '', r.container ?? '']);
    const g = groups.get(key);
    if (g) g.count += 1;
    else groups.set(key, { count: 1, sample: r });
  }
  const ranked = [...groups.entries()].sort(
    ([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0),
  );
  const best = ranked[0]?.[1].sample;
  if (!best) return {};
  const { state: _state, ...explanation } = best;
  return explanation;
}
