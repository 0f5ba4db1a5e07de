/** What a live subscription hears from the feed. Both calls must be cheap: they run for every change. */
export interface ChangeListener {
  /** A workload changed; `sequence` is its newest event number. */
  changed(workloadId: string, sequence: number): void;
  /** Notifications may have been lost (the broker was unreachable): re-read everything watched. */
  resync(): void;
}

/**
 * The process-local fan-out of `workload:changed`: one broker subscription per process, and a map
 * from workload id to the live subscriptions that watch it, so a change costs O(its watchers) and
 * not O(all subscriptions). List subscriptions watch every workload.
 */
export class ChangeFeed {
  private readonly byWorkload = new Map<string, Set<ChangeListener>>();
  private readonly everyWorkload = new Set<ChangeListener>();
  private readonly lost = new Set<() => void>();

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
