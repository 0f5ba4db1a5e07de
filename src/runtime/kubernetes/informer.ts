/**
 * An informer that keeps itself alive: list, then watch from the list's resourceVersion, by
 * label selector, with a cache of frozen objects and ordered events to its handlers. One class
 * for every kind the runtime caches (pods, Deployments, Services; ADR 0041).
 *
 * @kubernetes/client-node's own informer does not restart after most errors and reports its own
 * `stop()` as an error (STACK.md, pitfall 5), so this one is built on the client's `Watch`:
 *  - any failure restarts it with capped exponential back-off and full jitter;
 *  - `410 Gone` (the resourceVersion was compacted away, e.g. after an API server restart)
 *    relists; a relist is diffed against the cache, so pods that vanished while the watch was
 *    down are emitted as `deleted`, and changed ones as `modified`;
 *  - a watch that delivers nothing (no event, no bookmark, no server-side close) for longer than
 *    `deadWatchMs` is taken for dead, aborted and restarted;
 *  - cached objects are deep-frozen and replaced, never mutated;
 *  - `isSynced()` is true only once the first list has been applied;
 *  - `resync()` relists on demand and resolves once a list no older than the call is applied
 *    (a new leader re-primes its caches with it, ADR 0044);
 *  - the results of the runtime's own writes are remembered (`WrittenObjects`) until the watch
 *    brings them or something newer, so a pass reads its own writes (ADR 0044).
 */
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { RuntimeError, Unsubscribe } from '../proton-runtime.js';
import { RuntimeUnavailableError } from '../proton-runtime.js';
import { httpStatusOf, toRuntimeError } from './errors.js';
import { WrittenObjects, resourceVersionOf } from './written-objects.js';

/** One change of a cached object; objects are frozen: never mutate them. */
export type InformerEvent<T> =
  | { readonly type: 'added'; readonly object: T }
  | { readonly type: 'modified'; readonly object: T; readonly previous: T }
  | { readonly type: 'deleted'; readonly object: T }
  /** The watch failed and is being restarted; events may have been missed. */
  | { readonly type: 'error'; readonly error: RuntimeError };

/** What an informer lists and watches: one kind of object in one namespace. */
export interface InformedKind<T extends KubernetesObject> {
  /** `apiVersion` and `kind` of the objects (a list's items come without them). */
  readonly apiVersion: string;
  readonly kind: string;
  /** The collection's path, e.g. `/api/v1/namespaces/{ns}/pods`. */
  readonly path: string;
  /** Lists the collection with the label selector. */
  list(labelSelector: string): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
}

/** Tuning of an informer; the defaults suit production. */
export interface InformerOptions {
  readonly namespace: string;
  readonly labelSelector: string;
  /** First retry delay after a failure; doubles per consecutive failure. Default 250 ms. */
  readonly initialBackoffMs?: number;
  /** The longest retry delay. Default 30 s. */
  readonly maxBackoffMs?: number;
  /** The server ends each watch after this long (a clean restart point). Default 60 s. */
  readonly watchTimeoutSeconds?: number;
  /** A watch silent for this long is restarted. Default: the watch timeout plus 30 s. */
  readonly deadWatchMs?: number;
  /** A list that has not answered after this long counts as failed (a half-open connection never would). Default 30 s. */
  readonly listTimeoutMs?: number;
  /** Where failures of handlers and of the watch are reported. */
  readonly onError?: (error: unknown, context: string) => void;
  /** Random source for jitter (tests make it deterministic). */
  readonly random?: () => number;
}

type Phase = 'new' | 'running' | 'stopped';

/** Deep-freezes a decoded API object, so no consumer can mutate what the cache holds. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** The delay before retry number `attempt` (0-based): full jitter over a capped exponential. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A self-healing list+watch of one kind of object; see the module comment. */
export class Informer<T extends KubernetesObject> {
  readonly #kind: InformedKind<T>;
  readonly #watch: Watch;
  readonly #options: Required<Omit<InformerOptions, 'onError'>> & Pick<InformerOptions, 'onError'>;
  /** Objects by name, as last seen. */
  readonly #cache = new Map<string, T>();
  /** The results of our own writes that the watch has not brought yet. */
  readonly #written = new WrittenObjects<T>();
  readonly #handlers = new Set<(event: InformerEvent<T>) => void>();
  /** Number of the latest list started, and callers of `resync()` waiting for a list after theirs. */
  #listsStarted = 0;
  #resyncWaiters: { after: number; resolve: () => void }[] = [];
  #phase: Phase = 'new';
  #synced = false;
  #resourceVersion: string | undefined;
  #failures = 0;
  /** Aborts the watch under way. */
  #abort: AbortController | undefined;
  #deadTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #firstSync: { promise: Promise<void>; resolve: () => void };
  /** Bumped per watch, so callbacks of an abandoned watch are ignored. */
  #generation = 0;
  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, watchesConnected: 0, restarts: 0, gone: 0, deadWatches: 0 };

  constructor(kubeConfig: KubeConfig, kind: InformedKind<T>, options: InformerOptions) {
    this.#kind = kind;
    this.#watch = new Watch(kubeConfig);
    const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 60;
    this.#options = {
      initialBackoffMs: 250,
      maxBackoffMs: 30_000,
      deadWatchMs: watchTimeoutSeconds * 1000 + 30_000,
      listTimeoutMs: 30_000,
      random: Math.random,
      ...options,
      watchTimeoutSeconds,
    };
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#firstSync = { promise, resolve };
  }

  /** Starts listing and watching; resolves once the first list is in the cache, or rejects after `timeoutMs` (it keeps trying). */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.#phase === 'stopped') throw new RuntimeUnavailableError(`the ${this.#kind.kind} informer was stopped`);
    if (this.#phase === 'new') {
      this.#phase = 'running';
      void this.#relist();
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RuntimeUnavailableError(`the ${this.#kind.kind} cache did not sync within ${timeoutMs} ms; still trying`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.#firstSync.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops watching; handlers get nothing afterwards. Idempotent. */
  stop(): void {
    if (this.#phase === 'stopped') return;
    this.#phase = 'stopped';
    this.#generation += 1;
    clearTimeout(this.#deadTimer);
    clearTimeout(this.#retryTimer);
    this.#abort?.abort();
    this.#abort = undefined;
    this.#handlers.clear();
    for (const waiter of this.#resyncWaiters.splice(0)) waiter.resolve();
  }

  /** Whether the first list has been applied (and the informer is not stopped). */
  isSynced(): boolean {
    return this.#synced && this.#phase === 'running';
  }

  /** The cached objects (frozen), our own writes the watch has not brought yet included. */
  list(): T[] {
    if (this.#written.size === 0) return [...this.#cache.values()];
    const names = new Set([...this.#cache.keys(), ...this.#written.names()]);
    const objects: T[] = [];
    for (const name of names) {
      const object = this.get(name);
      if (object) objects.push(object);
    }
    return objects;
  }

  /** One cached object by name (or our own newer write of it), or undefined. */
  get(name: string): T | undefined {
    return this.#written.newer(name, this.#cache.get(name));
  }

  /** Remembers the result of our own write until the watch brings it (or something newer). */
  noteWritten(object: T): void {
    this.#written.wrote(deepFreeze(object), this.#cache.get(object.metadata?.name ?? ''));
  }

  /** Remembers that we deleted an object (or started its deletion, with the object as it is now being deleted). */
  noteDeleted(name: string, deleting?: T): void {
    this.#written.deleted(name, this.#cache.get(name), deleting && deepFreeze(deleting));
  }

  /**
   * Relists now, and resolves once a list started after this call has been applied (or the
   * informer stopped). Rejects after `timeoutMs`; the informer keeps trying.
   */
  async resync(timeoutMs = 60_000): Promise<void> {
    if (this.#phase !== 'running') throw new RuntimeUnavailableError(`the ${this.#kind.kind} informer is not running`);
    const after = this.#listsStarted;
    const done = new Promise<void>((resolve) => this.#resyncWaiters.push({ after, resolve }));
    clearTimeout(this.#retryTimer);
    void this.#relist();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RuntimeUnavailableError(`the ${this.#kind.kind} cache did not relist within ${timeoutMs} ms; still trying`)), timeoutMs);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Subscribes a handler; with `replay`, it first gets an `added` event per cached object. */
  subscribe(handler: (event: InformerEvent<T>) => void, replay = false): Unsubscribe {
    if (this.#phase === 'stopped') return () => {};
    this.#handlers.add(handler);
    if (replay) {
      for (const object of this.#cache.values()) this.#deliver(handler, { type: 'added', object });
    }
    return () => {
      this.#handlers.delete(handler);
    };
  }

  /**
   * Forces the current watch to end as if the connection dropped (tests of recovery use it;
   * operators never need it).
   */
  dropWatch(): void {
    this.#abort?.abort();
  }

  async #relist(): Promise<void> {
    const generation = ++this.#generation;
    this.#abort?.abort();
    clearTimeout(this.#deadTimer);
    const listNumber = ++this.#listsStarted;
    let list;
    try {
      this.stats.lists += 1;
      list = await withTimeout(this.#kind.list(this.#options.labelSelector), this.#options.listTimeoutMs, `listing ${this.#kind.kind}s`);
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#fail(toRuntimeError(error, this.#errorContext('list')), 'list');
      return;
    }
    if (generation !== this.#generation || this.#phase !== 'running') return;
    this.#failures = 0;
    this.#applyList(list.items);
    this.#resourceVersion = list.metadata?.resourceVersion;
    // The list holds everything up to its resourceVersion: our older writes are in it.
    this.#written.forgetUpTo(resourceVersionOf(list.metadata?.resourceVersion));
    if (!this.#synced) {
      this.#synced = true;
      this.#firstSync.resolve();
    }
    const waiting = this.#resyncWaiters;
    this.#resyncWaiters = waiting.filter((w) => w.after >= listNumber);
    for (const waiter of waiting) if (waiter.after < listNumber) waiter.resolve();
    this.#startWatch();
  }

  /** Replaces the cache with a fresh list, emitting what changed since the cache was last right. */
  #applyList(items: readonly T[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      // The list's items come without kind/apiVersion; the watch's carry them. Make them alike.
      const object = deepFreeze({ apiVersion: this.#kind.apiVersion, kind: this.#kind.kind, ...raw } as T);
      const name = object.metadata?.name ?? '';
      seen.add(name);
      this.#upsert(object);
    }
    for (const [name, object] of [...this.#cache]) {
      if (!seen.has(name)) {
        this.#cache.delete(name);
        this.#emit({ type: 'deleted', object });
      }
    }
  }

  #upsert(object: T): void {
    const name = object.metadata?.name ?? '';
    const previous = this.#cache.get(name);
    this.#written.seen(name, object);
    if (previous && previous.metadata?.uid !== object.metadata?.uid) {
      // Same name, another object: the old one is gone.
      this.#cache.delete(name);
      this.#emit({ type: 'deleted', object: previous });
      this.#cache.set(name, object);
      this.#emit({ type: 'added', object });
      return;
    }
    if (previous && previous.metadata?.resourceVersion === object.metadata?.resourceVersion) return;
    this.#cache.set(name, object);
    this.#emit(previous ? { type: 'modified', object, previous } : { type: 'added', object });
  }

  #errorContext(action: string) {
    return { objectKind: this.#kind.kind === 'Pod' ? 'pod' : this.#kind.kind === 'Service' ? 'route' : 'proton', objectId: `${this.#kind.kind}s ${this.#options.labelSelector}`, action } as const;
  }

  #startWatch(): void {
    if (this.#phase !== 'running') return;
    const generation = ++this.#generation;
    this.stats.watches += 1;
    this.#armDeadTimer(generation);
    const path = this.#kind.path;
    const query = {
      labelSelector: this.#options.labelSelector,
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: this.#options.watchTimeoutSeconds,
    };
    let gone = false;
    this.#watch
      .watch(
        path,
        query,
        (type: string, object: unknown) => {
          if (generation !== this.#generation) return;
          this.#armDeadTimer(generation);
          this.#failures = 0;
          if (type === 'ERROR') {
            const status = object as { code?: number; reason?: string; message?: string };
            if (status.code === 410) gone = true;
            else this.#options.onError?.(status, 'watch error event');
            this.#abort?.abort();
            return;
          }
          const changed = deepFreeze(object as T);
          const rv = changed.metadata?.resourceVersion;
          if (rv) this.#resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          if (type === 'DELETED') {
            const name = changed.metadata?.name ?? '';
            const previous = this.#cache.get(name);
            this.#cache.delete(name);
            this.#written.gone(name, changed);
            this.#emit({ type: 'deleted', object: previous && previous.metadata?.uid !== changed.metadata?.uid ? previous : changed });
            return;
          }
          this.#upsert(changed);
        },
        (error: unknown) => {
          if (generation !== this.#generation || this.#phase !== 'running') return;
          clearTimeout(this.#deadTimer);
          if (gone || httpStatusOf(error) === 410) {
            this.stats.gone += 1;
            this.stats.restarts += 1;
            void this.#relist();
          } else if (error === null || error === undefined) {
            // The server ended the watch (its timeout): carry on from where it stopped.
            this.#startWatch();
          } else {
            this.#fail(toRuntimeError(error, this.#errorContext('watch')), 'watch');
          }
        },
      )
      .then((controller) => {
        if (generation === this.#generation) {
          this.#abort = controller;
          this.stats.watchesConnected += 1;
        } else controller.abort();
      })
      .catch((error: unknown) => {
        if (generation !== this.#generation || this.#phase !== 'running') return;
        this.#fail(toRuntimeError(error, this.#errorContext('watch')), 'watch');
      });
  }

  #armDeadTimer(generation: number): void {
    clearTimeout(this.#deadTimer);
    this.#deadTimer = setTimeout(() => {
      if (generation !== this.#generation || this.#phase !== 'running') return;
      this.stats.deadWatches += 1;
      this.#options.onError?.(new Error(`no watch event for ${this.#options.deadWatchMs} ms`), 'dead watch');
      this.#fail(new RuntimeUnavailableError(`the ${this.#kind.kind} watch was silent for ${this.#options.deadWatchMs} ms`), 'dead watch');
    }, this.#options.deadWatchMs);
    this.#deadTimer.unref?.();
  }

  /** Reports a failure to handlers (they may have missed events) and retries after a back-off, relisting. */
  #fail(error: RuntimeError, context: string): void {
    if (this.#phase !== 'running') return;
    const generation = ++this.#generation;
    this.#abort?.abort();
    this.#abort = undefined;
    this.#options.onError?.(error, context);
    this.#emit({ type: 'error', error });
    const delay = backoffDelay(this.#failures, this.#options.initialBackoffMs, this.#options.maxBackoffMs, this.#options.random);
    this.#failures += 1;
    this.stats.restarts += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (generation !== this.#generation || this.#phase !== 'running') return;
      // After a failure, trust nothing: relist and diff (cheap for our label selector).
      void this.#relist();
    }, delay);
  }

  #emit(event: InformerEvent<T>): void {
    for (const handler of [...this.#handlers]) this.#deliver(handler, event);
  }

  #deliver(handler: (event: InformerEvent<T>) => void, event: InformerEvent<T>): void {
    try {
      handler(event);
    } catch (error) {
      this.#options.onError?.(error, `${this.#kind.kind} event handler`);
    }
  }
}

/** Rejects with `RuntimeUnavailableError` if `promise` has not settled after `ms` (the call itself is abandoned). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RuntimeUnavailableError(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
