import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import {
  PromoteWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadStatisticsDocument,
  type WorkloadStatisticsQuery,
} from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { recordSql } from '../support/sql-log.js';
import { bearer, createRunningWorkload, endpointOf, startInvokeApp, uuidOf, type InvokeTestApp, type WorkloadView } from './support.js';

type StatisticsView = Extract<WorkloadStatisticsQuery['workload'], { __typename: 'Workload' }>;

describeEachDatabase('request statistics of the invoke endpoint', (backend) => {
  let t: InvokeTestApp;
  let w: WorkloadView;
  let url: string;
  let auth: string;

  beforeAll(async () => {
    t = await startInvokeApp(backend);
    auth = await bearer();
    w = await createRunningWorkload(t);
    url = endpointOf(t, w);
  });
  afterAll(() => t?.stop());

  async function statistics(caller = t.exec.bind(t), variables: Partial<{ from: string; to: string; protonId: string }> = {}): Promise<StatisticsView> {
    const { workload } = await caller(WorkloadStatisticsDocument, { id: w.id, ...variables });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    return workload;
  }

  /**
   * Polls until the batches written so far show `count` requests, for the workload and over its
   * protons (the collector writes its batches on its own schedule).
   */
  const untilCount = (count: number) =>
    vi.waitFor(
      async () => {
        const s = await statistics();
        expect(s.statistics.requestCount).toBe(count);
        expect(s.protons.reduce((n, p) => n + p.statistics.requestCount, 0)).toBe(count);
        return s;
      },
      { timeout: 10_000, interval: 25 },
    );

  it('counts every request, its 4xx and 5xx answers and its latency percentiles, per proton and for the workload', async () => {
    const send = (headers: Record<string, string>) => fetch(`${url}stats`, { headers: { authorization: auth, ...headers } }).then((r) => r.text());
    // 18 quick successes, 6 client errors, 4 server errors from the workload, 2 slow successes.
    for (let i = 0; i < 18; i++) await send({});
    for (let i = 0; i < 6; i++) await send({ 'x-sim-status': String(400 + i) });
    for (let i = 0; i < 4; i++) await send({ 'x-sim-status': '500' });
    await Promise.all([send({ 'x-sim-delay-ms': '300' }), send({ 'x-sim-delay-ms': '300' })]);
    // Requests that were never forwarded are not a proton's: unauthenticated, unknown.
    await fetch(`${url}stats`);

    const s = await untilCount(30);
    expect(s.statistics).toMatchObject({ requestCount: 30, clientErrorCount: 6, serverErrorCount: 4, resetAt: null, concurrentRequests: 0 });
    // Percentiles within bucket precision (25%): 28 of 30 requests are quick, the slowest two took 300 ms.
    expect(s.statistics.latencyP50Ms!).toBeLessThan(100);
    expect(s.statistics.latencyP99Ms!).toBeGreaterThanOrEqual(300 / 1.25);
    expect(s.statistics.latencyP99Ms!).toBeLessThanOrEqual(s.statistics.latencyMaxMs!);
    expect(s.statistics.latencyMaxMs!).toBeGreaterThanOrEqual(300);
    expect(s.statistics.peakConcurrentRequests).toBeGreaterThanOrEqual(2);
    expect(s.statistics.lastRequestAt).not.toBeNull();
    const minutes = (new Date(s.statistics.windowEnd!).getTime() - new Date(s.statistics.windowStart!).getTime()) / 60_000;
    expect(s.statistics.requestsPerMinute).toBeCloseTo(30 / minutes, 6);
    expect(s.statistics.series.reduce((n, p) => n + p.requestCount, 0)).toBe(30);

    // The workload has one proton: its statistics are the workload's.
    const [proton] = s.protons;
    expect(proton!.statistics).toMatchObject({ requestCount: 30, clientErrorCount: 6, serverErrorCount: 4 });
    const filtered = await statistics(undefined, { protonId: proton!.id });
    expect(filtered.statistics.requestCount).toBe(30);
    const elsewhere = await statistics(undefined, { protonId: '00000000-0000-4000-8000-000000000000' });
    expect(elsewhere.statistics.requestCount).toBe(0);
    // A window that ends before the first request holds none of them.
    const before = await statistics(undefined, { from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z' });
    expect(before.statistics).toMatchObject({ requestCount: 0, requestsPerMinute: 0, latencyP50Ms: null });
  });

  it('reads the workload\'s statistics and its protons\' over the same window in one statement, so a response shows one moment', async () => {
    const sql = recordSql(t.app.orm);
    const s = await statistics();
    sql.stop();
    // One read of the buckets for the workload and its proton (their protons are read after the
    // workload: a second statement would count batches the first did not; seen once in CI, 30
    // requests for the workload and 28 for its one proton).

    expect(sql.statements.filter((q) => q.startsWith('with q as'))).toHaveLength(1);
    expect(s.statistics.requestCount).toBeGreaterThan(0);
    expect(s.protons.map((p) => p.statistics.requestCount)).toEqual([s.statistics.requestCount]);
    expect(s.protons[0]!.statistics.series).toEqual(s.statistics.series);
    const readsOf = async (variables: Partial<{ from: string; to: string; protonId: string }>) => {
      const log = recordSql(t.app.orm);
      await statistics(undefined, variables);
      log.stop();
      return log.statements.filter((q) => q.startsWith('with q as')).length;
    };
    // The workload's statistics of its one proton is that proton's read, the same as its own.
    expect(await readsOf({ protonId: s.protons[0]!.id })).toBe(1);
    // A query that shows no protons' statistics reads the workload's alone (a proton's part sums
    // the window again): its statement asks for no parts.
    const client = t.app.orm.em.getKnex().client as unknown as { on(e: 'query', l: (q: { sql: string; bindings?: unknown[] }) => void): void; off(e: 'query', l: (q: { sql: string; bindings?: unknown[] }) => void): void };
    const asked: unknown[] = [];
    const listener = (q: { sql: string; bindings?: unknown[] }) => {
      if (q.sql.startsWith('with q as')) asked.push(JSON.parse(String(q.bindings?.[0])));
    };
    client.on('query', listener);
    await t.execRaw('query($id: ID!) { workload(id: $id) { ... on Workload { statistics { requestCount } protons { id } } } }', { id: w.id });
    await statistics();
    expect(asked).toEqual([[expect.not.objectContaining({ expand: true })], [expect.objectContaining({ expand: true })]]);
    // Another window than the protons' (theirs is the whole epoch) is read apart: the proton's
    // is a query of its own (in the same statement when asked in the same tick), not a part of
    // the workload's window.
    asked.length = 0;
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const apart = await statistics(undefined, { from });
    client.off('query', listener);
    const inputs = asked.flat() as { workload_id: string; proton_id: string | null; from: string | null }[];
    expect(inputs).toHaveLength(2);
    expect(inputs).toEqual(expect.arrayContaining([
      expect.objectContaining({ proton_id: null, from: expect.any(String) }),
      expect.objectContaining({ proton_id: expect.any(String), from: null }),
    ]));
    expect(apart.protons[0]!.statistics.requestCount).toBe(s.statistics.requestCount);
  });

  it('shows requests in flight now, over every API replica', async () => {
    const slow = Array.from({ length: 3 }, () => fetch(`${url}slow`, { headers: { authorization: auth, 'x-sim-delay-ms': '1500' } }));
    await vi.waitFor(async () => expect((await statistics()).statistics.concurrentRequests).toBe(3), { timeout: 5000, interval: 25 });
    await Promise.all(slow.map((p) => p.then((r) => r.text())));
    await vi.waitFor(async () => expect((await statistics()).statistics.concurrentRequests).toBe(0), { timeout: 5000, interval: 25 });
    expect((await statistics()).statistics.requestCount).toBe(33);
  });

  it('lets an observer read the statistics and tells a caller with no role nothing', async () => {
    const stranger = t.as({ sub: 'peeker' });
    const { workload: hidden } = await stranger.exec(WorkloadStatisticsDocument, { id: w.id });
    expect(hidden.__typename).toBe('NotFoundError');
    await t.exec(UpdateWorkloadSharedRolesDocument, {
      input: {
        id: w.id,
        roles: [
          { subjectType: 'USER' as never, subjectId: 'developer', role: 'OWNER' as never },
          { subjectType: 'USER' as never, subjectId: 'peeker', role: 'OBSERVER' as never },
        ],
      },
    });
    const seen = await statistics(stranger.exec.bind(stranger));
    expect(seen.statistics.requestCount).toBe(33);
    expect(seen.protons[0]!.statistics.requestCount).toBe(33);
  });

  it('refuses a window whose start is not before its end', async () => {
    const at = new Date();
    const result = await t.execRaw(
      `query($id: ID!, $at: DateTime) { workload(id: $id) { ... on Workload { statistics(from: $at, to: $at) { requestCount } } } }`,
      { id: w.id, at: at.toISOString() },
    );
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'VALIDATION', argument: 'from' });
  });

  it('starts the statistics afresh when the workload is promoted, and counts what follows', async () => {
    const { promoteWorkload } = await t.exec(PromoteWorkloadDocument, { id: w.id });
    expect(promoteWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const after = await statistics();
    expect(after.statistics).toMatchObject({ requestCount: 0, clientErrorCount: 0, serverErrorCount: 0, latencyP50Ms: null, series: [] });
    expect(after.statistics.resetAt).not.toBeNull();
    expect(after.protons[0]!.statistics.requestCount).toBe(0);

    for (let i = 0; i < 4; i++) await fetch(`${url}after`, { headers: { authorization: auth } }).then((r) => r.text());
    await fetch(`${url}after`, { headers: { authorization: auth, 'x-sim-status': '503' } }).then((r) => r.text());
    const s = await untilCount(5);
    expect(s.statistics).toMatchObject({ requestCount: 5, clientErrorCount: 0, serverErrorCount: 1 });
    expect(uuidOf(s.protons[0]!.id)).toBe(uuidOf(w.protons[0]!.id));
  });
});
