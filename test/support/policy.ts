import type { LifecyclePolicy } from '../../src/domain/policy.js';

const MINUTE = 60_000;

/** The policy the domain's tables run with: explicit values, so a row reads on its own. */
export const TEST_POLICY: LifecyclePolicy = {
  draftTtlMs: 8 * 60 * MINUTE,
  deadlines: {
    states: { submitted: 10 * MINUTE, provisioning: 10 * MINUTE, launching: 10 * MINUTE, initializing: 10 * MINUTE, stopping: 5 * MINUTE },
    replacement: { submitted: 5 * MINUTE, initializing: 15 * MINUTE, warming: 5 * MINUTE, switching: 2 * MINUTE, draining: 5 * MINUTE },
  },
};
