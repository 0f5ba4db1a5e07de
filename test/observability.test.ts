import { randomUUID } from 'node:crypto';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { AppMetrics } from '../src/observability/metrics.js';
import type { DatabaseConfig } from '../src/store/orm.js';
import { CreateWorkloadDocument, WorkloadChangedDocument } from './graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from './support/backends.js';
import { artifactInput, workloadInput } from './support/fixtures.js';
import { eventually, startThrowawayRedis, subscribeSse, subscribeWs, wsClient } from './support/live.js';
import { capturingLogger, parseMetrics, scrape } from './support/observe.js';
import { testEnvironment } from './support/ports.js';
import { TestClock, tokenFor, type TestSubject } from './support/test-app.js';
import { postgresBinDir, startThrowawayPostgres } from './support/throwaway-postgres.js';
import { pino } from 'pino';

const owner: TestSubject = { sub: 'developer' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Running {
  app: App;
  url: string;
  lines: Record<string, unknown>[];
  clock: TestClock;
}

/** Builds and starts an app whose log lines the test reads, on a clock the test moves. */
async function start(database: DatabaseConfig, env: Record<string, string> = {}): Promise<Running> {
  const { logger, lines } = capturingLogger();
  const clock = new TestClock(new Date());
  const app = await buildApp({ config: loadConfig(testEnvironment({ SIMULATED_SPEED: '10', ...env })), database, logger, clock: clock.read });
  const url = await app.start();
  return { app, url, lines, clock };
}

async function graphql(url: string, query: string, options: { who?: TestSubject | null; requestId?: string; variables?: Record<string, unknown> } = {}) {
  const who = options.who === undefined ? owner : options.who;
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(who && { authorization: `Bearer ${await tokenFor(who)}` }),
      ...(options.requestId !== undefined && { 'x-request-id': options.requestId }),
    },
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  return { status: res.status, requestId: res.headers.get('x-request-id'), body };
}

async function readyz(url: string) {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; failing: string[]; checks: Record<string, { ok: boolean; error?: string }> } };
}

async function createWorkload(url: string): Promise<string> {
  const { body } = await graphql(url, print(CreateWorkloadDocument), { variables: { input: workloadInput({ artifact: artifactInput() }) } });
  const payload = body.data?.createWorkload as { __typename: string; workload: { id: string } };
  if (payload?.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(body));
  return payload.workload.id;
}

/** The database id behind a global id. */
function localId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
}

describeEachDatabase('observability', (backend) => {
  let t: Running;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await start(db.database);
  });
  afterAll(async () => {
    await t?.app.stop();
    await drop?.();
  });

  it('answers /healthz and /readyz without credentials, naming each check', async () => {
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(await readyz(t.url)).toEqual({ status: 200, body: { status: 'ready', ready: true, failing: [], checks: { database: { ok: true } } } });
    expect((await fetch(`${t.url}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it("returns the caller's request id, or a new one for a missing or malformed one, and logs the request with it", async () => {
    const given = await graphql(t.url, '{ workloads(first: 1) { totalCount } }', { requestId: 'trace-4bf92f3577b34da6' });
    expect(given.requestId).toBe('trace-4bf92f3577b34da6');
    for (const bad of ['x'.repeat(129), 'two words', '']) {
      const replaced = await graphql(t.url, '{ workloads(first: 1) { totalCount } }', { requestId: bad });
      expect(replaced.requestId).toMatch(UUID);
    }
    const generated = await graphql(t.url, '{ workloads(first: 1) { totalCount } }');
    expect(generated.requestId).toMatch(UUID);
    const line = await eventually(
      () => t.lines.find((l) => l.msg === 'request' && l.requestId === 'trace-4bf92f3577b34da6'),
      'the access log line',
    );
    expect(line).toMatchObject({ method: 'POST', path: '/graphql', status: 200 });
    const invoke = await fetch(`${t.url}/endpoints/workloads/${randomUUID()}/`, { headers: { 'x-request-id': 'invoke-1' } });
    expect(invoke.headers.get('x-request-id')).toBe('invoke-1');
  });

  it('puts the request id in the extensions of every error: unauthenticated, invalid, and each error of an SSE stream', async () => {
    const unauthenticated = await graphql(t.url, '{ workloads(first: 1) { totalCount } }', { who: null, requestId: 'no-credentials' });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED', requestId: 'no-credentials' } })]);
    const invalid = await graphql(t.url, '{ noSuchField }');
    expect(invalid.body.errors?.length).toBeGreaterThan(0);
    for (const error of invalid.body.errors ?? []) expect(error.extensions?.requestId).toBe(invalid.requestId);
    const unparsable = await graphql(t.url, '{ workloads(', { requestId: 'syntax' });
    expect(unparsable.body.errors?.[0]?.extensions?.requestId).toBe('syntax');
    // A subscription to a workload that does not exist ends with an error event in the stream.
    const res = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${await tokenFor(owner)}`, 'x-request-id': 'sse-1' },
      body: JSON.stringify({ query: print(WorkloadChangedDocument), variables: { id: Buffer.from(`Workload:${randomUUID()}`).toString('base64') } }),
    });
    const text = await res.text();
    const events = text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6).map((l) => JSON.parse(l.slice(5)) as { errors?: { extensions?: Record<string, unknown> }[] });
    const errors = events.flatMap((e) => e.errors ?? []);
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) expect(error.extensions?.requestId).toBe('sse-1');
  });

  it('puts a per-operation request id on errors over WebSocket', async () => {
    const client = await wsClient(`${t.url.replace(/^http/, 'ws')}/graphql`, owner);
    const sub = subscribeWs(client, WorkloadChangedDocument, { id: Buffer.from(`Workload:${randomUUID()}`).toString('base64') });
    const errors = await eventually(() => sub.errors.length > 0 && sub.errors, 'the error of the subscription');
    expect(errors[0]?.extensions?.requestId).toMatch(/^ws-[0-9a-f-]{36}\/.+$/);
    await client.dispose();
  });

  it('counts GraphQL operations by type, name and outcome, with their execution time', async () => {
    const series = { operation_type: 'query', operation_name: 'CountWorkloads' };
    const before = await scrape(t.url);
    await graphql(t.url, 'query CountWorkloads { workloads(first: 1) { totalCount } }');
    await graphql(t.url, 'query CountWorkloads { workloads(first: 1) { totalCount } }');
    await graphql(t.url, 'query CountWorkloads { workloads(first: 1) { noSuchField } }');
    await graphql(t.url, 'mutation { stopWorkload(id: "bm90IGFuIGlk") { __typename } }');
    const after = await scrape(t.url);
    const count = (read: typeof before, name: string, labels: Record<string, string>) => read(name, labels) ?? 0;
    expect(count(after, 'workload_api_graphql_operations_total', { ...series, outcome: 'success' }) - count(before, 'workload_api_graphql_operations_total', { ...series, outcome: 'success' })).toBe(2);
    expect(count(after, 'workload_api_graphql_operations_total', { ...series, outcome: 'rejected' }) - count(before, 'workload_api_graphql_operations_total', { ...series, outcome: 'rejected' })).toBe(1);
    expect(count(after, 'workload_api_graphql_operation_duration_seconds_count', series) - count(before, 'workload_api_graphql_operation_duration_seconds_count', series)).toBe(2);
    expect(after('workload_api_graphql_operation_duration_seconds_bucket', { ...series, le: '+Inf' })).toBe(after('workload_api_graphql_operation_duration_seconds_count', series));
    const mutations = (read: typeof before) =>
      (read('workload_api_graphql_operations_total', { operation_type: 'mutation', operation_name: 'anonymous', outcome: 'success' }) ?? 0) +
      (read('workload_api_graphql_operations_total', { operation_type: 'mutation', operation_name: 'anonymous', outcome: 'error' }) ?? 0);
    expect(mutations(after) - mutations(before)).toBe(1);
  });

  it('never makes a label of an operation name that is not a GraphQL name of sensible length', async () => {
    const series = { operation_type: 'unknown', operation_name: '__invalid', outcome: 'rejected' };
    const before = (await scrape(t.url))('workload_api_graphql_operations_total', series) ?? 0;
    const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await tokenFor(owner)}` };
    // Documents of this test only: a document that failed to parse once is not parsed (or counted) again.
    for (const [query, operationName] of [['{ labelProbeOne(', 'x'.repeat(5000)], ['{ labelProbeTwo(', 'not a name!']]) {
      const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, operationName }) });
      expect(res.status).toBe(200);
    }
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).not.toContain('xxxxxxxx');
    expect(text).not.toContain('not a name!');
    expect(((await scrape(t.url))('workload_api_graphql_operations_total', series) ?? 0) - before).toBe(2);
  });

  it('counts open subscriptions per transport, and lowers the gauge as they close', async () => {
    const id = await createWorkload(t.url);
    const active = async (transport: string) => (await scrape(t.url))('workload_api_graphql_subscriptions_active', { transport });
    await eventually(async () => (await active('websocket')) === 0 && (await active('http')) === 0, 'no subscription to be open');
    const client = await wsClient(`${t.url.replace(/^http/, 'ws')}/graphql`, owner);
    const ws = subscribeWs(client, WorkloadChangedDocument, { id });
    await ws.count(1);
    const sse = subscribeSse(t.url, owner, WorkloadChangedDocument, { id });
    await sse.count(1);
    expect(await active('websocket')).toBe(1);
    expect(await active('http')).toBe(1);
    ws.stop();
    await eventually(async () => (await active('websocket')) === 0, 'the WebSocket subscription to be counted out');
    sse.stop();
    await eventually(async () => (await active('http')) === 0, 'the SSE subscription to be counted out');
    await client.dispose();
  });

  it("reports the embedded database thread's heap apart from the main thread's (embedded database only)", async () => {
    const read = await scrape(t.url);
    const heap = (kind: string) => read('workload_api_embedded_database_heap_bytes', { kind });
    if (backend.name === 'postgres') {
      expect(heap('used')).toBeUndefined();
      return;
    }
    expect(heap('used')).toBeGreaterThan(1e6);
    expect(heap('total')).toBeGreaterThanOrEqual(heap('used')!);
    // PGlite's WebAssembly memory lives on that thread: tens of MB, none of it in the main thread's external.
    expect(heap('external')).toBeGreaterThan(16 * 2 ** 20);
    expect(read('nodejs_external_memory_bytes')).toBeLessThan(heap('external')!);
  });

  it('times controller passes and reports the queue depth', async () => {
    const passes = async () => (await scrape(t.url))('workload_api_controller_reconcile_duration_seconds_count', { outcome: 'ok' }) ?? 0;
    const before = await passes();
    await createWorkload(t.url);
    await eventually(async () => (await passes()) > before, 'a controller pass to be timed');
    await t.app.controller.idle();
    // Pod events queue passes at any moment: compare a scrape with the depth around it until the
    // two agree (the gauge reads the controller's queue, so they must once it holds still).
    await eventually(async () => {
      const depthBefore = t.app.controller.queueDepth;
      const scraped = (await scrape(t.url))('workload_api_controller_queue_depth');
      return scraped === depthBefore && scraped === t.app.controller.queueDepth;
    }, 'the queue depth gauge to match the controller');
    expect((await scrape(t.url))('workload_api_leader')).toBe(1);
  });

  it('counts invoke requests by status class, with their duration', async () => {
    const before = await scrape(t.url);
    const res = await fetch(`${t.url}/endpoints/workloads/${randomUUID()}/`);
    expect(res.status).toBe(401);
    await res.arrayBuffer();
    await eventually(async () => {
      const after = await scrape(t.url);
      return (
        (after('workload_api_invoke_requests_total', { status_class: '4xx' }) ?? 0) - (before('workload_api_invoke_requests_total', { status_class: '4xx' }) ?? 0) === 1 &&
        (after('workload_api_invoke_request_duration_seconds_count', { status_class: '4xx' }) ?? 0) -
          (before('workload_api_invoke_request_duration_seconds_count', { status_class: '4xx' }) ?? 0) ===
          1
      );
    }, 'the invoke request to be counted');
  });

  it('forwards the request id to the workload through the invoke endpoint, and counts the answer as 2xx', async () => {
    const id = await createWorkload(t.url);
    const endpoint = await eventually(async () => {
      const { body } = await graphql(t.url, 'query($id: ID!) { workload(id: $id) { ... on Workload { status endpoint } } }', { variables: { id } });
      const w = body.data?.workload as { status: string; endpoint: string };
      return w.status === 'RUNNING' && new URL(w.endpoint).pathname;
    }, 'the workload to run', 30_000);
    const before = (await scrape(t.url))('workload_api_invoke_requests_total', { status_class: '2xx' }) ?? 0;
    const res = await fetch(`${t.url}${endpoint}hello`, { headers: { authorization: `Bearer ${await tokenFor(owner)}`, 'x-request-id': 'invoke-trace-7' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('invoke-trace-7');
    const echo = (await res.json()) as { path: string; headers: Record<string, string> };
    expect(echo.headers['x-request-id']).toBe('invoke-trace-7');
    await eventually(async () => ((await scrape(t.url))('workload_api_invoke_requests_total', { status_class: '2xx' }) ?? 0) === before + 1, 'the request to be counted');
  });

  it('counts workloads by status in the database, at most every few seconds', async () => {
    // Hold the controller, so that statuses change only when this test changes them.
    await t.app.controller.stop();
    const first = await createWorkload(t.url);
    const second = await createWorkload(t.url);
    const em = t.app.orm.em.fork();
    const database = async () => {
      const rows = await em.getConnection().execute<{ status: string; count: string }[]>('select status, count(*) as count from workload where deleted_at is null group by status');
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
    };
    const gauge = async () => {
      const read = await scrape(t.url);
      const counts: Record<string, number> = {};
      for (const status of ['unknown', 'submitted', 'provisioning', 'launching', 'running', 'suspended', 'interrupted', 'stopping', 'stopped', 'errored', 'terminated']) {
        const value = read('workload_api_workloads', { status });
        if (value === undefined) throw new Error(`no series for ${status}`);
        if (value > 0) counts[status] = value;
      }
      return counts;
    };
    t.clock.advance(10_000);
    const expected = await database();
    expect(await gauge()).toEqual(expected);
    await em.getConnection().execute('update workload set status = ? where id = ?', ['errored', localId(first)]);
    await em.getConnection().execute('update workload set deleted_at = now() where id = ?', [localId(second)]);
    // Still the cached counts...
    expect(await gauge()).toEqual(expected);
    // ...until the cache expires.
    t.clock.advance(5_000);
    const changed = await database();
    expect(changed).not.toEqual(expected);
    expect(await gauge()).toEqual(changed);
    await t.app.controller.start();
  });
});

describe('/metrics without a database backend under test', () => {
  it('reads the pod informer restarts from its counter, and has no informer series without one', async () => {
    const sources = {
      orm: {} as never,
      clock: () => new Date(),
      controller: { queueDepth: 3 },
      leadership: { isLeader: () => false },
      streams: { active: () => ({ websocket: 2, http: 1 }) },
    };
    const stats = { restarts: 0 };
    const withInformer = new AppMetrics(pino({ level: 'silent' }));
    withInformer.watch({ ...sources, informer: { stats, isSynced: () => true } });
    const value = async (metrics: AppMetrics, name: string, labels: Record<string, string> = {}) =>
      parseMetrics(await metrics.registry.getSingleMetricAsString(name)).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(await value(withInformer, 'workload_api_pod_informer_restarts_total')).toBe(0);
    stats.restarts = 2;
    expect(await value(withInformer, 'workload_api_pod_informer_restarts_total')).toBe(2);
    expect(await value(withInformer, 'workload_api_pod_informer_synced')).toBe(1);
    expect(await value(withInformer, 'workload_api_controller_queue_depth')).toBe(3);
    expect(await value(withInformer, 'workload_api_graphql_subscriptions_active', { transport: 'websocket' })).toBe(2);
    const without = new AppMetrics(pino({ level: 'silent' }));
    without.watch(sources);
    expect(without.registry.getSingleMetric('workload_api_pod_informer_restarts_total')).toBeUndefined();
  });
});

describe('/metrics switched off', () => {
  it('is not served when METRICS_ENABLED=false', async () => {
    const t = await start({ kind: 'pglite-memory' }, { METRICS_ENABLED: 'false' });
    try {
      expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    } finally {
      await t.app.stop();
    }
  });
});

describe('/readyz and Redis', () => {
  it('fails naming redis while Redis is away, and recovers when it returns', async () => {
    const redis = await startThrowawayRedis();
    const t = await start({ kind: 'pglite-memory' }, { REDIS_URL: redis.url, READINESS_CHECK_TIMEOUT_MS: '500' });
    try {
      expect(await readyz(t.url)).toMatchObject({ status: 200, body: { failing: [], checks: { database: { ok: true }, redis: { ok: true } } } });
      await redis.stop();
      const down = await eventually(async () => {
        const r = await readyz(t.url);
        return r.status === 503 && r;
      }, 'readiness to fail');
      expect(down.body).toMatchObject({ status: 'unavailable', failing: ['redis'], checks: { database: { ok: true }, redis: { ok: false } } });
      await redis.start();
      await eventually(async () => (await readyz(t.url)).status === 200, 'readiness to return', 15_000);
    } finally {
      await t.app.stop();
      await redis.stop();
    }
  }, 30_000);
});

const postgresServer = postgresBinDir();
describe.skipIf(!postgresServer && process.env.REQUIRE_ALL_BACKENDS !== '1')('/readyz and a PostgreSQL server that stops', () => {
  it('fails naming the database while PostgreSQL is down, masks the failed queries with their request id, and recovers', async () => {
    const pg = await startThrowawayPostgres();
    const t = await start({ kind: 'postgres', url: pg.url, poolMax: 2 }, { READINESS_CHECK_TIMEOUT_MS: '1000' });
    try {
      expect((await readyz(t.url)).status).toBe(200);
      await pg.stop();
      const down = await eventually(async () => {
        const r = await readyz(t.url);
        return r.status === 503 && r;
      }, 'readiness to fail');
      expect(down.body).toMatchObject({ status: 'unavailable', failing: ['database'], checks: { database: { ok: false } } });
      // Anyone may probe: the driver's message (addresses, users) is logged, not answered.
      expect(JSON.stringify(down.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect|postgres/i);
      expect(t.lines.find((l) => l.msg === 'readiness check failed' && l.check === 'database')).toMatchObject({ level: 40, err: expect.anything() });
      // What failed is logged with the request id; the caller gets a typed, retryable error and the id to quote.
      const failed = await graphql(t.url, '{ workloads(first: 1) { totalCount } }', { requestId: 'db-down' });
      expect(failed.body.errors).toEqual([
        expect.objectContaining({ message: 'The database is unavailable; retry after 5 s.', extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5, requestId: 'db-down' } }),
      ]);
      expect(t.lines.find((l) => l.msg === 'a backend is unavailable' && l.requestId === 'db-down')).toMatchObject({ level: 40, err: expect.anything() });
      await pg.start();
      await eventually(async () => (await readyz(t.url)).status === 200, 'readiness to return', 15_000);
    } finally {
      await t.app.stop();
      await pg.destroy();
    }
  }, 60_000);
});
