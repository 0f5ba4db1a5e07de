/**
 * A simulated cluster on manual time: tests advance simulated time and then wait until every
 * pod event has been delivered, so each assertion sees exactly one stage.
 */
import { expect } from 'vitest';
import type { ProtonSpec } from '../../../src/runtime/proton-runtime.js';
import type { TimingProfile } from '../../../src/runtime/simulated/index.js';
import { ManualTimers, SimulatedCluster, SimulatedProtonRuntime } from '../../../src/runtime/simulated/index.js';
import { PodTracker } from '../support.js';

/** A cluster on `ManualTimers` with default (demo) timings unless overridden. */
export async function simulatedCluster(timings: Partial<TimingProfile> = {}) {
  const timers = new ManualTimers();
  const handlerErrors: unknown[] = [];
  const cluster = new SimulatedCluster({ timers, timings, onHandlerError: (e) => handlerErrors.push(e) });
  const runtime = new SimulatedProtonRuntime(cluster, { ownsCluster: true });
  await runtime.start();

  /** Advances simulated time by `ms` and waits for the events it caused. */
  const advance = async (ms: number): Promise<void> => {
    timers.advance(ms);
    await cluster.settled();
  };

  /** Steps simulated time timer by timer until `done` holds; fails past `maxMs` of simulated time. */
  const runUntil = async (done: () => boolean | Promise<boolean>, maxMs = 30 * 60_000): Promise<void> => {
    const start = timers.now().getTime();
    await cluster.settled();
    while (!(await done())) {
      if (timers.now().getTime() - start > maxMs) throw new Error(`condition not reached within ${maxMs} ms of simulated time`);
      if (!timers.step()) throw new Error('condition not reached and nothing is scheduled');
      await cluster.settled();
    }
  };

  /** Applies a spec and tracks its workload's pods. */
  const applyTracked = async (spec: ProtonSpec): Promise<PodTracker> => {
    const tracker = new PodTracker(runtime, { workloadId: spec.workloadId });
    await runtime.applyProton(spec);
    await cluster.settled();
    return tracker;
  };

  /** Milliseconds of simulated time since the cluster was built. */
  const epoch = timers.now().getTime();
  const elapsed = (): number => timers.now().getTime() - epoch;

  return { timers, cluster, runtime, advance, runUntil, applyTracked, elapsed, handlerErrors };
}

/** Asserts that `expected` appears in `actual` in order (other items may sit between). */
export function expectSubsequence(actual: readonly string[], expected: readonly string[]): void {
  let i = 0;
  for (const item of actual) if (item === expected[i]) i++;
  expect(i, `expected ${JSON.stringify(expected)} in order within ${JSON.stringify(actual)}`).toBe(expected.length);
}
