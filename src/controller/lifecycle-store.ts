/**
 * The controller's state of one workload as stored in `workload.lifecycle`: the domain's
 * `WorkloadState` (which names its protons, see domain/proton-identity.ts) and the replacement
 * row being driven. Dates travel as ISO strings.
 */
import { createWorkload, type LifecycleEffect, type OperationContext, type WorkloadState } from '../domain/lifecycle.js';
import type { ArtifactStatus } from '../domain/model.js';
import { isReplacementInProgress } from '../domain/replacement.js';

/** Everything the controller needs to resume a workload after a crash. */
export interface StoredLifecycle {
  state: WorkloadState;
  /** The replacement row of the current or most recent replacement. */
  replacementId?: string;
}

const DATE_KEYS = new Set(['statusEnteredAt', 'expiresAt', 'stepEnteredAt']);

/**
 * The lifecycle a workload starts with: the create rule's state as of its creation, with the
 * expiry its row holds, and the effects that start it (its active proton). The controller's first
 * pass and an operation that reaches a workload first both start from it.
 */
export function firstLifecycle(
  workload: { readonly artifactId: string; readonly artifactStatus: ArtifactStatus; readonly createdAt: Date; readonly expiresAt: Date | null },
  ctxAt: (at: Date) => OperationContext,
): { stored: StoredLifecycle; effects: readonly LifecycleEffect[] } {
  const created = createWorkload({ artifact: { id: workload.artifactId, status: workload.artifactStatus } }, ctxAt(workload.createdAt));
  return { stored: { state: { ...created.next, ...(workload.expiresAt && { expiresAt: workload.expiresAt }) } }, effects: created.effects };
}

/** The JSON form of a stored lifecycle. */
export function serializeLifecycle(value: StoredLifecycle): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/** Which proton row filled each slot, as lifecycles stored before proton ids moved into the state. */
interface LegacySlots {
  active?: string;
  candidate?: string;
  oldActive?: string;
}

/** Reads a stored lifecycle back, turning its timestamps into dates (and older layouts into this one). */
export function deserializeLifecycle(json: Record<string, unknown>): StoredLifecycle {
  const parsed = JSON.parse(JSON.stringify(json), (key, value: unknown) =>
    DATE_KEYS.has(key) && typeof value === 'string' ? new Date(value) : value,
  ) as StoredLifecycle & { protons?: LegacySlots };
  const { protons, ...stored } = parsed;
  return protons ? { ...stored, state: withLegacySlots(stored.state, protons) } : stored;
}

/** Folds the slot ids of an older stored lifecycle into its state. */
function withLegacySlots(state: WorkloadState, slots: LegacySlots): WorkloadState {
  let next: WorkloadState = state;
  const retiring: string[] = [];
  if (slots.active) next = next.active ? { ...next, active: { ...next.active, protonId: slots.active } } : next;
  if (slots.candidate) {
    if (next.candidate) next = { ...next, candidate: { ...next.candidate, protonId: slots.candidate } };
    else if (isReplacementInProgress(next.replacement)) {
      next = { ...next, candidate: { protonId: slots.candidate, artifactId: next.replacement.toArtifactId, status: 'submitted' } };
    } else retiring.push(slots.candidate);
  }
  if (slots.oldActive) {
    if (next.oldActive) next = { ...next, oldActive: { ...next.oldActive, protonId: slots.oldActive } };
    else retiring.push(slots.oldActive);
  }
  return retiring.length > 0 ? { ...next, retiring } : next;
}

/** A key-order-independent text of a JSON value: jsonb reorders keys, so text comparison needs this. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
