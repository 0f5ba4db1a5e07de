/**
 * The embedded database on a thread of its own.
 *
 * PGlite runs PostgreSQL as WebAssembly on the thread that calls it: about a millisecond of that
 * thread per statement whatever the statement (bench/controller/profile.md). On the API's main
 * thread that millisecond is taken from every request, subscription and controller pass, and a
 * burst's statements are what set its event-loop delay. Here PGlite runs in a worker thread and
 * the API's thread only posts each statement and its parameters and takes the result back (a
 * structured clone: rows, dates, JSON values and byte arrays survive it), so the database uses the
 * machine's other core as PostgreSQL's own process does in production. See
 * docs/adr/0071-startup-and-memory.md (decision 9).
 *
 * The object handed to the ORM's driver has the part of PGlite's interface the driver uses
 * (`waitReady`, `query`, `exec`, `close`). Statements keep their order: the driver has one
 * connection, and PGlite runs what it is given one at a time.
 */
import { createRequire } from 'node:module';
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** What a statement returns, as PGlite gives it. */
export interface ThreadResults {
  rows: Record<string, unknown>[];
  affectedRows?: number;
  fields: { name: string; dataTypeID: number }[];
}

/** The part of PGlite's interface the ORM's driver uses. */
export interface EmbeddedDatabase {
  readonly waitReady: Promise<void>;
  query(sql: string, params?: unknown[]): Promise<ThreadResults>;
  exec(sql: string): Promise<ThreadResults[]>;
  close(): Promise<void>;
}

/** The database thread's JavaScript heap, as V8 reports it (PGlite's WebAssembly memory is external). */
export interface ThreadHeap {
  readonly usedBytes: number;
  readonly totalBytes: number;
  readonly externalBytes: number;
}

/** The embedded database on its thread: what the driver uses, and what the thread's heap holds. */
export interface EmbeddedDatabaseThread extends EmbeddedDatabase {
  heapStatistics(): Promise<ThreadHeap>;
}

export interface ThreadOptions {
  /** The data directory; absent for a database in memory. */
  dataDir?: string;
  /** The compiled module (./pglite-module.ts); a WebAssembly.Module crosses to the thread as is. */
  wasmModule: WebAssembly.Module;
  /** The thread's JavaScript heap limits (Node's defaults when absent). */
  resourceLimits?: ResourceLimits;
}

type Request =
  | { id: number; op: 'query'; sql: string; params: unknown[] }
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'heap' }
  | { id: number; op: 'close' };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** An error's message, name and own fields (PostgreSQL's code, detail, constraint...). */
interface SerializedError {
  name: string;
  message: string;
  fields: Record<string, unknown>;
}

// The worker's code: plain JavaScript, evaluated as the thread's CommonJS entry point, so it runs
// the same from the compiled output, under tsx and under vitest (none of which would agree on how
// to load a TypeScript file as a worker). It holds nothing but the message loop.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require(workerData.pglite);
function serialize(err) {
  const fields = {};
  if (err && typeof err === 'object') {
    for (const [key, value] of Object.entries(err)) {
      if (value === undefined || typeof value === 'function') continue;
      if (key === 'query' || key === 'params' || key === 'queryOptions') continue;
      fields[key] = value;
    }
  }
  return { name: String((err && err.name) || 'Error'), message: String((err && err.message) || err), fields };
}
const db = new PGlite({ ...(workerData.dataDir && { dataDir: workerData.dataDir }), wasmModule: workerData.wasmModule });
// PGlite copies its map of result parsers for every statement (its parseResults spreads it), and
// opening a database fills that map with a parser for the array of every type in pg_type: 316
// entries, 211 of them for arrays of the system catalogs' row types, which no statement of ours
// returns. Copying them cost 0.1-0.2 ms of this thread per statement (a third of a small one).
// Only the parsers a statement can need are kept: those of the built-in types and their arrays
// (OIDs below 10000) and of types created later (from 16384); an array's parser finds its
// element's in the same map.
const keptParsers = (parsers) =>
  Object.fromEntries(Object.entries(parsers).filter(([oid]) => !(Number(oid) >= 10000 && Number(oid) < 16384)));
db.waitReady.then(
  () => {
    db.parsers = keptParsers(db.parsers);
    parentPort.postMessage({ id: 0, ok: true, value: null });
  },
  (err) => parentPort.postMessage({ id: 0, ok: false, error: serialize(err) }),
);
parentPort.on('message', async (request) => {
  try {
    let value = null;
    if (request.op === 'query') value = await db.query(request.sql, request.params);
    else if (request.op === 'exec') value = await db.exec(request.sql);
    else if (request.op === 'heap') {
      const h = require('node:v8').getHeapStatistics();
      value = { usedBytes: h.used_heap_size, totalBytes: h.total_heap_size, externalBytes: h.external_memory };
    } else await db.close();
    parentPort.postMessage({ id: request.id, ok: true, value });
    if (request.op === 'close') parentPort.close();
  } catch (err) {
    parentPort.postMessage({ id: request.id, ok: false, error: serialize(err) });
  }
});
`;

/** An error raised by the embedded database, with PostgreSQL's fields (`code`, `detail`, ...) on it. */
export class EmbeddedDatabaseError extends Error {
  [field: string]: unknown;

  constructor(serialized: SerializedError) {
    super(serialized.message);
    Object.assign(this, serialized.fields);
    // PGlite's own name ('error' for a DatabaseError) is what the ORM's converters expect to see.
    this.name = serialized.name;
  }
}

/** Starts PGlite on a worker thread; `waitReady` settles once the database is open. */
export function startEmbeddedDatabaseThread(options: ThreadOptions): EmbeddedDatabaseThread {
  const require = createRequire(import.meta.url);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    ...(options.resourceLimits && { resourceLimits: options.resourceLimits }),
    workerData: { pglite: require.resolve('@electric-sql/pglite'), dataDir: options.dataDir, wasmModule: options.wasmModule },
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  // The thread keeps the process alive only while a statement is on it: an ORM left open (a
  // script's, a test's) does not hold the process, and a statement under way is answered.
  const settle = (id: number) => {
    const waiting = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    return waiting;
  };
  let nextId = 1;
  let failure: Error | undefined;
  let closed = false;

  const failAll = (err: Error) => {
    failure ??= err;
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
    worker.unref();
  };
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  // Nothing may be left unhandled if no one waits for readiness before a failure.
  ready.catch(() => {});

  worker.on('message', (reply: Reply) => {
    const waiting = settle(reply.id);
    if (!waiting) return;
    if (reply.ok) waiting.resolve(reply.value);
    else waiting.reject(new EmbeddedDatabaseError(reply.error));
  });
  // A crash of the thread (PostgreSQL aborting inside WebAssembly, say) fails what is waiting and
  // everything after it: the database is gone, as a PostgreSQL server that died would be.
  worker.on('error', (err) => failAll(Object.assign(new Error(`the embedded database stopped: ${err.message}`, { cause: err }), { code: '57P02' })));
  worker.on('exit', (code) => {
    if (!closed || pending.size > 0) failAll(Object.assign(new Error(`the embedded database stopped (thread exit ${code})`), { code: '57P02' }));
  });

  const send = <T>(request: Request): Promise<T> => {
    if (failure) return Promise.reject(failure);
    if (closed && request.op !== 'close') return Promise.reject(Object.assign(new Error('the embedded database is closed'), { code: '57P01' }));
    return new Promise<T>((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(request.id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage(request);
    });
  };

  return {
    waitReady: ready,
    query: (sql, params = []) => send<ThreadResults>({ id: nextId++, op: 'query', sql, params }),
    exec: (sql) => send<ThreadResults[]>({ id: nextId++, op: 'exec', sql }),
    heapStatistics: () => send<ThreadHeap>({ id: nextId++, op: 'heap' }),
    async close() {
      if (closed) return;
      closed = true;
      try {
        if (!failure) await send<void>({ id: nextId++, op: 'close' });
      } finally {
        await worker.terminate();
      }
    },
  };
}
