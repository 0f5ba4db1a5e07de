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
  return toJsonValue(value) as Record<string, unknown>;
}

/** Which proton row filled each slot, as lifecycles stored before proton ids moved into the state. */
interface LegacySlots {
  active?: string;
  candidate?: string;
  oldActive?: string;
}

/** Reads a stored lifecycle back, turning its timestamps into dates (and older layouts into this one). */
export function deserializeLifecycle(json: Record<string, unknown>): StoredLifecycle {
  const parsed = withDates(json) as StoredLifecycle & { protons?: LegacySlots };
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

/**
 * What `JSON.parse(JSON.stringify(value))` gives for the plain values a lifecycle holds (objects,
 * arrays, strings, finite numbers, booleans, null and dates), without the text in between: a value's
 * `toJSON` answers for it (a date's ISO string), properties that are undefined or functions are left
 * out, array slots that are become null, as do numbers that are not finite. The controller copies a
 * lifecycle several times in every pass; the round trip through text was most of what that cost.
 */
export function toJsonValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return jsonScalar(value);
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return toJsonValue((value as { toJSON(): unknown }).toJSON());
  if (Array.isArray(value)) {
    return value.map((item: unknown) => {
      const v = toJsonValue(item);
      return v === undefined ? null : v;
    });
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = toJsonValue((value as Record<string, unknown>)[key]);
    if (v !== undefined) setOwn(out, key, v);
  }
  return out;
}

function jsonScalar(value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : null;
    case 'string':
    case 'boolean':
      return value;
    default:
      // undefined, functions and symbols have no JSON form (bigint, which JSON refuses, is never stored).
      return value === null ? null : undefined;
  }
}

/** A copy of a stored lifecycle's JSON with its timestamps (`DATE_KEYS`, at any depth) as dates. */
function withDates(value: unknown, key?: string): unknown {
  if (typeof value === 'string') return key !== undefined && DATE_KEYS.has(key) ? new Date(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: unknown) => withDates(item));
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) setOwn(out, k, withDates((value as Record<string, unknown>)[k], k));
  return out;
}

/** Sets an own property, `__proto__` too (as JSON.parse does), rather than the object's prototype. */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * Whether two JSON values are the same value: objects compared key by key whatever their order
 * (jsonb reorders keys), arrays item by item. Both sides must be JSON values (`toJsonValue`'s or
 * `JSON.parse`'s output); it agrees with comparing their texts with keys sorted.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
  }
  return true;
}
