import { Agent, request } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { CLOSE_CODES } from '../src/domain/close-codes.js';
import { CreateWorkloadDocument, WorkloadChangedDocument } from './graphql/generated/graphql.js';
import { artifactInput, workloadInput } from './support/fixtures.js';
import { eventually, subscribeSse, subscribeWs, wsClient } from './support/live.js';
import { testEnvironment } from './support/ports.js';
import { SPAWN_START_LIMIT_MS, startServer } from './support/spawned-server.js';
import { tokenFor, type TestSubject } from './support/test-app.js';
import { bearer, createRunningWorkload, endpointOf, startInvokeApp, uuidOf } from './invoke/support.js';

const owner: TestSubject = { sub: 'developer' };
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A POST whose headers are on the server (it answered 100 Continue) and whose body the test sends when it likes. */
function requestUnderWay(url: URL, authorization: string, body: string) {
  let send: () => void = () => {};
  let continued: () => void = () => {};
  const headersArrived = new Promise<void>((resolve) => (continued = resolve));
  const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization, 'content-length': Buffer.byteLength(body), expect: '100-continue' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
      },
    );
    req.on('error', reject);
    req.on('continue', () => continued());
    send = () => req.end(body);
  });
  return { headersArrived, send: () => send(), response };
}

/** Whether a new connection to `url` is refused. */
async function refused(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`);
    return false;
  } catch {
    return true;
  }
}

it('on stop: fails /readyz while still listening, then refuses connections, finishes the request under way, closes WebSocket subscriptions with 1001 and ends SSE streams', async () => {
  const app = await buildApp({
    // A drain long enough for the two checks made during it, on a loaded machine.
    config: loadConfig(testEnvironment({ SHUTDOWN_DRAIN_SECONDS: '3', SHUTDOWN_TIMEOUT_SECONDS: '12', SIMULATED_SPEED: '0.01' })),
    database: { kind: 'pglite-memory' },
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  const url = await app.start();
  const authorization = `Bearer ${await tokenFor(owner)}`;
  const created = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query: print(CreateWorkloadDocument), variables: { input: workloadInput({ artifact: artifactInput() }) } }),
  });
  const id = ((await created.json()) as { data: { createWorkload: { workload: { id: string } } } }).data.createWorkload.workload.id;

  let closed: { code: number; reason: string } | undefined;
  const client = await wsClient(`${url.replace(/^http/, 'ws')}/graphql`, owner, { onClosed: (code, reason) => (closed = { code, reason }) });
  const ws = subscribeWs(client, WorkloadChangedDocument, { id });
  await ws.count(1);
  const sse = subscribeSse(url, owner, WorkloadChangedDocument, { id });
  await sse.count(1);
  const underWay = requestUnderWay(new URL(url), authorization, JSON.stringify({ query: '{ workloads(first: 5) { totalCount } }' }));
  await underWay.headersArrived;

  const stopped = app.stop();
  // The listener still accepts during the drain, and says this replica is going away.
  const ready = await fetch(`${url}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ status: 'unavailable', failing: ['shutdown'] });
  expect(await refused(url)).toBe(false);
  await eventually(() => refused(url), 'the listener to close', 5000);
  await eventually(() => closed, 'the WebSocket connection to close');
  expect(closed?.code).toBe(CLOSE_CODES.goingAway);
  await eventually(() => sse.completed, 'the SSE stream to end');
  underWay.send();
  const { status, body } = await underWay.response;
  expect(status).toBe(200);
  expect(JSON.parse(body)).toEqual({ data: { workloads: { totalCount: 1 } } });
  await stopped;
  expect(await app.orm.isConnected()).toBe(false);
  await client.dispose();
}, 60_000);

it('on SIGTERM the process fails /readyz, closes subscriptions with 1001 and exits 0 within SHUTDOWN_TIMEOUT_SECONDS', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'workload-api-'));
  dirs.push(dataDir);
  const timeoutSeconds = 10;
  const server = await startServer(dataDir, { SHUTDOWN_DRAIN_SECONDS: '1', SHUTDOWN_TIMEOUT_SECONDS: String(timeoutSeconds), SIMULATED_SPEED: '0.01' });
  const { tokens } = JSON.parse(await readFile(path.join(dataDir, 'dev-auth.json'), 'utf8')) as { tokens: Record<string, string> };
  const authorization = `Bearer ${tokens.alice}`;
  const created = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query: print(CreateWorkloadDocument), variables: { input: workloadInput({ artifact: artifactInput() }) } }),
  });
  const id = ((await created.json()) as { data: { createWorkload: { workload: { id: string } } } }).data.createWorkload.workload.id;
  let closed: number | undefined;
  const client = createClient({
    url: `${server.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization },
    on: { closed: (event) => (closed = (event as { code: number }).code) },
  });
  const payloads: unknown[] = [];
  client.subscribe({ query: print(WorkloadChangedDocument), variables: { id } }, { next: (p) => payloads.push(p), error: () => {}, complete: () => {} });
  await eventually(() => payloads.length > 0, 'the first payload');
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

  const signalled = Date.now();
  server.child.kill('SIGTERM');
  await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 503, '/readyz to fail');
  await eventually(() => closed !== undefined, 'the subscriber to be disconnected', timeoutSeconds * 1000);
  expect(closed).toBe(CLOSE_CODES.goingAway);
  expect(await server.exited).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(timeoutSeconds * 1000);
  expect(server.output()).toContain('Workload API stopped');
  await client.dispose();
}, SPAWN_START_LIMIT_MS + 60_000);

interface Answer {
  /** Sent after the shutdown began. */
  late: boolean;
  status: number;
  connection: string | undefined;
  /** Sent on a connection that an earlier response had left open. */
  reused: boolean;
}

/** One request on a keep-alive agent; resolves with its answer or the error code that ended it. */
function keepAliveRequest(agent: Agent, url: URL, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; connection: string | undefined; reused: boolean } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path, method: body === undefined ? 'GET' : 'POST', headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, reused: req.reusedSocket }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: `${err.code ?? err.message}${req.reusedSocket ? ' on a reused connection' : ' on a new connection'}` }));
    req.end(body);
  });
}

it('after stop begins, every response carries Connection: close, those under way and invoke responses included, and keep-alive clients see no reset', async () => {
  const t = await startInvokeApp({ name: 'pglite' }, { SHUTDOWN_DRAIN_SECONDS: '2', SHUTDOWN_TIMEOUT_SECONDS: '20' });
  try {
    const w = await createRunningWorkload(t);
    const base = new URL(t.baseUrl);
    const invokePath = new URL(endpointOf(t, w)).pathname;
    const authorization = await bearer();
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const graphql = JSON.stringify({ query: '{ workloads(first: 1) { totalCount } }' });

    // Under way when the shutdown begins: an invocation the replica answers late, and a GraphQL request whose body is not sent yet.
    const slowInvoke = keepAliveRequest(new Agent({ keepAlive: true }), base, `${invokePath}slow`, { authorization, 'x-sim-delay-ms': '6000' });
    const proton = uuidOf(w.protons.find((p) => p.role === 'ACTIVE')!.id);
    await eventually(() => t.app.invoke.statistics.inFlight(proton) === 1, 'the slow invocation to reach the replica');
    const underWay = requestUnderWay(base, authorization, graphql);
    await underWay.headersArrived;

    // A keep-alive client whose connection is idle when the shutdown begins, and that reuses it during the drain.
    const idleAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    expect(await keepAliveRequest(idleAgent, base, '/graphql', { authorization }, graphql)).toMatchObject({ status: 200, connection: 'keep-alive' });

    let stopping = false;
    let refused = false;
    const answers: Answer[] = [];
    const errors: string[] = [];
    // Keep-alive clients in a loop, alternating GraphQL and invocations, until new connections are refused.
    const worker = async (n: number) => {
      for (let i = 0; !refused; i += 1) {
        const late = stopping;
        const answer = (i + n) % 2 === 0
          ? await keepAliveRequest(agent, base, '/graphql', { authorization }, graphql)
          : await keepAliveRequest(agent, base, `${invokePath}x`, { authorization });
        if ('error' in answer) {
          errors.push(answer.error);
          // The listener has closed: a new connection is refused, or reset if the kernel had queued it
          // before the listener closed. Either ends this client.
          if (answer.error.endsWith('on a new connection')) refused = true;
        } else {
          answers.push({ late, ...answer });
        }
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await eventually(() => answers.length >= 20, 'requests to flow before the shutdown');

    stopping = true;
    const stopped = t.app.stop();
    expect(await keepAliveRequest(idleAgent, base, `${invokePath}again`, { authorization })).toMatchObject({ status: 200, connection: 'close', reused: true });
    underWay.send();
    const inFlight = await underWay.response;
    expect(inFlight).toMatchObject({ status: 200, connection: 'close' });
    const slow = await slowInvoke;
    await Promise.all(workers);
    await stopped;

    expect(slow).toMatchObject({ status: 200, connection: 'close' });
    // No reused connection was reset; new ones failed only because the listener had closed.
    expect(errors.filter((e) => !/^(ECONNREFUSED|ECONNRESET) on a new connection$/.test(e))).toEqual([]);
    const late = answers.filter((a) => a.late);
    expect(late.filter((a) => a.connection !== 'close')).toEqual([]);
    expect(late.filter((a) => a.status !== 200)).toEqual([]);
    agent.destroy();
    idleAgent.destroy();
  } finally {
    await t.stop().catch(() => undefined);
  }
}, 60_000);
