/**
 * Who runs the controller. In the embedded default the single process always does; on
 * Kubernetes every replica serves the API and keeps its pod cache warm, but only the holder of
 * the Lease runs the controller. When the leader dies, another replica takes the lease once it
 * expires and starts its controller, which resumes every workload from the database.
 */
import type { ProtonRuntime } from '../proton-runtime.js';
import { LeaseLeaderElector, type LeaderElectionOptions } from './leader-election.js';

/** What leadership starts and stops: the controller (`WorkloadController` fits). */
export interface LeaderWork {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs the controller while this replica leads. */
export interface Leadership {
  /** Starts (or starts campaigning for) the controller. */
  start(): Promise<void>;
  /** Stops the controller and gives leadership up. */
  stop(): Promise<void>;
  /** Whether this replica runs the controller now. */
  isLeader(): boolean;
  /** The Lease election, in Kubernetes mode. */
  readonly elector?: LeaseLeaderElector;
}

/** The embedded default: one process, always the leader. */
export function singleProcessLeadership(work: LeaderWork): Leadership {
  let running = false;
  return {
    async start() {
      await work.start();
      running = true;
    },
    async stop() {
      running = false;
      await work.stop();
    },
    isLeader: () => running,
  };
}

/** Lease-based leadership: the runtime starts on every replica, the controller only on the leader. */
export function leaseLeadership(
  work: LeaderWork,
  runtime: ProtonRuntime,
  options: Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading'>,
): Leadership {
  const elector = new LeaseLeaderElector({
    ...options,
    onStartedLeading: () => work.start(),
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
