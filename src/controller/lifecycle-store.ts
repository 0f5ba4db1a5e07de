/**
 * The controller's state of one workload as stored in `workload.lifecycle`: the domain's
 * `WorkloadState` plus which proton row fills each slot. Dates travel as ISO strings.
 */
import type { WorkloadState } from '../domain/lifecycle.js';

/** Which proton row fills each slot of the lifecycle state. */
export interface ProtonSlots {
  active?: string;
  candidate?: string;
  oldActive?: string;
}

/** Everything the controller needs to resume a workload after a crash. */
export interface StoredLifecycle {
  state: WorkloadState;
  protons: ProtonSlots;
  /** The replacement row of the current or most recent replacement. */
  replacementId?: string;
}

const DATE_KEYS = new Set(['statusEnteredAt', 'expiresAt', 'stepEnteredAt']);

/** The JSON form of a stored lifecycle. */
export function serializeLifecycle(value: StoredLifecycle): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/** Reads a stored lifecycle back, turning its timestamps into dates. */
export function deserializeLifecycle(json: Record<string, unknown>): StoredLifecycle {
  return JSON.parse(JSON.stringify(json), (key, value: unknown) =>
    DATE_KEYS.has(key) && typeof value === 'string' ? new Date(value) : value,
  ) as StoredLifecycle;
}

/** A key-order-independent text of a JSON value: jsonb reorders keys, so text comparison needs this. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
