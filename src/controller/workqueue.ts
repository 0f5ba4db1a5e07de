/**
 * A work queue with client-go's semantics (`k8s.io/client-go/util/workqueue`), for reconcile
 * passes keyed by workload:
 *   - dedup: a key added while it waits is queued once;
 *   - one worker per key: a key is never processed by two workers at once; a key added while it
 *     is processed is marked dirty and queued again once that pass ends (so no change is lost);
 *   - fairness: keys are served first in, first out, and a key re-added during its pass goes to
 *     the back, so one busy workload cannot starve the others;
 *   - bounded concurrency: at most `concurrency` passes run at once, whatever the number of keys;
 *   - foreground first: while `yieldTo()` says a burst of mutations is under way, at most one pass
 *     runs and one starts at most every `yieldStartEveryMs`, so the requests get the process and
 *     the database ahead of the backlog, and the backlog still moves (ADR 0005, decision 24);
 *   - each pass starts in a turn of the loop of its own (its check phase), so I/O is served
 *     between passes;
 *   - wake time: each pass is told when its key was first added since the key's last pass began
 *     (what woke it), however long it then waited;
 *   - rate-limited retries: a pass that throws is retried after a per-key exponential backoff
 *     (`baseDelayMs * 2^(failures-1)`, capped at `maxDelayMs`); a pass that succeeds forgets the
 *     key's failures.
 */

/** Handles one key, woken at `wokenAt` (`performance.now()` of the add it answers); throwing asks for a rate-limited retry. */
export type ProcessKey = (key: string, wokenAt: number) => Promise<void>;

export interface WorkQueueOptions {
  /** Passes that may run at once. */
  concurrency: number;
  /**
   * True while foreground work is under way in this process (a burst of mutations): then at most
   * one pass runs, and a new one starts at most every `yieldStartEveryMs`.
   */
  yieldTo?: () => boolean;
  /** While yielding, the least time between two passes' starts (ms); YIELD_START_EVERY_MS by default. */
  yieldStartEveryMs?: number;
  /** First retry delay after a failure. */
  baseDelayMs: number;
  /** Largest retry delay. */
  maxDelayMs: number;
  /** Told about each failed pass and the delay before its retry. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

/** Retry delay after the `failures`-th consecutive failure of one key. */
export function backoffDelay(failures: number, baseDelayMs: number, maxDelayMs: number): number {
  if (failures <= 0) return 0;
  const exponent = Math.min(failures - 1, 52);
  return Math.min(maxDelayMs, baseDelayMs * 2 ** exponent);
}

/** While the foreground holds the queue back, how often it looks whether it still does. */
const YIELD_RECHECK_MS = 10;
/**
 * While the foreground holds the queue back, a pass starts at most this often (ms): the backlog
 * still moves (every workload is brought up in the end, however long the burst), at about four
 * passes a second instead of the burst's share of the process (ADR 0005, decision 24).
 */
export const YIELD_START_EVERY_MS = 250;

export class WorkQueue {
  /** Keys waiting for a worker, in arrival order (`head` is the next one). */
  private items: string[] = [];
  private head = 0;
  /** Keys that need a pass: waiting, or re-added while processed. */
  private readonly dirty = new Set<string>();
  /** When each dirty key was first added since its last pass began. */
  private readonly wokenAt = new Map<string, number>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private idleWaiters: (() => void)[] = [];
  private recheck: NodeJS.Timeout | undefined;
  private shuttingDown = false;
  /** When the last pass started (`performance.now()`). */
  private lastStart = -Infinity;

  constructor(
    private readonly handle: ProcessKey,
    private readonly options: WorkQueueOptions,
  ) {
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1');
  }

  /** Queues a pass over `key`, unless one is already waiting. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.wokenAt.set(key, performance.now());
    if (this.processing.has(key)) return;
    this.items.push(key);
    this.pump();
  }

  /** Queues `key` after its backoff delay (one pending retry per key). */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = backoffDelay(failures, this.options.baseDelayMs, this.options.maxDelayMs);
    if (this.shuttingDown || this.delayed.has(key)) return delay;
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delay);
    timer.unref?.();
    this.delayed.set(key, timer);
    return delay;
  }

  /** Consecutive failures of `key` so far. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys waiting plus keys being processed. */
  get depth(): number {
    return this.items.length - this.head + this.processing.size;
  }

  /** Passes running now. */
  get active(): number {
    return this.processing.size;
  }

  /** Resolves once nothing waits and nothing runs (retries waiting on their backoff are not waited for). */
  drain(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Accepts no more keys, drops pending retries, and waits for the passes under way. */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    clearTimeout(this.recheck);
    this.delayed.clear();
    for (let i = this.head; i < this.items.length; i++) {
      this.dirty.delete(this.items[i]!);
      this.wokenAt.delete(this.items[i]!);
    }
    this.items = [];
    this.head = 0;
    await this.drain();
  }

  /** Passes that may run now: all of `concurrency`; while the foreground works, one, and none until `yieldStartEveryMs` passed since the last start. */
  private get limit(): number {
    if (!this.options.yieldTo?.()) return this.options.concurrency;
    return performance.now() - this.lastStart < (this.options.yieldStartEveryMs ?? YIELD_START_EVERY_MS) ? 0 : 1;
  }

  /**
   * Starts waiting keys up to the limit. Called whenever a key is added and whenever a pass ends;
   * while the foreground holds the queue to one pass, also every `YIELD_RECHECK_MS`, so the other
   * workers fill again soon after the foreground stops waiting even if the one pass is slow.
   */
  private pump(): void {
    const limit = this.limit;
    if (limit < this.options.concurrency && this.head < this.items.length && !this.recheck && !this.shuttingDown) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined;
        this.pump();
      }, YIELD_RECHECK_MS);
      this.recheck.unref?.();
    }
    while (this.processing.size < limit && this.head < this.items.length) {
      const key = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      const wokenAt = this.wokenAt.get(key) ?? performance.now();
      this.dirty.delete(key);
      this.wokenAt.delete(key);
      this.processing.add(key);
      this.lastStart = performance.now();
      // Each pass starts in a turn of the loop's check phase of its own, never in the microtask of
      // the pass that ended: passes over the in-process runtime do their work without I/O between
      // (one 341 ms stretch of them was measured), and a request's answer waited it out.
      setImmediate(() => void this.run(key, wokenAt));
    }
    if (this.depth === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async run(key: string, wokenAt: number): Promise<void> {
    try {
      await this.handle(key, wokenAt);
      this.failures.delete(key);
    } catch (err) {
      const delay = this.addRateLimited(key);
      this.options.onError?.(key, err, delay);
    } finally {
      this.processing.delete(key);
      // Re-added while processed: back of the line, so others get their turn first.
      if (this.dirty.has(key) && !this.shuttingDown) this.items.push(key);
      else {
        this.dirty.delete(key);
        this.wokenAt.delete(key);
      }
      this.pump();
    }
  }
}
