/**
 * Prometheus metrics of one app instance, in a registry of its own (several apps share a test
 * process). Counters and histograms are updated as things happen; gauges of state (queue depth,
 * open streams, leadership, the pod informer, workloads by status) are read when scraped.
 * The list is in README.md, "Operations".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WORKLOAD_STATUSES, type WorkloadStatus } from '../domain/model.js';
import type { Clock } from '../domain/clock.js';
import type { Orm } from '../store/orm.js';
import { queryRows } from '../store/sql.js';

const PREFIX = 'workload_api_';
/** Distinct operation names kept as label values; later names count as `__other` (clients choose names). */
const MAX_OPERATION_NAMES = 200;
/** Workloads by status are counted at most this often, however often Prometheus scrapes. */
const WORKLOAD_STATUS_CACHE_MS = 5000;

export type OperationOutcome = 'success' | 'error' | 'rejected';

/** How a subscription reached the server: graphql-ws, or HTTP (GraphQL over SSE). */
export type StreamTransport = 'websocket' | 'http';

/** What the scrape-time gauges read. */
export interface MetricSources {
  orm: Orm;
  clock: Clock;
  controller: { readonly queueDepth: number };
  leadership: { isLeader(): boolean };
  streams: { active(): Record<StreamTransport, number> };
  /** The embedded database's thread (its heap is not in Node's own heap metrics, which are the main thread's). */
  embeddedDatabase?: { heapStatistics(): Promise<{ usedBytes: number; totalBytes: number; externalBytes: number }> };
  /** The pod informer, with the Kubernetes runtime. */
  informer?: { readonly stats: { readonly restarts: number }; isSynced(): boolean };
}

/** The metrics of one app; `registry.metrics()` renders them. */
export class AppMetrics {
  readonly registry = new Registry();
  readonly #operations: Counter<'operation_type' | 'operation_name' | 'outcome'>;
  readonly #operationSeconds: Histogram<'operation_type' | 'operation_name'>;
  readonly #reconcileSeconds: Histogram<'outcome'>;
  readonly #invokes: Counter<'status_class'>;
  readonly #invokeSeconds: Histogram<'status_class'>;
  readonly #names = new Set<string>();
  #sources: MetricSources | undefined;
  #statusCounts: { at: number; counts: Map<string, number> } | undefined;
  #statusRead: Promise<Map<string, number>> | undefined;

  constructor(private readonly logger: Logger) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#operations = new Counter({
      name: `${PREFIX}graphql_operations_total`,
      help: 'GraphQL operations, by type, name and outcome (success, error: the result has errors, rejected: refused by parsing or validation).',
      labelNames: ['operation_type', 'operation_name', 'outcome'],
      registers,
    });
    this.#operationSeconds = new Histogram({
      name: `${PREFIX}graphql_operation_duration_seconds`,
      help: 'Execution time of GraphQL queries and mutations (subscriptions: until the stream is set up).',
      labelNames: ['operation_type', 'operation_name'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const self = this;
    new Gauge({
      name: `${PREFIX}graphql_subscriptions_active`,
      help: 'Subscription streams open on this replica, by transport (websocket, http: GraphQL over SSE).',
      labelNames: ['transport'],
      registers,
      collect() {
        const active = self.#sources?.streams.active() ?? { websocket: 0, http: 0 };
        for (const [transport, n] of Object.entries(active)) this.set({ transport }, n);
      },
    });
    new Gauge({
      name: `${PREFIX}controller_queue_depth`,
      help: 'Workloads with a controller pass queued or under way (0 on replicas that do not lead).',
      registers,
      collect() {
        this.set(self.#sources?.controller.queueDepth ?? 0);
      },
    });
    this.#reconcileSeconds = new Histogram({
      name: `${PREFIX}controller_reconcile_duration_seconds`,
      help: 'Duration of one controller pass over one workload, by outcome (ok, error).',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    new Gauge({
      name: `${PREFIX}leader`,
      help: '1 while this replica runs the controller (holds the Lease, on Kubernetes), else 0.',
      registers,
      collect() {
        this.set(self.#sources?.leadership.isLeader() ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}workloads`,
      help: `Workloads (not deleted) by status, counted in the database at most every ${WORKLOAD_STATUS_CACHE_MS / 1000} s.`,
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await self.#workloadStatusCounts();
        if (!counts) return;
        for (const status of WORKLOAD_STATUSES) this.set({ status }, counts.get(status) ?? 0);
      },
    });
    this.#invokes = new Counter({
      name: `${PREFIX}invoke_requests_total`,
      help: 'Requests to the invoke endpoint, by response status class (1xx-5xx; 499: the caller went away).',
      labelNames: ['status_class'],
      registers,
    });
    this.#invokeSeconds = new Histogram({
      name: `${PREFIX}invoke_request_duration_seconds`,
      help: 'Duration of invoke requests until the response ended, by status class.',
      labelNames: ['status_class'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
  }

  /** Adds the pod informer's metrics (Kubernetes runtime only). */
  #registerInformer(): void {
    const self = this;
    new Counter({
      name: `${PREFIX}pod_informer_restarts_total`,
      help: 'Restarts of the pod list+watch after an error, a 410 Gone or a dead watch.',
      registers: [this.registry],
      collect() {
        // The informer keeps the count; a counter that is set on scrape stays monotonic with it.
        this.reset();
        this.inc(self.#sources?.informer?.stats.restarts ?? 0);
      },
    });
    new Gauge({
      name: `${PREFIX}pod_informer_synced`,
      help: '1 while the pod cache holds a complete list, else 0.',
      registers: [this.registry],
      collect() {
        this.set(self.#sources?.informer?.isSynced() ? 1 : 0);
      },
    });
  }

  /** Connects the scrape-time gauges to what they read (once everything is built). */
  watch(sources: MetricSources): void {
    this.#sources = sources;
    if (sources.informer) this.#registerInformer();
    if (sources.embeddedDatabase) this.#registerEmbeddedDatabase(sources.embeddedDatabase);
  }

  /** Adds the embedded database thread's heap (embedded database only). */
  #registerEmbeddedDatabase(database: NonNullable<MetricSources['embeddedDatabase']>): void {
    const logger = this.logger;
    new Gauge({
      name: `${PREFIX}embedded_database_heap_bytes`,
      help: "The embedded database thread's JavaScript heap (used, total) and external memory (PGlite's WebAssembly memory), in bytes; nodejs_heap_* are the main thread's.",
      labelNames: ['kind'],
      registers: [this.registry],
      async collect() {
        try {
          const heap = await database.heapStatistics();
          this.set({ kind: 'used' }, heap.usedBytes);
          this.set({ kind: 'total' }, heap.totalBytes);
          this.set({ kind: 'external' }, heap.externalBytes);
        } catch (err) {
          // A scrape while the database is away shows no figure rather than failing the others.
          this.reset();
          logger.debug({ err }, 'embedded database heap not read');
        }
      },
    });
  }

  /** For the controller: one pass over one workload took `seconds`. */
  readonly observeReconcile = (seconds: number, outcome: 'ok' | 'error'): void => {
    this.#reconcileSeconds.observe({ outcome }, seconds);
  };

  /** Counts an invoke request and its duration when its response ends (or the caller goes away). */
  observeInvoke(_req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    res.once('close', () => {
      const status = res.writableFinished ? res.statusCode : 499;
      const statusClass = status === 499 ? '499' : `${Math.floor(status / 100)}xx`;
      this.#invokes.inc({ status_class: statusClass });
      this.#invokeSeconds.observe({ status_class: statusClass }, (performance.now() - started) / 1000);
    });
  }

  /** The envelop plugin behind the GraphQL operation metrics (HTTP and WebSocket alike). */
  graphqlPlugin(): Plugin {
    const count = (type: string, name: string, outcome: OperationOutcome) =>
      this.#operations.inc({ operation_type: type, operation_name: name, outcome });
    /** Starts timing an operation; the returned function counts it with its outcome and duration. */
    const timed = (document: DocumentNode, operationName: string | null | undefined) => {
      const started = performance.now();
      const { type, name } = this.#describe(document, operationName);
      return (outcome: OperationOutcome) => {
        count(type, name, outcome);
        this.#operationSeconds.observe({ operation_type: type, operation_name: name }, (performance.now() - started) / 1000);
      };
    };
    return {
      onParse: ({ context }) => ({ result }) => {
        if (result instanceof Error) count('unknown', this.#nameLabel(operationNameParam(context)), 'rejected');
      },
      onValidate: ({ params, context }) => ({ valid }) => {
        if (valid) return;
        const { type, name } = this.#describe(params.documentAST, operationNameParam(context));
        count(type, name, 'rejected');
      },
      onExecute: ({ args }) => {
        const done = timed(args.document, args.operationName);
        return {
          onExecuteDone: ({ result }) => {
            if (!isAsyncIterable(result)) {
              done(outcomeOf(result));
              return undefined;
            }
            // Incremental delivery: the operation ends with its last payload.
            let failed = false;
            return {
              onNext: ({ result: payload }) => {
                if (payload.errors?.length) failed = true;
              },
              onEnd: () => done(failed ? 'error' : 'success'),
            };
          },
        };
      },
      onSubscribe: ({ args }) => {
        const done = timed(args.document, args.operationName);
        return {
          onSubscribeResult: ({ result }) => {
            done(isAsyncIterable(result) ? 'success' : outcomeOf(result));
          },
          onSubscribeError: () => undefined,
        };
      },
    };
  }

  #describe(document: DocumentNode, operationName: string | null | undefined): { type: string; name: string } {
    const operation = getOperationAST(document, operationName);
    return { type: operation?.operation ?? 'unknown', name: this.#nameLabel(operation?.name?.value) };
  }

  #nameLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    // A name from a document that did not parse is whatever the caller sent: only a GraphQL name
    // of sensible length becomes a label value.
    if (!OPERATION_NAME.test(name)) return '__invalid';
    if (this.#names.has(name)) return name;
    if (this.#names.size >= MAX_OPERATION_NAMES) return '__other';
    this.#names.add(name);
    return name;
  }

  /** Counts by status, from a cache younger than WORKLOAD_STATUS_CACHE_MS; one query at a time. */
  async #workloadStatusCounts(): Promise<Map<string, number> | undefined> {
    const sources = this.#sources;
    if (!sources) return undefined;
    const now = sources.clock().getTime();
    const cached = this.#statusCounts;
    if (cached && now - cached.at < WORKLOAD_STATUS_CACHE_MS && now >= cached.at) return cached.counts;
    this.#statusRead ??= (async () => {
      const rows = await queryRows<{ status: WorkloadStatus; count: string | number }>(
        sources.orm.em.fork(),
        'select status, count(*) as count from workload where deleted_at is null group by status',
      );
      const counts = new Map(rows.map((r) => [r.status, Number(r.count)]));
      this.#statusCounts = { at: now, counts };
      return counts;
    })().finally(() => {
      this.#statusRead = undefined;
    });
    try {
      return await this.#statusRead;
    } catch (err) {
      // A scrape must not fail because the database is away: /readyz reports that.
      this.logger.warn({ err }, 'counting workloads by status for /metrics failed');
      return cached?.counts;
    }
  }
}

/** A GraphQL name, at most 64 characters: what a label value may be. */
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

function operationNameParam(context: unknown): string | undefined {
  const params = (context as { params?: { operationName?: unknown } } | undefined)?.params;
  return typeof params?.operationName === 'string' ? params.operationName : undefined;
}

function outcomeOf(result: ExecutionResult): OperationOutcome {
  return result.errors?.length ? 'error' : 'success';
}
