/**
 * Reads go first on the embedded database's one connection (ADR 0071, decision 13).
 *
 * PGlite has one connection, so every statement waits in one queue for it, first come first
 * served: a read sent during a burst waited behind the controller's rounds and the creates'
 * statements queued before it (measured: the connection's wait p50 14 ms, p99 66 ms, max 109 ms
 * over an embedded burst of 1,000 creates). A GraphQL query's work runs marked (`asRead`, set
 * where the operation is executed), and the connection goes to its statements before the others'
 * (mutations, the controller's passes, the maintenance), which keep their arrival order among
 * themselves; once the oldest of them has waited `OTHERS_WAIT_AT_MOST_MS`, it goes next, so a
 * steady stream of reads never stops writes or the controller. The bound is a time, not a count
 * of reads: a count let a controller's round in between two statements of one query (its
 * workload's replacement read before the round, its protons after: an answer no moment had),
 * where a query's few statements take a few milliseconds together. (Giving every request
 * priority over the controller was tried: the burst's creates then held the rounds back, and all
 * RUNNING came 1.5-2 s later.) A PostgreSQL server's pool has connections enough for both (ADR
 * 0060 decision 12 bounds what writes hold), so this is the embedded database's only.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';

const reads = new AsyncLocalStorage<true>();

/** Runs `work` (and everything it starts) as a read: first on the embedded database's connection. */
export function asRead<T>(work: () => T): T {
  return reads.run(true, work);
}

/** Executes every GraphQL query operation as a read (`asRead`): its statements go first. */
export const readPriorityPlugin: Plugin = {
  onExecute({ args, executeFn, setExecuteFn }) {
    if (getOperationAST(args.document, args.operationName)?.operation === 'query') setExecuteFn((execution) => asRead(() => executeFn(execution)));
  },
};

/** Whether the caller runs as a read (`asRead`). */
export function isRead(): boolean {
  return reads.getStore() === true;
}

/** How long the oldest statement that is not a read waits behind reads at most, in ms. */
export const OTHERS_WAIT_AT_MOST_MS = 50;

interface Waiter {
  readonly since: number;
  go: () => void;
}

/** No turn at the gate within the time the pool allows an acquire (knex's `acquireConnectionTimeout`). */
export class GateTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Knex: Timeout acquiring a connection (waited ${timeoutMs} ms for the embedded database's one connection)`);
    this.name = 'KnexTimeoutError';
  }
}

/** One holder at a time; reads' waiters before the others, each in arrival order. */
export class PriorityGate {
  #held = false;
  readonly #reads: Waiter[] = [];
  readonly #others: Waiter[] = [];

  constructor(
    private readonly othersWaitAtMostMs = OTHERS_WAIT_AT_MOST_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Waits for the gate; a `read` waits only behind other reads, the others behind reads too (at
   * most `othersWaitAtMostMs`). With `timeoutMs`, a waiter still waiting then leaves the queue and
   * fails with `GateTimeoutError` (as the pool's own acquire would have).
   */
  take(read: boolean, timeoutMs?: number): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    const queue = read ? this.#reads : this.#others;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { since: this.now(), go: resolve };
      if (timeoutMs !== undefined) {
        const timer = setTimeout(() => {
          const at = queue.indexOf(waiter);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(new GateTimeoutError(timeoutMs));
        }, timeoutMs);
        timer.unref();
        waiter.go = () => {
          clearTimeout(timer);
          resolve();
        };
      }
      queue.push(waiter);
    });
  }

  /** Passes the gate to the next waiter, or opens it. */
  release(): void {
    const oldest = this.#others[0];
    const toOther = oldest !== undefined && (this.#reads.length === 0 || this.now() - oldest.since >= this.othersWaitAtMostMs);
    const next = toOther ? this.#others.shift() : this.#reads.shift();
    if (next) next.go();
    else this.#held = false;
  }

  /** Waiters, for tests. */
  get waiting(): { reads: number; others: number } {
    return { reads: this.#reads.length, others: this.#others.length };
  }
}

/** The part of knex's client the gate wraps. */
interface PooledClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
  config?: { acquireConnectionTimeout?: number };
}

/**
 * Puts `gate` in front of a one-connection pool: the connection is acquired through it and
 * released back to it. The wait for it is bounded as the pool bounded it (knex's
 * `acquireConnectionTimeout`, 60 s by default): a statement never waits for ever behind a
 * connection that is not given back.
 */
export function prioritizeConnection(client: PooledClient, gate = new PriorityGate()): PriorityGate {
  const acquire = client.acquireConnection.bind(client);
  const release = client.releaseConnection.bind(client);
  const timeoutMs = client.config?.acquireConnectionTimeout ?? 60_000;
  client.acquireConnection = async () => {
    await gate.take(isRead(), timeoutMs);
    try {
      return await acquire();
    } catch (err) {
      gate.release();
      throw err;
    }
  };
  client.releaseConnection = async (connection) => {
    try {
      return await release(connection);
    } finally {
      gate.release();
    }
  };
  return gate;
}
