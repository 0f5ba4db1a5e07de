/**
 * A pod informer that keeps itself alive: list, then watch from the list's resourceVersion, by
 * label selector, with a cache of frozen pods and ordered events to its handlers.
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
 *  - `isSynced()` is true only once the first list has been applied.
 */
import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { PodEvent, PodEventHandler, Unsubscribe } from '../proton-runtime.js';
import { RuntimeUnavailableError } from '../proton-runtime.js';
import { httpStatusOf, toRuntimeError } from './errors.js';

/** Tuning of a pod informer; the defaults suit production. */
export interface PodInformerOptions {
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

/** A self-healing list+watch of pods; see the module comment. */
export class PodInformer {
  readonly #core: CoreV1Api;
  readonly #watch: Watch;
  readonly #options: Required<Omit<PodInformerOptions, 'onError'>> & Pick<PodInformerOptions, 'onError'>;
  /** Pods by name, as last seen. */
  readonly #cache = new Map<string, V1Pod>();
  readonly #handlers = new Set<PodEventHandler>();
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
  readonly stats = { lists: 0, watches: 0, restarts: 0, gone: 0, deadWatches: 0 };

  constructor(kubeConfig: KubeConfig, options: PodInformerOptions) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
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
    if (this.#phase === 'stopped') throw new RuntimeUnavailableError('the pod informer was stopped');
    if (this.#phase === 'new') {
      this.#phase = 'running';
      void this.#relist();
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new RuntimeUnavailableError(`the pod cache did not sync within ${timeoutMs} ms; still trying`)),
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
  }

  /** Whether the first list has been applied (and the informer is not stopped). */
  isSynced(): boolean {
    return this.#synced && this.#phase === 'running';
  }

  /** The cached pods (frozen). */
  list(): V1Pod[] {
    return [...this.#cache.values()];
  }

  /** Subscribes a handler; with `replay`, it first gets an `added` event per cached pod. */
  subscribe(handler: PodEventHandler, replay = false): Unsubscribe {
    if (this.#phase === 'stopped') return () => {};
    this.#handlers.add(handler);
    if (replay) {
      for (const pod of this.#cache.values()) this.#deliver(handler, { type: 'added', pod });
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
    let list;
    try {
      this.stats.lists += 1;
      list = await withTimeout(
        this.#core.listNamespacedPod({ namespace: this.#options.namespace, labelSelector: this.#options.labelSelector }),
        this.#options.listTimeoutMs,
        'listing pods',
      );
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#fail(toRuntimeError(error, { objectKind: 'pod', objectId: this.#options.labelSelector, action: 'list' }), 'list');
      return;
    }
    if (generation !== this.#generation || this.#phase !== 'running') return;
    this.#failures = 0;
    this.#applyList(list.items);
    this.#resourceVersion = list.metadata?.resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      this.#firstSync.resolve();
    }
    this.#startWatch();
  }

  /** Replaces the cache with a fresh list, emitting what changed since the cache was last right. */
  #applyList(items: readonly V1Pod[]): void {
    const seen = new Set<string>();
    for (const raw of items) {
      // The list's items come without kind/apiVersion; the watch's carry them. Make them alike.
      const pod = deepFreeze({ apiVersion: 'v1', kind: 'Pod', ...raw } as V1Pod);
      const name = pod.metadata?.name ?? '';
      seen.add(name);
      this.#upsert(pod);
    }
    for (const [name, pod] of [...this.#cache]) {
      if (!seen.has(name)) {
        this.#cache.delete(name);
        this.#emit({ type: 'deleted', pod });
      }
    }
  }

  #upsert(pod: V1Pod): void {
    const name = pod.metadata?.name ?? '';
    const previous = this.#cache.get(name);
    if (previous && previous.metadata?.uid !== pod.metadata?.uid) {
      // Same name, another pod: the old one is gone.
      this.#cache.delete(name);
      this.#emit({ type: 'deleted', pod: previous });
      this.#cache.set(name, pod);
      this.#emit({ type: 'added', pod });
      return;
    }
    if (previous && previous.metadata?.resourceVersion === pod.metadata?.resourceVersion) return;
    this.#cache.set(name, pod);
    this.#emit(previous ? { type: 'modified', pod, previous } : { type: 'added', pod });
  }

  #startWatch(): void {
    if (this.#phase !== 'running') return;
    const generation = ++this.#generation;
    this.stats.watches += 1;
    this.#armDeadTimer(generation);
    const path = `/api/v1/namespaces/${encodeURIComponent(this.#options.namespace)}/pods`;
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
          const pod = deepFreeze(object as V1Pod);
          const rv = pod.metadata?.resourceVersion;
          if (rv) this.#resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          if (type === 'DELETED') {
            const name = pod.metadata?.name ?? '';
            const previous = this.#cache.get(name);
            this.#cache.delete(name);
            this.#emit({ type: 'deleted', pod: previous && previous.metadata?.uid !== pod.metadata?.uid ? previous : pod });
            return;
          }
          this.#upsert(pod);
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
            this.#fail(toRuntimeError(error, { objectKind: 'pod', objectId: this.#options.labelSelector, action: 'watch' }), 'watch');
          }
        },
      )
      .then((controller) => {
        if (generation === this.#generation) this.#abort = controller;
        else controller.abort();
      })
      .catch((error: unknown) => {
        if (generation !== this.#generation || this.#phase !== 'running') return;
        this.#fail(toRuntimeError(error, { objectKind: 'pod', objectId: this.#options.labelSelector, action: 'watch' }), 'watch');
      });
  }

  #armDeadTimer(generation: number): void {
    clearTimeout(this.#deadTimer);
    this.#deadTimer = setTimeout(() => {
      if (generation !== this.#generation || this.#phase !== 'running') return;
      this.stats.deadWatches += 1;
      this.#options.onError?.(new Error(`no watch event for ${this.#options.deadWatchMs} ms`), 'dead watch');
      this.#fail(new RuntimeUnavailableError(`the pod watch was silent for ${this.#options.deadWatchMs} ms`), 'dead watch');
    }, this.#options.deadWatchMs);
    this.#deadTimer.unref?.();
  }

  /** Reports a failure to handlers (they may have missed events) and retries after a back-off, relisting. */
  #fail(error: RuntimeUnavailableError | ReturnType<typeof toRuntimeError>, context: string): void {
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

  #emit(event: PodEvent): void {
    for (const handler of [...this.#handlers]) this.#deliver(handler, event);
  }

  #deliver(handler: PodEventHandler, event: PodEvent): void {
    try {
      handler(event);
    } catch (error) {
      this.#options.onError?.(error, 'pod event handler');
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
