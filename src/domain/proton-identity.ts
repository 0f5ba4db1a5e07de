/**
 * Which proton fills which place of a workload. The lifecycle state names its protons
 * (`active`, `candidate`, `oldActive`, each with its `protonId`) and the ones on their way out
 * (`retiring`): the swap at a replacement's switch happens once, in `observeWorkload`, and every
 * other part (the runtime the controller wants, the roles it records) is read from here.
 */
import type { ProtonState, WorkloadState } from './lifecycle.js';
import type { ProtonRole } from './model.js';

/** The places a proton can hold in a workload. */
export type ProtonSlot = 'active' | 'candidate' | 'oldActive';

const SLOTS: readonly ProtonSlot[] = ['active', 'candidate', 'oldActive'];

/** The stored role of a proton in each slot. */
export const ROLE_OF_SLOT: Readonly<Record<ProtonSlot, ProtonRole>> = { active: 'active', candidate: 'candidate', oldActive: 'previous' };

/** The proton id in a slot, if the slot is filled by a proton that exists. */
export function protonIdIn(state: WorkloadState, slot: ProtonSlot): string | undefined {
  return state[slot]?.protonId;
}

/** Where a proton is: a slot, `retiring`, or undefined (forgotten). */
export function placeOf(state: WorkloadState, protonId: string): ProtonSlot | 'retiring' | undefined {
  for (const slot of SLOTS) if (state[slot]?.protonId === protonId) return slot;
  return state.retiring?.includes(protonId) ? 'retiring' : undefined;
}

/** Records the id of the proton created for a slot. */
export function assignProton(state: WorkloadState, slot: ProtonSlot, protonState: ProtonState & { protonId: string }): WorkloadState {
  return { ...state, [slot]: protonState };
}

/** Moves protons that a transition dropped from their slot to `retiring`, to be removed from the runtime. */
export function retireDropped(before: WorkloadState, after: WorkloadState): WorkloadState {
  const kept = new Set(SLOTS.map((s) => after[s]?.protonId).filter((id): id is string => id !== undefined));
  const dropped = SLOTS.map((s) => before[s]?.protonId).filter((id): id is string => id !== undefined && !kept.has(id));
  const retiring = [...new Set([...(before.retiring ?? []), ...(after.retiring ?? []), ...dropped])].filter((id) => !kept.has(id));
  const { retiring: _r, ...rest } = after;
  return retiring.length > 0 ? { ...rest, retiring } : rest;
}

/** Forgets retiring protons the runtime no longer has. */
export function forgetRetired(state: WorkloadState, exists: (protonId: string) => boolean): WorkloadState {
  if (!state.retiring) return state;
  const retiring = state.retiring.filter(exists);
  if (retiring.length === state.retiring.length) return state;
  const { retiring: _r, ...rest } = state;
  return retiring.length > 0 ? { ...rest, retiring } : rest;
}
