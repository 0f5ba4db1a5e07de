/**
 * Time for the simulated cluster: an injectable clock and scheduler. Real timers by default;
 * `ManualTimers` lets a test (or a controller test) drive simulated time step by step.
 */

/** An opaque handle of a scheduled callback. */
export type TimerHandle = unknown;

/** The clock and scheduler the simulated cluster runs on. */
export interface Timers {
  /** The current time. */
  now(): Date;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a callback that has not run yet; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The wall clock and Node's timers. */
export const realTimers: Timers = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ManualTimer {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/**
 * Time that moves only when told: `advance(ms)` runs every callback due within the window, in
 * due order (ties in scheduling order), including callbacks scheduled while advancing.
 */
export class ManualTimers implements Timers {
  #now: number;
  #nextId = 1;
  #queue: ManualTimer[] = [];

  /** Starts the clock at `start` (default 2025-01-01T00:00:00Z). */
  constructor(start: Date = new Date('2025-01-01T00:00:00Z')) {
    this.#now = start.getTime();
  }

  /** The simulated current time. */
  now(): Date {
    return new Date(this.#now);
  }

  /** Schedules `fn` at now + `ms` of simulated time. */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.#nextId++, due: this.#now + Math.max(0, ms), fn };
    this.#queue.push(timer);
    return timer.id;
  }

  /** Cancels a scheduled callback. */
  clearTimeout(handle: TimerHandle): void {
    this.#queue = this.#queue.filter((t) => t.id !== handle);
  }

  /** How many callbacks are scheduled. */
  pending(): number {
    return this.#queue.length;
  }

  /** Milliseconds until the next callback is due, or undefined if none is scheduled. */
  nextDueIn(): number | undefined {
    const next = this.#peek();
    return next === undefined ? undefined : next.due - this.#now;
  }

  /** Moves time forward by `ms`, running every callback that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#peek();
      if (next === undefined || next.due > end) break;
      this.#queue = this.#queue.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = end;
  }

  /** Moves time to the next scheduled callback and runs every callback due then; returns false if none is scheduled. */
  step(): boolean {
    const wait = this.nextDueIn();
    if (wait === undefined) return false;
    this.advance(wait);
    return true;
  }

  #peek(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#queue) if (best === undefined || t.due < best.due || (t.due === best.due && t.id < best.id)) best = t;
    return best;
  }
}
