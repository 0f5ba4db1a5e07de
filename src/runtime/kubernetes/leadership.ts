/**
 * Who runs the controller. In the embedded default the single process always does; on
 * Kubernetes every replica serves the API and keeps its pod cache warm, but only the holder of
 * the Lease runs the controller. When the leader dies, another replica takes the lease once it
 * expires, relists its caches and starts its controller, which resumes every workload from the
 * database.
 */
import type { Leadership, LeaderWork } from '../leadership.js';
import type { ProtonRuntime } from '../proton-runtime.js';
import { LeaseLeaderElector, type LeaderElectionOptions } from './leader-election.js';

export { singleProcessLeadership, type LeaderWork, type Leadership } from '../leadership.js';

/** Lease-based leadership: the runtime starts on every replica, the controller only on the leader. */
export function leaseLeadership(
  work: LeaderWork,
  runtime: ProtonRuntime,
  options: Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading'>,
): Leadership {
  const elector = new LeaseLeaderElector({
    ...options,
    onStartedLeading: async () => {
      // A follower's watches may have gone quiet unnoticed (the dead-watch timer takes its time):
      // the first pass of a new leader reads a list no older than its lease (ADR 0044).
      try {
        await runtime.resync();
      } catch (error) {
        options.onError?.(error, 're-priming the caches; the controller starts on the caches as they are');
      }
      await work.start();
    },
    onStoppedLeading: () => work.stop(),
  });
  return {
    elector,
    async start() {
      await runtime.start();
      elector.start();
    },
    async stop() {
      await elector.stop();
    },
    isLeader: () => elector.isLeader(),
  };
}
