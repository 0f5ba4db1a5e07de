import type { ExecutionArgs, ExecutionResult } from 'graphql';
import type { GraphQLContext } from '../context.js';

/** The JSON of results executed once for a group (ADR 0033). */
const serialized = new WeakMap<object, string>();

/** What is written for a payload shared by a group: its JSON, computed once (Yoga's SSE uses `stringify`). */
type SharedResult = ExecutionResult & { stringify?: (result: unknown) => string };

/** The JSON of a result executed for a group of subscribers, if it was serialized once for all of them. */
export function preSerialized(result: object): string | undefined {
  return serialized.get(result);
}

/** Serializes a result without errors once, for every subscriber and transport. */
export function serializeOnce(result: ExecutionResult): ExecutionResult {
  if (result.errors?.length) return result;
  const json = JSON.stringify(result);
  serialized.set(result, json);
  // Yoga's SSE writer calls `result.stringify` when there is one.
  Object.defineProperty(result as SharedResult, 'stringify', { value: () => json, enumerable: false });
  return result;
}

/**
 * One subscription of a group (ADR 0033). The group writes each shared result to it: over
 * graphql-ws straight onto the connection as a `next` frame (no iterator step, no per-message
 * work of graphql-ws), otherwise (SSE, a result with errors) into a small queue that the
 * transport reads as the operation's stream. The queue is bounded: a subscriber that lets more
 * than `maxQueued` results wait is ended (`onOverflow`, SLOW_CONSUMER); over graphql-ws, the
 * connection's send buffer is the bound (the transport closes it with 4413).
 *
 * As an async iterator it yields only what the transport must send itself; it is done after its
 * final result, or at once when the client leaves (`return`), which takes it out of its group.
 */
export class GroupSubscriber implements AsyncIterableIterator<ExecutionResult> {
  /** Events up to this sequence were sent before it joined its group (it joined ahead of it). */
  skipThrough = 0;
  /** Called once when it stops receiving: the client left, or it was ended. */
  onLeave: (() => void) | undefined;
  /** Called when its queue overflows: the group ends it as a slow consumer. */
  onOverflow: (() => void) | undefined;
  #queue: ExecutionResult[] = [];
  #waiting: ((result: IteratorResult<ExecutionResult>) => void) | undefined;
  #writable: (() => void) | undefined;
  #closed = false;
  #finished = false;
  #cancel: (() => void) | undefined;

  constructor(
    readonly args: ExecutionArgs,
    private readonly maxQueued: number,
  ) {}

  get context(): GraphQLContext {
    return this.args.contextValue as GraphQLContext;
  }

  /** Whether it takes no more results (ended, or the client left). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `cancel` when it stops receiving (a timer of its own, such as its token's expiry). */
  untilLeft(cancel: () => void): void {
    this.#cancel = cancel;
  }

  /** Sends one shared result. */
  deliver(result: ExecutionResult): void {
    if (this.#closed) return;
    const json = serialized.get(result);
    const sendNext = this.context.connection?.sendNext;
    if (json !== undefined && sendNext) {
      sendNext(json);
      return;
    }
    if (this.#queue.length >= this.maxQueued) {
      this.onOverflow?.();
      return;
    }
    this.#enqueue(result);
  }

  /** Ends it: `final` (its own end, an error result) is the last thing it sends. */
  end(final?: ExecutionResult): void {
    if (this.#finished) return;
    this.#leave();
    this.#finished = true;
    if (final) this.#enqueue(final);
    else if (this.#queue.length === 0) this.#settle({ value: undefined, done: true });
  }

  /**
   * Resolves when there is room in its queue again (at once over graphql-ws): a subscriber
   * catching up with its group's backlog waits for its client rather than being cut.
   */
  writable(): Promise<void> | undefined {
    if (this.#closed || this.#queue.length < this.maxQueued / 2) return undefined;
    return new Promise<void>((resolve) => (this.#writable = resolve));
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    const value = this.#queue.shift();
    if (this.#writable && this.#queue.length < this.maxQueued / 2) {
      this.#writable();
      this.#writable = undefined;
    }
    if (value) return Promise.resolve({ value, done: false });
    if (this.#finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.#leave();
    this.#finished = true;
    this.#queue = [];
    this.#settle({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    void this.return();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #enqueue(result: ExecutionResult): void {
    if (this.#waiting) this.#settle({ value: result, done: false });
    else this.#queue.push(result);
  }

  #settle(result: IteratorResult<ExecutionResult>): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.(result);
  }

  #leave(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancel?.();
    this.#cancel = undefined;
    this.#writable?.();
    this.#writable = undefined;
    const leave = this.onLeave;
    this.onLeave = undefined;
    leave?.();
  }
}
