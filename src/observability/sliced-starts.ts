/**
 * Request starts in slices of the event loop (ADR 0060 decision 13). When a burst's requests
 * arrive together, Node.js runs each one's callbacks (headers, routing, the GraphQL handler up to
 * where it first waits) one after the other in a single turn of the loop: a thousand creates at
 * once held the loop for 140-270 ms in one turn, and every timer, response and read waited behind
 * them. Here a phase of the loop starts requests for at most `sliceMs` (the poll phase that
 * delivers them, then the check phases); the rest wait, in arrival order, for the next turns, so
 * timers and I/O run between slices. A request that arrives while others wait
 * queues behind them: starting in arrival order is what keeps the wait of each bounded.
 */

/** Starts work in slices of the event loop; see the module comment. */
export class SlicedStarts {
  readonly #sliceMs: number;
  readonly #now: () => number;
  readonly #waiting: Array<() => void> = [];
  /** When this turn's slice began, or null when no start ran in this turn yet. */
  #sliceBegan: number | null = null;
  #drainScheduled = false;

  constructor(sliceMs: number, now: () => number = () => performance.now()) {
    this.#sliceMs = sliceMs;
    this.#now = now;
  }

  /** Starts waiting for a later turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `start` now if this turn's slice has room and nothing waits; else in a later turn, in order. */
  run(start: () => void): void {
    if (this.#waiting.length === 0 && this.#roomInSlice()) {
      start();
      return;
    }
    this.#waiting.push(start);
    this.#scheduleDrain();
  }

  #roomInSlice(): boolean {
    const now = this.#now();
    if (this.#sliceBegan === null) {
      this.#sliceBegan = now;
      // The slice ends with this turn: the check phase comes after the poll phase that delivered
      // the requests, before the loop's next timers.
      setImmediate(this.#endSlice);
      return true;
    }
    return now - this.#sliceBegan < this.#sliceMs;
  }

  readonly #endSlice = (): void => {
    this.#sliceBegan = null;
  };

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    // Queued from the poll phase that delivered the requests: this turn's check phase (a second
    // slice of this turn; deferring it a whole turn cost the invoke endpoint's latency). Queued
    // from a check phase: the next turn's, after its timers and I/O.
    setImmediate(this.#drain);
  }

  readonly #drain = (): void => {
    this.#drainScheduled = false;
    const began = this.#now();
    try {
      // At least one start per turn, so a slice shorter than one start still makes progress.
      do {
        const start = this.#waiting.shift();
        if (!start) break;
        start();
      } while (this.#waiting.length > 0 && this.#now() - began < this.#sliceMs);
    } finally {
      // Queued from this check phase: the next turn, after its timers and poll. In `finally`: a
      // start that throws does not strand the ones behind it.
      if (this.#waiting.length > 0) this.#scheduleDrain();
    }
  };
}
