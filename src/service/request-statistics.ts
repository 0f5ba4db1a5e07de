/**
 * Reads a workload's (or one proton's) request statistics: the stored buckets of its current
 * epoch summed by the domain, the live in-flight count, and when the statistics were last reset.
 * Authorization is the caller's: whoever may read the workload may read its statistics.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { STATISTICS_BUCKET_MS, statisticsBucketStart, summarizeStatistics, type StatisticsBucket, type StatisticsSummary } from '../domain/request-statistics.js';
import { readInFlight, readStatisticsBuckets, readStatisticsResetAt, type StatisticsQuery } from '../store/request-statistics.js';

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
  /** Per-minute points, oldest first, only minutes with requests. */
  readonly series: readonly StatisticsPoint[];
}

/** The statistics of a workload (optionally one of its protons) in [from, to), rounded to whole minutes. */
export async function readRequestStatistics(em: EntityManager, q: StatisticsQuery): Promise<RequestStatisticsReport> {
  const from = q.from ? statisticsBucketStart(q.from) : undefined;
  const to = q.to ? ceilToBucket(q.to) : undefined;
  const [buckets, concurrentRequests, resetAt] = [
    await readStatisticsBuckets(em, { ...q, ...(from && { from }), ...(to && { to }) }),
    await readInFlight(em, q),
    await readStatisticsResetAt(em, q.workloadId),
  ];
  const byMinute = new Map<number, StatisticsBucket[]>();
  for (const b of buckets) {
    const list = byMinute.get(b.bucketStart.getTime()) ?? [];
    list.push(b);
    byMinute.set(b.bucketStart.getTime(), list);
  }
  const series = [...byMinute].map(([start, list]) => ({
    start: new Date(start),
    ...summarizeStatistics(list, { from: new Date(start), to: new Date(start + STATISTICS_BUCKET_MS) }),
  }));
  return {
    ...summarizeStatistics(buckets, { ...(from && { from }), ...(to && { to }) }),
    concurrentRequests,
    resetAt,
    series,
  };
}

function ceilToBucket(at: Date): Date {
  const start = statisticsBucketStart(at);
  return start.getTime() === at.getTime() ? start : new Date(start.getTime() + STATISTICS_BUCKET_MS);
}
