import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StatisticsCollector } from '../../src/invoke/statistics-collector.js';
import { emptyHistogram, latencyBucketIndex, summarizeStatistics } from '../../src/domain/request-statistics.js';
import { DEFAULT_SERIES_POINTS, readRequestStatistics, readStatisticsSeries } from '../../src/service/request-statistics.js';
import { addStatisticsBatch, readStatisticsBuckets, statisticsBatchStatement, type StatisticsAggregate } from '../../src/store/request-statistics.js';
import { queryRows } from '../../src/store/sql.js';
import { describeEachDatabase } from '../support/backends.js';
import { createRunningWorkload, startInvokeApp, uuidOf, type InvokeTestApp } from './support.js';

describeEachDatabase('request statistics written by several API replicas', (backend) => {
  let t: InvokeTestApp;
  const collector = (clock: () => Date, retentionDays = 0) =>
    new StatisticsCollector({ orm: t.app.orm, clock, logger: pino({ level: 'silent' }), flushIntervalMs: 60_000, retentionDays });

  beforeAll(async () => {
    t = await startInvokeApp(backend);
  });
  afterAll(() => t?.stop());

  it('adds every replica\'s batches into the same minute buckets, exactly, and sums their requests in flight', async () => {
    const w = await createRunningWorkload(t);
    const workloadId = uuidOf(w.id);
    const protonId = uuidOf(w.protons[0]!.id);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const at = new Date(minute + 30_000);
    const replica = () => collector(() => at);
    const a = replica();
    const b = replica();
    for (let i = 0; i < 7; i++) a.end({ workloadId, protonId, status: 200, latencyMs: 2 }, a.begin(workloadId, protonId));
    a.end({ workloadId, protonId, status: 404, latencyMs: 3 }, a.begin(workloadId, protonId));
    for (let i = 0; i < 5; i++) b.end({ workloadId, protonId, status: 502, latencyMs: 40 }, b.begin(workloadId, protonId));
    a.begin(workloadId, protonId);
    b.begin(workloadId, protonId);
    b.begin(workloadId, protonId);
    await Promise.all([a.flush(), b.flush()]);
    // A second batch from one replica adds into the same row.
    a.end({ workloadId, protonId, status: 200, latencyMs: 2 }, 2);
    await a.flush();

    const s = await readRequestStatistics(t.app.orm.em.fork(), { workloadId, from: new Date(minute), to: new Date(minute + 60_000) });
    expect(s).toMatchObject({ requestCount: 14, clientErrorCount: 1, serverErrorCount: 5, peakConcurrentRequests: 2, requestsPerMinute: 14 });
    expect(s.series).toHaveLength(1);
    expect(s.latencyMaxMs).toBe(40);
    expect(s.latencyP50Ms).toBeLessThanOrEqual(2 * 1.25);
    expect(s.latencyP95Ms).toBeGreaterThanOrEqual(40);
    // Requests in flight now: one on replica a (its last one ended), two on b.
    expect(s.concurrentRequests).toBe(2);

    await Promise.all([a.stop(), b.stop()]);
    const after = await readRequestStatistics(t.app.orm.em.fork(), { workloadId, protonId });
    expect(after.concurrentRequests).toBe(0);
  });

  it('deletes buckets older than the retention period and keeps the recent ones', async () => {
    const w = await createRunningWorkload(t);
    const workloadId = uuidOf(w.id);
    const protonId = uuidOf(w.protons[0]!.id);
    const old = collector(() => new Date(Date.now() - 200 * 24 * 3600_000));
    old.end({ workloadId, protonId, status: 200, latencyMs: 1 }, old.begin(workloadId, protonId));
    await old.flush();
    const recent = collector(() => new Date());
    recent.end({ workloadId, protonId, status: 200, latencyMs: 1 }, recent.begin(workloadId, protonId));
    await recent.flush();
    expect((await readRequestStatistics(t.app.orm.em.fork(), { workloadId })).requestCount).toBe(2);

    const pruning = collector(() => new Date(), 90);
    await pruning.flush();
    const kept = await readRequestStatistics(t.app.orm.em.fork(), { workloadId });
    expect(kept.requestCount).toBe(1);
    expect(kept.series).toHaveLength(1);
    await Promise.all([old.stop(), recent.stop(), pruning.stop()]);
  });

  it('sums a long window in the database, equal to summing every bucket, and pages the series from its newest minute', async () => {
    const w = await createRunningWorkload(t);
    const workloadId = uuidOf(w.id);
    const protonId = uuidOf(w.protons[0]!.id);
    // 300 minutes with requests, every other minute over ten hours, with growing counts and latencies.
    const end = Math.floor(Date.now() / 60_000) * 60_000;
    const batch: StatisticsAggregate[] = [];
    for (let i = 0; i < 300; i++) {
      const bucketStart = new Date(end - (600 - 2 * i) * 60_000);
      const latency = 1 + (i % 50);
      const histogram = emptyHistogram();
      histogram[latencyBucketIndex(latency)] = i + 1;
      batch.push({
        workloadId, protonId, bucketStart, requestCount: i + 1, clientErrorCount: i % 3, serverErrorCount: i % 5,
        latencySumMs: latency * (i + 1), latencyMaxMs: latency, latencyHistogram: histogram, peakConcurrency: 1 + (i % 7),
        lastRequestAt: new Date(bucketStart.getTime() + 30_000),
      });
    }
    await addStatisticsBatch(t.app.orm.em.fork(), batch);

    for (const window of [{}, { from: new Date(end - 400 * 60_000), to: new Date(end - 100 * 60_000) }]) {
      const s = await readRequestStatistics(t.app.orm.em.fork(), { workloadId, ...window });
      const every = await readStatisticsBuckets(t.app.orm.em.fork(), { workloadId, ...window });
      const { windowStart, windowEnd, ...expected } = summarizeStatistics(every, window);
      expect(s).toMatchObject(expected);
      expect(s.windowStart).toEqual(windowStart);
      expect(s.windowEnd).toEqual(windowEnd);
      // The default series is the newest hour's worth of minutes with requests, oldest first.
      const newest = every.slice(-DEFAULT_SERIES_POINTS);
      expect(s.series.map((p) => p.start)).toEqual(newest.map((b) => b.bucketStart));
      expect(s.series.map((p) => p.requestCount)).toEqual(newest.map((b) => b.requestCount));
    }
    const five = await readStatisticsSeries(t.app.orm.em.fork(), { workloadId }, 5);
    expect(five.map((p) => p.start.getTime())).toEqual([8, 6, 4, 2, 0].map((m) => end - (m + 2) * 60_000));
    expect(five.map((p) => p.requestCount)).toEqual([296, 297, 298, 299, 300]);
  });
  it('reads a workload\'s buckets through its index, never a scan of every workload\'s', async () => {
    // A busy workload: 3,000 minutes with requests; and a quiet one whose statistics are read.
    const busy = await createRunningWorkload(t);
    const end = Math.floor(Date.now() / 60_000) * 60_000;
    await addStatisticsBatch(t.app.orm.em.fork(), Array.from({ length: 3000 }, (_, i) => {
      const bucketStart = new Date(end - (i + 1) * 60_000);
      const histogram = emptyHistogram();
      histogram[latencyBucketIndex(5)] = 1;
      return {
        workloadId: uuidOf(busy.id), protonId: uuidOf(busy.protons[0]!.id), bucketStart, requestCount: 1, clientErrorCount: 0, serverErrorCount: 0,
        latencySumMs: 5, latencyMaxMs: 5, latencyHistogram: histogram, peakConcurrency: 1, lastRequestAt: bucketStart,
      };
    }));
    const quiet = await createRunningWorkload(t);
    const em = t.app.orm.em.fork();
    await queryRows(em, 'analyze proton_request_statistics');
    const nodes = (plan: unknown): { type: string; relation?: string }[] => {
      const node = plan as { 'Node Type': string; 'Relation Name'?: string; Plans?: unknown[] };
      return [{ type: node['Node Type'], relation: node['Relation Name'] }, ...(node.Plans ?? []).flatMap(nodes)];
    };
    for (const window of [{ from: null, to: null }, { from: new Date(end - 3600_000).toISOString(), to: null }]) {
      const statement = statisticsBatchStatement([{ i: 0, workload_id: uuidOf(quiet.id), proton_id: null, ...window }], DEFAULT_SERIES_POINTS);
      const [row] = await queryRows<{ 'QUERY PLAN': unknown }>(em, `explain (format json) ${statement.sql}`, statement.params);
      const raw = row!['QUERY PLAN'];
      const [{ Plan }] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: unknown }];
      const reads = nodes(Plan).filter((n) => n.relation === 'proton_request_statistics');
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.filter((n) => !/Index/.test(n.type))).toEqual([]);
    }
  });
  // The embedded database has no JIT at all.
  it.skipIf(backend.name !== 'postgres')('runs on connections without JIT compilation, which cost a large window\'s read more than the read', async () => {
    const [setting] = await queryRows<{ jit: string }>(t.app.orm.em.fork(), 'show jit');
    expect(setting?.jit).toBe('off');
  });
});

