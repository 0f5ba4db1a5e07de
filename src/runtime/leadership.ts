/**
 * Who runs the controller: the interface, and the embedded default's single process that always
 * leads. Lease-based leadership is in ./kubernetes/leadership.ts; this module does not load the
 * Kubernetes client, so the default start-up does not either.
 */
import type { LeaseLeaderElector } from './kubernetes/leader-election.js';

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

