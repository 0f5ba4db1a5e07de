/**
 * The policy values the lifecycle rules run with: the draft lifetime and every deadline. They
 * have one home, the configuration (`src/config.ts`), which passes them down; the domain holds no
 * defaults of its own, so a value cannot differ between the rules and what operators configured.
 */
import type { Deadlines } from './deadlines.js';

/** The configured lifetime of drafts and the deadline of every in-between state. */
export interface LifecyclePolicy {
  /** How long a workload on a draft artifact lives after its clock (re)starts. */
  readonly draftTtlMs: number;
  readonly deadlines: Deadlines;
}

/** The same deadline for each replacement step (configuration has one knob for them). */
export function uniformReplacementDeadlines(ms: number): Deadlines['replacement'] {
  return { submitted: ms, initializing: ms, warming: ms, switching: ms, draining: ms };
}
