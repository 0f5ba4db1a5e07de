import pLimit, { type LimitFunction } from 'p-limit';

/**
 * At most `width` tasks at once per key, the rest queued in arrival order; tasks of different
 * keys run independently. A key's limiter is dropped once it has nothing running or queued.
 */
export class KeyedLimit {
  private readonly limits = new Map<string, LimitFunction>();

  constructor(private readonly width: number) {}

  /** Runs `task` once fewer than `width` tasks of `key` are running. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let limit = this.limits.get(key);
    if (!limit) {
      limit = pLimit(this.width);
      this.limits.set(key, limit);
    }
    try {
      return await limit(task);
    } finally {
      if (limit.activeCount === 0 && limit.pendingCount === 0 && this.limits.get(key) === limit) this.limits.delete(key);
    }
  }

  /** How many keys have running or queued tasks. */
  get size(): number {
    return this.limits.size;
  }
}
