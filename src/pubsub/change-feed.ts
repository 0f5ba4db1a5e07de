import type { CommittedEvents } from '../store/events.js';

/** What a live subscription hears from the feed. Both calls must be cheap: they run for every change. */
export interface ChangeListener {
  /** A workload changed; `sequence` is its newest event number. */
  changed(workloadId: string, sequence: number): void;
  /** Notifications may have been lost (the broker was unreachable): re-read everything watched. */
  resync(): void;
}

/** How long the events of a commit made here are kept for the readers here (ms): as long as a shared read serves late streams. */
export const COMMITTED_KEPT_MS = 2_000;
/** The most workloads whose last commit is kept at once (the oldest go first). */
export const COMMITTED_KEPT_MAX = 10_000;

/**
 * The process-local fan-out of `workload:changed`: one broker subscription per process, and a map
 * from workload id to the live subscriptions that watch it, so a change costs O(its watchers) and
 * not O(all subscriptions). List subscriptions watch every workload.
 *
 * It also keeps, for a moment, the events of the last commit this process made to each workload's
 * log (the controller's rounds, `keepCommitted`), so that the live streams here that are in step
 * with the log take them from memory instead of reading back what was just written (ADR 0033
 * decision 7). Announcements still carry only ids and sequences: another replica, or a stream
 * out of step, reads the log.
 */
export class ChangeFeed {
  private readonly byWorkload = new Map<string, Set<ChangeListener>>();
  private readonly everyWorkload = new Set<ChangeListener>();
  private readonly lost = new Set<() => void>();
  /** The last commit kept per workload, oldest first (a commit moves its workload to the end). */
  private readonly commits = new Map<string, { readonly committed: CommittedEvents; readonly until: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Keeps the events a write of this process committed to a workload's log; call before announcing them. */
  keepCommitted(workloadId: string, committed: CommittedEvents): void {
    const now = this.now();
    this.commits.delete(workloadId);
    this.commits.set(workloadId, { committed, until: now + COMMITTED_KEPT_MS });
    for (const [id, kept] of this.commits) {
      if (kept.until > now && this.commits.size <= COMMITTED_KEPT_MAX) break;
      this.commits.delete(id);
    }
  }

  /**
   * The events after `after` up to `upTo` when one commit kept here wrote exactly those (and the
   * workload's deletion as it left it), else undefined: then they are read from the log.
   */
  committed(workloadId: string, after: number, upTo: number): CommittedEvents | undefined {
    const kept = this.commits.get(workloadId);
    if (!kept || kept.until <= this.now()) return undefined;
    const c = kept.committed;
    return c.after === after && c.after + c.events.length === upTo ? c : undefined;
  }

  /**
   * Calls `listener` whenever notifications may have been lost (as `resync` does a watcher's), for
   * what keeps state between notifications other than a subscription: the controller's kept views.
   * Not counted as a subscription. Returns the function that stops it.
   */
  onResync(listener: () => void): () => void {
    this.lost.add(listener);
    return () => {
      this.lost.delete(listener);
    };
  }

  /** Watches one workload, or every workload with `null`; returns the function that stops watching. */
  watch(workloadId: string | null, listener: ChangeListener): () => void {
    if (workloadId === null) {
      this.everyWorkload.add(listener);
      return () => {
        this.everyWorkload.delete(listener);
      };
    }
    let set = this.byWorkload.get(workloadId);
    if (!set) {
      set = new Set();
      this.byWorkload.set(workloadId, set);
    }
    set.add(listener);
    return () => {
      const current = this.byWorkload.get(workloadId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.byWorkload.delete(workloadId);
    };
  }

  /** Delivers one change to its watchers. */
  deliver(workloadId: string, sequence: number): void {
    const set = this.byWorkload.get(workloadId);
    if (set) for (const l of set) l.changed(workloadId, sequence);
    for (const l of this.everyWorkload) l.changed(workloadId, sequence);
  }

  /** Tells every watcher to re-read: changes published while the broker was away were not heard. */
  resync(): void {
    for (const set of this.byWorkload.values()) for (const l of set) l.resync();
    for (const l of this.everyWorkload) l.resync();
    for (const l of this.lost) l();
  }

  /** How many subscriptions are watching (for tests and metrics). */
  get size(): number {
    let n = this.everyWorkload.size;
    for (const set of this.byWorkload.values()) n += set.size;
    return n;
  }
}
