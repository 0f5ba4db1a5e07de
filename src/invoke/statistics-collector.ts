/**
 * Collects the invoke endpoint's request statistics in memory and writes them to the database in
 * batches, off the request path: recording a request appends its sample to a list (no clock read,
 * no allocation beyond the sample); samples are folded into per-minute aggregates in batches (at
 * each flush, or when the list grows long), and a timer writes the aggregates every
 * `flushIntervalMs`. A failed flush keeps its batch and retries it with the next one (bounded),
 * so a database outage costs statistics only when it outlasts the bound.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  addHistogram,
  emptyHistogram,
  latencyBucketIndex,
  statisticsBucketStart,
  statusClass,
} from '../domain/request-statistics.js';
import type { Clock } from '../domain/clock.js';
import type { Orm } from '../store/orm.js';
import { addStatisticsBatch, clearInFlight, pruneStatistics, reportInFlight, type StatisticsAggregate } from '../store/request-statistics.js';

/** One finished request to a proton. */
export interface RequestSample {
  readonly workloadId: string;
  readonly protonId: string;
  /** The HTTP status the caller got. */
  readonly status: number;
  readonly latencyMs: number;
  /** The response broke off after its status was sent (counted as a server error). */
  readonly broken?: boolean;
}

interface Pending {
  workloadId: string;
  protonId: string;
  bucketStart: Date;
  requestCount: number;
  clientErrorCount: number;
  serverErrorCount: number;
  latencySumMs: number;
  latencyMaxMs: number;
  latencyHistogram: number[];
  peakConcurrency: number;
  lastRequestAt: Date;
}

export interface StatisticsCollectorDeps {
  orm: Orm;
  clock: Clock;
  logger: Logger;
  flushIntervalMs: number;
  /** Aggregates kept across failed flushes before the oldest are dropped. */
  maxPendingAggregates?: number;
  /** Buckets older than this many days are deleted, once an hour (0: kept forever). */
  retentionDays?: number;
}

const PRUNE_INTERVAL_MS = 60 * 60_000;
/** Samples folded at once when this many wait (a flush folds them earlier). */
const FOLD_AT = 4096;

/** A finished request not yet folded into an aggregate: the sample, when it ended, and its concurrency. */
interface Unfolded {
  readonly sample: RequestSample;
  /** performance.now() at the end of the request. */
  readonly endedAt: number;
  readonly concurrency: number;
}

/** The in-memory side of the request statistics of one API replica. */
export class StatisticsCollector {
  /** This API replica's id in the in-flight reports. */
  readonly instanceId = randomUUID();
  #pending = new Map<string, Pending>();
  #unfolded: Unfolded[] = [];
  readonly #inFlight = new Map<string, { workloadId: string; count: number }>();
  /** Protons whose in-flight count changed since the last report (or must be refreshed). */
  readonly #inFlightDirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #stopped = false;
  /** Whether this replica ever reported requests in flight (so there is something to withdraw). */
  #reported = false;
  /** When old buckets were last deleted (performance.now()); they are first deleted after the first flush. */
  #prunedAt: number | undefined;

  constructor(private readonly deps: StatisticsCollectorDeps) {}

  /** Starts the periodic flush. */
  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.flush().catch(() => undefined), this.deps.flushIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer, writes what is pending and withdraws this replica's in-flight reports. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush().catch((err: unknown) => this.deps.logger.warn({ err }, 'final statistics flush failed; the batch is lost'));
    if (this.#reported) await clearInFlight(this.deps.orm.em.fork(), this.instanceId).catch(() => undefined);
  }

  /** A request to the proton began; returns the number now in flight. */
  begin(workloadId: string, protonId: string): number {
    const entry = this.#inFlight.get(protonId) ?? { workloadId, count: 0 };
    entry.count += 1;
    this.#inFlight.set(protonId, entry);
    this.#inFlightDirty.add(protonId);
    return entry.count;
  }

  /** Requests to the proton in flight on this API replica. */
  inFlight(protonId: string): number {
    return this.#inFlight.get(protonId)?.count ?? 0;
  }

  /** A request that `begin` counted has finished. */
  end(sample: RequestSample, concurrencyAtStart: number): void {
    const entry = this.#inFlight.get(sample.protonId);
    if (entry) {
      entry.count = Math.max(0, entry.count - 1);
      this.#inFlightDirty.add(sample.protonId);
    }
    this.#unfolded.push({ sample, endedAt: performance.now(), concurrency: concurrencyAtStart });
    if (this.#unfolded.length >= FOLD_AT) this.#fold();
  }

  /**
   * Folds the waiting samples into their minute aggregates. The clock is read once; each sample's
   * time is that reading minus how long ago (monotonic) the request ended.
   */
  #fold(): void {
    if (this.#unfolded.length === 0) return;
    const samples = this.#unfolded;
    this.#unfolded = [];
    const clockNow = this.deps.clock().getTime();
    const perfNow = performance.now();
    for (const u of samples) this.#record(u.sample, u.concurrency, new Date(clockNow - (perfNow - u.endedAt)));
  }

  #record(sample: RequestSample, concurrency: number, now: Date): void {
    const bucketStart = statisticsBucketStart(now);
    const key = `${sample.protonId}|${bucketStart.getTime()}`;
    let p = this.#pending.get(key);
    if (!p) {
      p = {
        workloadId: sample.workloadId,
        protonId: sample.protonId,
        bucketStart,
        requestCount: 0,
        clientErrorCount: 0,
        serverErrorCount: 0,
        latencySumMs: 0,
        latencyMaxMs: 0,
        latencyHistogram: emptyHistogram(),
        peakConcurrency: 0,
        lastRequestAt: now,
      };
      this.#pending.set(key, p);
    }
    p.requestCount += 1;
    const cls = sample.broken ? 'serverError' : statusClass(sample.status);
    if (cls === 'clientError') p.clientErrorCount += 1;
    if (cls === 'serverError') p.serverErrorCount += 1;
    p.latencySumMs += sample.latencyMs;
    p.latencyMaxMs = Math.max(p.latencyMaxMs, sample.latencyMs);
    p.latencyHistogram[latencyBucketIndex(sample.latencyMs)]! += 1;
    p.peakConcurrency = Math.max(p.peakConcurrency, concurrency);
    if (now > p.lastRequestAt) p.lastRequestAt = now;
  }

  async #prune(): Promise<void> {
    const days = this.deps.retentionDays ?? 0;
    if (days <= 0 || (this.#prunedAt !== undefined && performance.now() - this.#prunedAt < PRUNE_INTERVAL_MS)) return;
    this.#prunedAt = performance.now();
    await pruneStatistics(this.deps.orm.em.fork(), days).catch((err: unknown) =>
      this.deps.logger.warn({ err }, 'deleting old request statistics failed; retried in an hour'),
    );
  }

  /** Writes everything recorded so far; concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing.then(() => this.flush());
    const run = this.#write().finally(() => {
      this.#flushing = undefined;
    });
    this.#flushing = run;
    return run;
  }

  async #write(): Promise<void> {
    await this.#prune();
    this.#fold();
    const batch = this.#pending;
    this.#pending = new Map();
    const inFlight = new Map<string, number>();
    for (const protonId of this.#inFlightDirty) inFlight.set(protonId, this.#inFlight.get(protonId)?.count ?? 0);
    // Protons with requests in flight are reported every time, so their rows do not expire.
    for (const [protonId, e] of this.#inFlight) if (e.count > 0) inFlight.set(protonId, e.count);
    this.#inFlightDirty.clear();
    for (const [protonId, e] of this.#inFlight) if (e.count === 0) this.#inFlight.delete(protonId);
    if (batch.size === 0 && inFlight.size === 0) return;
    if (inFlight.size > 0) this.#reported = true;
    try {
      await this.deps.orm.em.fork().transactional(async (em) => {
        await addStatisticsBatch(em, [...batch.values()] as StatisticsAggregate[]);
        await reportInFlight(em, this.instanceId, inFlight, this.deps.flushIntervalMs * 3 + 1000);
      });
    } catch (err) {
      // Put the batch back (merged with what arrived meanwhile) for the next flush.
      for (const [key, p] of batch) {
        const newer = this.#pending.get(key);
        this.#pending.set(key, newer ? merge(p, newer) : p);
      }
      for (const protonId of inFlight.keys()) this.#inFlightDirty.add(protonId);
      const max = this.deps.maxPendingAggregates ?? 100_000;
      while (this.#pending.size > max) this.#pending.delete(this.#pending.keys().next().value!);
      this.deps.logger.warn({ err, aggregates: batch.size }, 'writing request statistics failed; retried with the next batch');
      throw err;
    }
  }
}

function merge(a: Pending, b: Pending): Pending {
  return {
    ...a,
    requestCount: a.requestCount + b.requestCount,
    clientErrorCount: a.clientErrorCount + b.clientErrorCount,
    serverErrorCount: a.serverErrorCount + b.serverErrorCount,
    latencySumMs: a.latencySumMs + b.latencySumMs,
    latencyMaxMs: Math.max(a.latencyMaxMs, b.latencyMaxMs),
    latencyHistogram: addHistogram([...a.latencyHistogram], b.latencyHistogram),
    peakConcurrency: Math.max(a.peakConcurrency, b.peakConcurrency),
    lastRequestAt: a.lastRequestAt > b.lastRequestAt ? a.lastRequestAt : b.lastRequestAt,
  };
}
