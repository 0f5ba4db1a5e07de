/**
 * Read-your-writes for an informer's cache (client-go's `MutationCache`): the result of each of
 * our own writes is remembered until the watch brings that version or a newer one, so a pass
 * that wrote a Deployment or a Service reads what it wrote, not the version before it.
 *
 * It needs an order of resourceVersions. Kubernetes calls them opaque, but every API server
 * backed by etcd hands out etcd revisions (integers), and client-go's mutation cache compares
 * them the same way; a resourceVersion that is not an integer is never remembered, and the
 * informer's cache alone answers. An entry lives at most `ttlMs` (a watch that is down for
 * longer has been relisted by then, or the cache is as stale as it would be without us).
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** The integer of a resourceVersion, or undefined when it is not one. */
export function resourceVersionOf(value: string | undefined): bigint | undefined {
  if (!value || !/^\d+$/.test(value)) return undefined;
  return BigInt(value);
}

interface Written<T> {
  /** What we wrote, or null after a delete. */
  readonly object: T | null;
  /** A cached version at least this new supersedes the entry. */
  readonly supersededFrom: bigint;
  readonly at: number;
}

/** Our own writes that the watch has not delivered yet, by object name. */
export class WrittenObjects<T extends KubernetesObject> {
  readonly #entries = new Map<string, Written<T>>();

  constructor(
    private readonly ttlMs = 30_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  names(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Remembers a write's result, unless the cache already holds that version or a newer one. */
  wrote(object: T, cached: T | undefined): void {
    const name = object.metadata?.name;
    const rv = resourceVersionOf(object.metadata?.resourceVersion);
    if (!name || rv === undefined) return;
    const cachedRv = resourceVersionOf(cached?.metadata?.resourceVersion);
    if (cachedRv !== undefined && cachedRv >= rv && cached?.metadata?.uid === object.metadata?.uid) return;
    this.#entries.set(name, { object, supersededFrom: rv, at: this.now() });
  }

  /**
   * Remembers a delete: the object reads as `deleting` (a foreground delete under way) or as
   * gone, until the cache shows a version newer than the one we deleted.
   */
  deleted(name: string, cached: T | undefined, deleting?: T): void {
    const rv = resourceVersionOf(cached?.metadata?.resourceVersion);
    if (rv === undefined) {
      this.#entries.delete(name);
      return;
    }
    this.#entries.set(name, { object: deleting ?? null, supersededFrom: rv + 1n, at: this.now() });
  }

  /** The watch (or a list) brought a version of the object: entries it supersedes go. */
  seen(name: string, object: T): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    const rv = resourceVersionOf(object.metadata?.resourceVersion);
    if (rv === undefined || rv >= entry.supersededFrom) this.#entries.delete(name);
  }

  /** The watch says the object is gone: a delete we remembered is done; a newer write (a re-create) stays. */
  gone(name: string, last: T): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    const rv = resourceVersionOf(last.metadata?.resourceVersion);
    if (entry.object === null || rv === undefined || rv >= entry.supersededFrom) this.#entries.delete(name);
  }

  /** A list at `rv` holds every write up to it. */
  forgetUpTo(rv: bigint | undefined): void {
    if (rv === undefined) {
      this.#entries.clear();
      return;
    }
    for (const [name, entry] of this.#entries) if (entry.supersededFrom <= rv) this.#entries.delete(name);
  }

  /** The newer of the cached object and our own write of it. */
  newer(name: string, cached: T | undefined): T | undefined {
    const entry = this.#entries.get(name);
    if (!entry) return cached;
    if (this.now() - entry.at > this.ttlMs) {
      this.#entries.delete(name);
      return cached;
    }
    const cachedRv = resourceVersionOf(cached?.metadata?.resourceVersion);
    if (cachedRv !== undefined && cachedRv >= entry.supersededFrom) {
      this.#entries.delete(name);
      return cached;
    }
    return entry.object ?? undefined;
  }
}
