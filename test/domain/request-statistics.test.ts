import { describe, expect, it } from 'vitest';
import {
  LATENCY_GROWTH,
  LATENCY_HISTOGRAM_LENGTH,
  addHistogram,
  emptyHistogram,
  latencyBucketBound,
  latencyBucketIndex,
  latencyPercentile,
  statisticsBucketStart,
  statusClass,
  summarizeStatistics,
  type StatisticsBucket,
} from '../../src/domain/request-statistics.js';

describe('the latency histogram', () => {
  it.each([
    [0, 0],
    [0.1, 0],
    [0.25, 0],
    [0.2501, 1],
    [0.3125, 1],
    [0.3126, 2],
    [1, 7],
    [10, 17],
    [1000, 38],
    [10 * 60_000, 66],
    [Number.MAX_SAFE_INTEGER, LATENCY_HISTOGRAM_LENGTH - 1],
  ])('puts a latency of %f ms in bucket %i', (latency, index) => {
    expect(latencyBucketIndex(latency)).toBe(index);
  });

  it('puts every latency in the bucket whose bounds hold it', () => {
    for (let ms = 0.01; ms < 1_000_000; ms *= 1.07) {
      const i = latencyBucketIndex(ms);
      expect(latencyBucketBound(i)).toBeGreaterThanOrEqual(ms);
      if (i > 0) expect(latencyBucketBound(i - 1)).toBeLessThan(ms);
    }
  });

  it.each([
    ['the median of 1..100 ms', Array.from({ length: 100 }, (_, i) => i + 1), 0.5, 50],
    ['the 95th percentile of 1..100 ms', Array.from({ length: 100 }, (_, i) => i + 1), 0.95, 95],
    ['the 99th percentile of 1..100 ms', Array.from({ length: 100 }, (_, i) => i + 1), 0.99, 99],
    ['the median of one request', [42], 0.5, 42],
    ['the 99th percentile of 99 quick and one slow request', [...Array.from({ length: 99 }, () => 2), 500], 0.99, 2],
    ['the 100th percentile of 99 quick and one slow request', [...Array.from({ length: 99 }, () => 2), 500], 1, 500],
  ])('reports %s within one bucket of precision', (_name, latencies, q, exact) => {
    const h = emptyHistogram();
    for (const l of latencies) h[latencyBucketIndex(l)]! += 1;
    const p = latencyPercentile(h, q, Math.max(...latencies))!;
    expect(p).toBeGreaterThanOrEqual(exact);
    expect(p).toBeLessThanOrEqual(exact * LATENCY_GROWTH);
  });

  it('has no percentile without requests', () => {
    expect(latencyPercentile(emptyHistogram(), 0.5, 0)).toBeUndefined();
  });

  it('adds histograms element by element', () => {
    const a = emptyHistogram();
    const b = emptyHistogram();
    a[3] = 2;
    b[3] = 5;
    b[10] = 1;
    const sum = addHistogram(a, b);
    expect(sum[3]).toBe(7);
    expect(sum[10]).toBe(1);
    expect(sum).toHaveLength(LATENCY_HISTOGRAM_LENGTH);
  });
});

describe('statistics summaries', () => {
  const bucket = (minute: number, over: Partial<StatisticsBucket> = {}): StatisticsBucket => {
    const h = emptyHistogram();
    h[latencyBucketIndex(10)] = over.requestCount ?? 10;
    return {
      protonId: 'p',
      bucketStart: new Date(Date.UTC(2026, 0, 1, 0, minute)),
      requestCount: 10,
      clientErrorCount: 1,
      serverErrorCount: 2,
      latencySumMs: 100,
      latencyMaxMs: 10,
      latencyHistogram: h,
      peakConcurrency: 3,
      lastRequestAt: new Date(Date.UTC(2026, 0, 1, 0, minute, 30)),
      ...over,
    };
  };

  it('sums counts and takes the maxima of buckets', () => {
    const s = summarizeStatistics([bucket(0), bucket(1, { peakConcurrency: 7, latencyMaxMs: 12 })]);
    expect(s).toMatchObject({ requestCount: 20, clientErrorCount: 2, serverErrorCount: 4, peakConcurrentRequests: 7, latencyMeanMs: 10, latencyMaxMs: 12 });
    expect(s.lastRequestAt).toEqual(new Date(Date.UTC(2026, 0, 1, 0, 1, 30)));
  });

  it.each([
    ['the buckets with requests, when no window is given', {}, 20 / 2],
    ['the given window', { from: new Date(Date.UTC(2026, 0, 1, 0, 0)), to: new Date(Date.UTC(2026, 0, 1, 0, 10)) }, 20 / 10],
  ])('rates requests per minute over %s', (_name, window, rate) => {
    expect(summarizeStatistics([bucket(0), bucket(1)], window).requestsPerMinute).toBe(rate);
  });

  it('reports nothing but zeros without buckets', () => {
    expect(summarizeStatistics([])).toEqual({ requestCount: 0, clientErrorCount: 0, serverErrorCount: 0, requestsPerMinute: 0, peakConcurrentRequests: 0 });
  });

  it.each([
    [200, 'ok'],
    [304, 'ok'],
    [404, 'clientError'],
    [499, 'clientError'],
    [500, 'serverError'],
    [504, 'serverError'],
  ])('classes status %i as %s', (status, cls) => {
    expect(statusClass(status)).toBe(cls);
  });

  it('starts a time bucket at the whole minute', () => {
    expect(statisticsBucketStart(new Date('2026-01-01T10:15:42.123Z'))).toEqual(new Date('2026-01-01T10:15:00.000Z'));
  });
});
