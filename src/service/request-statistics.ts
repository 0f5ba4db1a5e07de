/**
 * Reads a workload's (or one proton's) request statistics: the stored buckets of its current
 * epoch summed by the domain, the live in-flight count, and when the statistics were last reset.
 * Authorization is the caller's: whoever may read the workload may read its statistics.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { STATISTICS_BUCKET_MS, statisticsBucketStart, summarizeStatistics, type StatisticsBucket, type StatisticsSummary } from '../domain/request-statistics.js';
import { readStatisticsBatch, readStatisticsBuckets, type StatisticsQuery, type StatisticsRead } from '../store/request-statistics.js';

export type { StatisticsQuery };

/** Points of a series when the caller names no number: an hour's worth of minutes with requests. */
export const DEFAULT_SERIES_POINTS = 60;
/** The most points one series may ask for: a day's worth of minutes. */
export const MAX_SERIES_POINTS = 1440;

/** One point of the per-minute series. */
export interface StatisticsPoint extends StatisticsSummary {
  readonly start: Date;
}

/** What the API reports for a window. */
export interface RequestStatisticsReport extends StatisticsSummary {
  /** Requests in flight now, over every API replica. */
  readonly concurrentRequests: number;
  /** When the statistics were last reset (the workload's promotion), if ever. */
  readonly resetAt: Date | null;
  /** Per-minute points, oldest first, only minutes with requests: the newest DEFAULT_SERIES_POINTS of them. */
  readonly series: readonly StatisticsPoint[];
  /** The window as read (whole minutes), for a series of another length. */
  readonly query: StatisticsQuery;
}

/** The statistics of a workload (optionally one of its protons) in [from, to), rounded to whole minutes. */
export async function readRequestStatistics(em: EntityManager, q: StatisticsQuery): Promise<RequestStatisticsReport> {
  return (await readRequestStatisticsBatch(em, [q]))[0]!;
}

/**
 * The statistics of several workloads or protons (each query as `readRequestStatistics` reads it)
 * in one statement: the summary is summed in the database (a 90-day window is one row, not 130,000
 * buckets), the default series picked there too. A query of a whole workload with `withProtons`
 * also answers each of its current protons over the same window (`protons`), from the same
 * statement: a response that shows both shows numbers of one moment.
 */
export async function readRequestStatisticsBatch(
  em: EntityManager,
  queries: readonly (StatisticsQuery & { withProtons?: boolean })[],
): Promise<(RequestStatisticsReport & { protons?: ReadonlyMap<string, RequestStatisticsReport> })[]> {
  const windows = queries.map((q) => {
    const from = q.from ? statisticsBucketStart(q.from) : undefined;
    const to = q.to ? ceilToBucket(q.to) : undefined;
    const query: StatisticsQuery = { workloadId: q.workloadId, ...(q.protonId !== undefined && { protonId: q.protonId }), ...(from && { from }), ...(to && { to }) };
    return { from, to, query, withProtons: q.withProtons === true };
  });
  const reads = await readStatisticsBatch(em, windows.map((w) => ({ ...w.query, withProtons: w.withProtons })), DEFAULT_SERIES_POINTS);
  return windows.map(({ from, to, query }, i) => {
    const read = reads[i]!;
    const report = reportOf(read, from, to, query);
    if (!read.protons) return report;
    const protons = new Map([...read.protons].map(([protonId, part]) => [protonId, reportOf(part, from, to, { ...query, protonId })]));
    return { ...report, protons };
  });
}

function reportOf(read: StatisticsRead, from: Date | undefined, to: Date | undefined, query: StatisticsQuery): RequestStatisticsReport {
  const { total, series, inFlight, resetAt } = read;
  // Without bounds, the window runs from the first bucket with requests to the end of the last one.
  const window: { from?: Date; to?: Date } = {};
  const windowFrom = from ?? total?.bucketStart;
  const windowTo = to ?? (total ? new Date(total.lastBucketStart.getTime() + STATISTICS_BUCKET_MS) : undefined);
  if (windowFrom) window.from = windowFrom;
  if (windowTo) window.to = windowTo;
  return { ...summarizeStatistics(total ? [total] : [], window), concurrentRequests: inFlight, resetAt, series: seriesOf(series), query };
}

/** The newest `last` minutes with requests of a window, oldest first (the database picks the minutes). */
export async function readStatisticsSeries(em: EntityManager, query: StatisticsQuery, last: number): Promise<StatisticsPoint[]> {
  return seriesOf(await readStatisticsBuckets(em, { ...query, lastMinutes: last }));
}

/** Buckets summed per minute, oldest first. */
function seriesOf(buckets: readonly StatisticsBucket[]): StatisticsPoint[] {
  const byMinute = new Map<number, StatisticsBucket[]>();
  for (const b of buckets) {
    const list = byMinute.get(b.bucketStart.getTime()) ?? [];
    list.push(b);
    byMinute.set(b.bucketStart.getTime(), list);
  }
  return [...byMinute].map(([start, list]) => ({
    start: new Date(start),
    ...summarizeStatistics(list, { from: new Date(start), to: new Date(start + STATISTICS_BUCKET_MS) }),
  }));
}

function ceilToBucket(at: Date): Date {
  const start = statisticsBucketStart(at);
  return start.getTime() === at.getTime() ? start : new Date(start.getTime() + STATISTICS_BUCKET_MS);
}
