/**
 * Items written several to a statement, one statement at a time: an item that arrives while
 * nothing is being written is written at once, alone; the items that arrive while a statement runs
 * wait, and the next statement takes them together (up to `maxPerStatement`, in arrival order).
 * Each item is answered on its own from the statement's result for it. Under a burst this turns
 * many statements' fixed costs (a round trip, a plan, a commit) into a few, and holds one
 * connection however many items wait (ADR 0005 decision 27).
 */
export interface StatementBatchesOptions<I, R> {
  /** Writes `items` in one statement and answers each, in order. Throwing fails every item of the statement. */
  write(items: readonly I[]): Promise<readonly PromiseSettledResult<R>[]>;
  /** At most this many items in one statement. */
  maxPerStatement: number;
  /** Whether a statement's failure fails the items waiting for the next as well (the next would fail the same way). */
  failsWaiting?(err: unknown): boolean;
}

interface Waiting<I, R> {
  readonly item: I;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

export class StatementBatches<I, R> {
  readonly #waiting: Waiting<I, R>[] = [];
  #writing = 0;

  constructor(private readonly options: StatementBatchesOptions<I, R>) {}

  /** Writes `item` with the items waiting beside it; answers its own result. */
  add(item: I): Promise<R> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#writing === 0) void this.#drain();
    });
  }

  /** Items waiting for a statement, not counting those being written. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Items of the statement being written (0 when none is). */
  get writing(): number {
    return this.#writing;
  }

  /** Items not yet answered: waiting, or being written. */
  get pending(): number {
    return this.#waiting.length + this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, Math.max(1, this.options.maxPerStatement));
      this.#writing = batch.length;
      try {
        await this.#write(batch);
      } finally {
        this.#writing = 0;
      }
    }
  }

  async #write(batch: readonly Waiting<I, R>[]): Promise<void> {
    let results: readonly PromiseSettledResult<R>[];
    try {
      results = await this.options.write(batch.map((w) => w.item));
    } catch (err) {
      const failed = this.options.failsWaiting?.(err) ? [...batch, ...this.#waiting.splice(0)] : batch;
      for (const w of failed) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const result = results[i];
      if (result?.status === 'fulfilled') w.resolve(result.value);
      else w.reject(result ? result.reason : new Error(`the statement answered ${results.length} of its ${batch.length} items`));
    });
  }
}
