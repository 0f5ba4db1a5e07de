/**
 * Request statistics of a proton as pure arithmetic: a latency histogram with fixed,
 * exponentially growing bucket bounds (so histograms from any number of API replicas and time
 * buckets add up element by element), its percentiles, and the summary of a set of time buckets.
 * No clock: every time is a parameter.
 */

/** Upper bound of the first latency bucket, in milliseconds. */
export const LATENCY_FIRST_BOUND_MS = 0.25;
/** Each bucket's upper bound is this factor times the previous one: percentiles are exact to within 25%. */
export const LATENCY_GROWTH = 1.25;
/** Finite buckets up to about 12 minutes; one more bucket holds everything slower. */
export const LATENCY_FINITE_BUCKETS = 68;
/** Length of every stored histogram (the finite buckets and the overflow bucket). */
export const LATENCY_HISTOGRAM_LENGTH = LATENCY_FINITE_BUCKETS + 1;
/** Width of a statistics time bucket. */
export const STATISTICS_BUCKET_MS = 60_000;

/** The upper bound of latency bucket `index` in milliseconds (Infinity for the overflow bucket). */
export function latencyBucketBound(index: number): number {
  if (index >= LATENCY_FINITE_BUCKETS) return Number.POSITIVE_INFINITY;
  return LATENCY_FIRST_BOUND_MS * LATENCY_GROWTH ** index;
}

/** The bucket a latency falls in: the first whose upper bound is at least the latency. */
export function latencyBucketIndex(latencyMs: number): number {
  if (!(latencyMs > LATENCY_FIRST_BOUND_MS)) return 0;
  const index = Math.ceil(Math.log(latencyMs / LATENCY_FIRST_BOUND_MS) / Math.log(LATENCY_GROWTH) - 1e-9);
  // Floating point may land one off at a bound: correct it so bound(index - 1) < latency <= bound(index).
  let i = Math.min(index, LATENCY_FINITE_BUCKETS);
  while (i > 0 && latencyBucketBound(i - 1) >= latencyMs) i -= 1;
  while (i < LATENCY_FINITE_BUCKETS && latencyBucketBound(i) < latencyMs) i += 1;
  return i;
}

/** An empty histogram. */
export function emptyHistogram(): number[] {
  return new Array<number>(LATENCY_HISTOGRAM_LENGTH).fill(0);
}

/** Adds `from` into `into`, element by element; returns `into`. */
export function addHistogram(into: number[], from: readonly number[]): number[] {
  for (let i = 0; i < LATENCY_HISTOGRAM_LENGTH; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
  return into;
}

/**
 * The latency at quantile `q` (0 < q <= 1): the upper bound of the bucket holding the request of
 * rank ceil(q * n), capped at the slowest latency seen. Undefined for an empty histogram.
 */
export function latencyPercentile(histogram: readonly number[], q: number, maxLatencyMs: number): number | undefined {
  const total = histogram.reduce((n, c) => n + c, 0);
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i] ?? 0;
    if (seen >= rank) return Math.min(latencyBucketBound(i), maxLatencyMs);
  }
  return maxLatencyMs;
}

/** The start of the time bucket that holds `at`. */
export function statisticsBucketStart(at: Date): Date {
  return new Date(Math.floor(at.getTime() / STATISTICS_BUCKET_MS) * STATISTICS_BUCKET_MS);
}

/** What one proton served in one time bucket (summed over every API replica). */
export interface StatisticsBucket {
  readonly protonId: string;
  readonly bucketStart: Date;
  readonly requestCount: number;
  readonly clientErrorCount: number;
  readonly serverErrorCount: number;
  readonly latencySumMs: number;
  readonly latencyMaxMs: number;
  readonly latencyHistogram: readonly number[];
  readonly peakConcurrency: number;
  readonly lastRequestAt: Date;
}

/** The statistics of a window, as the API reports them. */
export interface StatisticsSummary {
  readonly requestCount: number;
  readonly clientErrorCount: number;
  readonly serverErrorCount: number;
  readonly latencyP50Ms?: number;
  readonly latencyP95Ms?: number;
  readonly latencyP99Ms?: number;
  readonly latencyMeanMs?: number;
  readonly latencyMaxMs?: number;
  /** Requests divided by the window's length in minutes. */
  readonly requestsPerMinute: number;
  /** The most requests in flight at once in any bucket, as one API replica saw them. */
  readonly peakConcurrentRequests: number;
  readonly lastRequestAt?: Date;
  /** The window the rate is over: [from, to). */
  readonly windowStart?: Date;
  readonly windowEnd?: Date;
}

/**
 * Sums time buckets into a summary. The window is [from, to) when given; otherwise it starts at
 * the first bucket with requests and ends at the end of the last one (whole buckets).
 */
export function summarizeStatistics(buckets: readonly StatisticsBucket[], window: { from?: Date; to?: Date } = {}): StatisticsSummary {
  const histogram = emptyHistogram();
  let requestCount = 0;
  let clientErrorCount = 0;
  let serverErrorCount = 0;
  let latencySumMs = 0;
  let latencyMaxMs = 0;
  let peak = 0;
  let last: Date | undefined;
  let first: Date | undefined;
  let lastBucketEnd: Date | undefined;
  for (const b of buckets) {
    requestCount += b.requestCount;
    clientErrorCount += b.clientErrorCount;
    serverErrorCount += b.serverErrorCount;
    latencySumMs += b.latencySumMs;
    latencyMaxMs = Math.max(latencyMaxMs, b.latencyMaxMs);
    peak = Math.max(peak, b.peakConcurrency);
    addHistogram(histogram, b.latencyHistogram);
    if (!last || b.lastRequestAt > last) last = b.lastRequestAt;
    if (!first || b.bucketStart < first) first = b.bucketStart;
    const end = new Date(b.bucketStart.getTime() + STATISTICS_BUCKET_MS);
    if (!lastBucketEnd || end > lastBucketEnd) lastBucketEnd = end;
  }
  const windowStart = window.from ?? first;
  const windowEnd = window.to ?? lastBucketEnd;
  const minutes = windowStart && windowEnd ? Math.max(0, windowEnd.getTime() - windowStart.getTime()) / 60_000 : 0;
  const p = (q: number) => latencyPercentile(histogram, q, latencyMaxMs);
  return {
    requestCount,
    clientErrorCount,
    serverErrorCount,
    ...(requestCount > 0 && {
      latencyP50Ms: p(0.5),
      latencyP95Ms: p(0.95),
      latencyP99Ms: p(0.99),
      latencyMeanMs: latencySumMs / requestCount,
      latencyMaxMs,
    }),
    requestsPerMinute: minutes > 0 ? requestCount / minutes : 0,
    peakConcurrentRequests: peak,
    ...(last && { lastRequestAt: last }),
    ...(windowStart && { windowStart }),
    ...(windowEnd && { windowEnd }),
  };
}

/** The class of an HTTP status for the counters. */
export function statusClass(status: number): 'ok' | 'clientError' | 'serverError' {
  if (status >= 500) return 'serverError';
  if (status >= 400) return 'clientError';
  return 'ok';
}
