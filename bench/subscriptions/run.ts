/**
 * Subscription fan-out benchmark. One API process (PostgreSQL + Redis, as in production, running
 * the compiled JavaScript) serves N graphql-ws `workloadEvents` subscriptions, opened by a client
 * process of their own (clients.ts; 100 per connection, the default limit), spread over
 * N / per-workload workloads (10 subscribers per workload, like browser tabs watching a workload,
 * and 100), while this process publishes events at a steady total rate, round-robin over the
 * workloads, as the API does (appended to the event log, then announced on Redis). Measured side
 * by side in the same run: the floor, a bare Redis channel whose messages reach as many
 * listeners in the client process.
 *
 * Reported per level: deliveries, latency (event time to arrival at the client) p50/p99, the API
 * process's CPU (% of one core) and CPU per delivery (µs); then deliveries per second per core at
 * saturation (events published faster than the API can fan them out), memory per idle
 * subscription, and whether the goals are met (results.json `met`).
 *
 *   npm run bench:subscriptions -- [--counts 1000,5000,10000,50000] [--per-workload 10,100] [--rate 100]
 *     [--seconds 5] [--saturation-rate 2000] [--saturation-seconds 5] [--cpu-prof <dir>] [--memory false]
 *
 * Needs DATABASE_URL (a server the user may create databases on) and REDIS_URL. Writes
 * bench/subscriptions/results.md and results.json.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import WebSocket from 'ws';
import type { ClientsCommand, ClientsMessage } from './clients.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const COUNTS = (args.get('counts') ?? '1000,5000,10000,50000').split(',').map(Number);
const PER_WORKLOAD = (args.get('per-workload') ?? '10,100').split(',').map(Number);
const RATE = Number(args.get('rate') ?? 100);
const SECONDS = Number(args.get('seconds') ?? 5);
const SATURATION_RATE = Number(args.get('saturation-rate') ?? 2000);
const SATURATION_SECONDS = Number(args.get('saturation-seconds') ?? 5);
const PROFILE_DIR = args.get('cpu-prof');
const MEASURE_MEMORY = args.get('memory') !== 'false';
const PER_CONNECTION = 100;
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const root = path.resolve(import.meta.dirname, '../..');

/** The goals of the fan-out issue, on a 2-core machine, idle. */
const GOALS = {
  at10k: { subscribers: 10_000, perWorkload: 10, p99Ms: 50, apiCpuPercent: 25 },
  at50k: { subscribers: 50_000, perWorkload: 10, p99Ms: 250, heapBytesPerIdleSubscription: 20_480 },
  deliveriesPerSecondPerCore: 20_000,
};

const adminUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
if (!adminUrl) throw new Error('set DATABASE_URL to a PostgreSQL server');

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function procStat(pid: number): { rssKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssKb, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}
const TICKS_PER_SECOND = 100;

const compiledMain = path.join(root, 'dist/src/main.js');
if (!existsSync(compiledMain)) throw new Error('run "npm run build" first (npm run bench:subscriptions does)');
const CHANNEL_PREFIX = `bench-${process.pid}:`;
let apiStarts = 0;

/**
 * Starts the API as production runs it: the compiled JavaScript (`npm run build`), not through
 * tsx, with its inspector on a free loopback port so that the benchmark can collect its garbage,
 * read its heap and profile it.
 */
async function startApi(databaseUrl: string): Promise<{ child: ChildProcess; url: string; inspector: string }> {
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', compiledMain], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_CHANNEL_PREFIX: CHANNEL_PREFIX,
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      SUBSCRIPTIONS_MAX_PENDING_EVENTS: '100000',
      // Thousands of connections open at once on a busy machine: their connection_init may queue.
      SUBSCRIPTIONS_CONNECTION_INIT_TIMEOUT_MS: '120000',
      // The bench creates its thousands of workloads as one caller in seconds.
      GRAPHQL_MUTATION_RATE_POINTS: '10000000',
      // The simulated cluster brings the bench's workloads up fast, then stays quiet.
      SIMULATED_SPEED: '100',
      // One caller owns the bench's thousands of workloads (5 000 for 50 000 subscribers, 10 each).
      ...Object.fromEntries(
        ['OWNER', 'ORGANIZATION'].flatMap((scope) => ['WORKLOADS', 'REPLICAS', 'CPU', 'MEMORY'].map((what) => [`QUOTA_${scope}_${what}`, 'unlimited'])),
      ),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    // The API's log, whole, for what went wrong in a run (errors are logged with their cause).
    const log = createWriteStream(path.join(os.tmpdir(), `workload-bench-api-${process.pid}-${++apiStarts}.log`));
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (out.length > 100_000) return;
      out += chunk.toString();
      const match = /"url":"([^"]+)\/graphql"/.exec(out);
      const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(out)?.[1];
      if (match && inspector) resolve({ child, url: match[1]!, inspector });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => reject(new Error(`API exited:\n${out}`)));
  });
}

/** A Chrome DevTools Protocol session on a process's inspector. */
async function inspectorSession(inspector: string) {
  const socket = new WebSocket(inspector);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  let nextId = 0;
  const call = <T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (data: WebSocket.RawData) => {
        const message = JSON.parse(String(data)) as { id?: number; result?: T; error?: unknown };
        if (message.id !== id) return;
        socket.off('message', onMessage);
        if (message.error) reject(new Error(JSON.stringify(message.error)));
        else resolve((message.result ?? {}) as T);
      };
      socket.on('message', onMessage);
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { call, close: () => socket.close() };
}

/** The API's live JavaScript heap after a full garbage collection (HeapProfiler.collectGarbage, Runtime.getHeapUsage). */
async function heapUsedAfterGc(inspector: string): Promise<number> {
  const session = await inspectorSession(inspector);
  try {
    // Twice: the first collection can leave garbage that only finalizers released.
    await session.call('HeapProfiler.collectGarbage');
    await session.call('HeapProfiler.collectGarbage');
    return (await session.call<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize;
  } finally {
    session.close();
  }
}

/** A client process (clients.ts) and a way to wait for its messages. */
function startClients() {
  const child = fork(path.join(import.meta.dirname, 'clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: { type: ClientsMessage['type']; resolve: (m: ClientsMessage) => void }[] = [];
  let failure: Error | undefined;
  child.on('message', (message: ClientsMessage) => {
    if (message.type === 'failed') {
      failure = new Error(`client process: ${message.error}`);
      for (const w of waiting.splice(0)) w.resolve(message);
      return;
    }
    const i = waiting.findIndex((w) => w.type === message.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(message);
  });
  const expect = <T extends ClientsMessage['type']>(type: T) =>
    new Promise<Extract<ClientsMessage, { type: T }>>((resolve, reject) => {
      if (failure) return reject(failure);
      waiting.push({ type, resolve: (m) => (m.type === 'failed' ? reject(failure) : resolve(m as Extract<ClientsMessage, { type: T }>)) });
    });
  return {
    pid: child.pid!,
    send: (command: ClientsCommand) => child.send(command),
    expect,
    async report() {
      const reply = expect('report');
      child.send({ type: 'report' } satisfies ClientsCommand);
      return reply;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'stop' } satisfies ClientsCommand);
      await Promise.race([exited, sleep(30_000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

async function token(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench').setIssuedAt(now).setExpirationTime(now + 4 * 3600).sign(new TextEncoder().encode(SECRET));
}

async function gql(url: string, auth: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

interface Level {
  subscribers: number;
  perWorkload: number;
  path: 'api' | 'floor';
  /** Events per second published. */
  rate: number;
  delivered: number;
  expected: number;
  p50: number;
  p99: number;
  /** CPU of the process that fans out (the API; for the floor, the client process), % of one core, over the publishing phase and the drain. */
  cpuPercent: number;
  /** That CPU, less what the same events cost the API with no subscriber (the baseline), divided by the deliveries, in microseconds. */
  cpuMicrosPerDelivery: number;
  /** Deliveries per second of that CPU time (per core at saturation). */
  deliveriesPerCpuSecond: number;
}

const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
let events: pg.Client;
let announcer: Redis;

/** Publishes at `rate` per second for `seconds`; returns how many were published. */
async function publish(rate: number, seconds: number, one: () => Promise<unknown>): Promise<number> {
  const total = Math.round(rate * seconds);
  const started = Date.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    inflight.push(one());
  }
  await Promise.all(inflight);
  return total;
}

/** Waits until the clients report `expected` deliveries, or `timeoutMs` without progress. */
async function drain(clients: ReturnType<typeof startClients>, expected: number, timeoutMs: number) {
  let report = await clients.report();
  let progressAt = Date.now();
  let last = report.delivered;
  while (report.delivered < expected && Date.now() - progressAt < timeoutMs) {
    await sleep(200);
    report = await clients.report();
    if (report.delivered > last) {
      last = report.delivered;
      progressAt = Date.now();
    }
  }
  return report;
}

/** Our path: subscriptions over graphql-ws on the API, events published at `rate`. */
async function measureApi(api: { url: string; pid: number; inspector: string }, auth: string, subscribers: number, perWorkload: number, workloadIds: string[], rate: number, seconds: number, profileFile?: string): Promise<Level> {
  const ids = workloadIds.slice(0, Math.max(1, Math.round(subscribers / perWorkload)));
  const after = new Map<string, number>();
  for (const id of ids) {
    after.set(id, (await gql(api.url, auth, 'query($id: ID!) { workload(id: $id) { ... on Workload { events(last: 1) { edges { node { sequence } } } } } }', { id })).workload.events.edges[0].node.sequence as number);
  }
  const clients = startClients();
  try {
    const ready = clients.expect('ready');
    const idle = clients.expect('idle');
    clients.send({
      type: 'open-api',
      url: api.url,
      auth,
      perConnection: PER_CONNECTION,
      subscriptions: Array.from({ length: subscribers }, (_, i) => ({ workloadId: ids[i % ids.length]!, after: after.get(ids[i % ids.length]!)! - 1 })),
    });
    await ready;
    await idle;
    clients.send({ type: 'measure' });
    const profiler = profileFile ? await inspectorSession(api.inspector) : undefined;
    if (profiler) {
      await profiler.call('Profiler.enable');
      await profiler.call('Profiler.setSamplingInterval', { interval: 200 });
      await profiler.call('Profiler.start');
    }
    const before = procStat(api.pid);
    const started = Date.now();
    let turn = 0;
    // Events are appended to the log and announced as the API itself does (commit, then publish),
    // so that the figures are those of the fan-out, not of a mutation's own work.
    const published = await publish(rate, seconds, () => publishEvent(ids[turn++ % ids.length]!));
    const expected = published * (subscribers / ids.length);
    const report = await drain(clients, expected, 20_000);
    const after_ = procStat(api.pid);
    const elapsed = (Date.now() - started) / 1000;
    if (profiler && profileFile) {
      const { profile } = await profiler.call<{ profile: unknown }>('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      profiler.close();
    }
    if (report.errors.length) process.stderr.write(`client errors: ${report.errors.join('\n')}\n`);
    const cpuSeconds = (after_.cpuTicks - before.cpuTicks) / TICKS_PER_SECOND;
    // What the events cost the API without subscribers (at this rate) is not the fan-out's.
    // At saturation nothing is subtracted: deliveries per second of all the API's CPU, a lower bound.
    const fanOutCpuSeconds = Math.max(0.01, rate === RATE ? cpuSeconds - ((baseline?.cpuPercent ?? 0) / 100) * elapsed : cpuSeconds);
    const latencies = report.latencies.sort((a, b) => a - b);
    return {
      subscribers,
      perWorkload,
      path: 'api',
      rate,
      delivered: report.delivered,
      expected,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuPercent: Math.round((cpuSeconds / elapsed) * 100),
      cpuMicrosPerDelivery: Math.round((fanOutCpuSeconds * 1e6) / Math.max(1, report.delivered)),
      deliveriesPerCpuSecond: Math.round(report.delivered / fanOutCpuSeconds),
    };
  } finally {
    await clients.stop();
  }
}

/** The API's CPU (% of a core) while events are published to workloads nobody subscribes to. */
async function measureBaseline(api: { pid: number }, ids: string[], rate: number, seconds: number): Promise<{ cpuPercent: number }> {
  const before = procStat(api.pid);
  const started = Date.now();
  let turn = 0;
  await publish(rate, seconds, () => publishEvent(ids[turn++ % ids.length]!));
  await sleep(1000);
  const cpuSeconds = (procStat(api.pid).cpuTicks - before.cpuTicks) / TICKS_PER_SECOND;
  return { cpuPercent: Math.round((cpuSeconds / ((Date.now() - started) / 1000)) * 100) };
}

/** Waits until `count` workloads are RUNNING, then a little for the passes their last pod events queued. */
async function waitUntilRunning(count: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const { rows } = await events.query<{ running: string }>(`select count(*) as running from workload where deleted_at is null and status = 'running'`);
    const running = Number(rows[0]!.running);
    if (running >= count) break;
    if (Date.now() - started > 30 * 60_000) throw new Error(`only ${running} of ${count} workloads RUNNING after 30 minutes`);
    await sleep(1000);
  }
  process.stdout.write(`${JSON.stringify({ workloadsRunning: count, afterMs: Date.now() - started })}\n`);
  // Their last pod events' passes.
  await sleep(2000);
}

/** Appends an event to a workload's log and announces it, as the API does after a commit. */
async function publishEvent(globalId: string): Promise<void> {
  const id = rawId(globalId);
  const rows = await events.query<{ sequence: number }>(
    `insert into workload_event (workload_id, sequence, type, message, occurred_at) values ($1, 0, 'benchmark', 'tick', now()) returning sequence`,
    [id],
  );
  // Announced as a change the controller has no pass to make for (like a rename or a status the
  // leader recorded itself): what is measured is the fan-out; bench/controller measures passes.
  await announcer.publish(`${CHANNEL_PREFIX}workload:changed`, JSON.stringify({ workloadId: id, sequence: rows.rows[0]!.sequence, reconcile: false }));
}

/** The floor: a bare Redis channel fanned out to as many listeners in the client process. */
async function measureFloor(subscribers: number, perWorkload: number, rate: number, seconds: number): Promise<Level> {
  const workloads = Math.max(1, Math.round(subscribers / perWorkload));
  const channel = `bench-floor-${process.pid}`;
  const clients = startClients();
  const pub = new Redis(redisUrl);
  try {
    const ready = clients.expect('ready');
    clients.send({ type: 'open-floor', redisUrl, channel, subscribers, workloads });
    await ready;
    clients.send({ type: 'measure' });
    const cpuBefore = (await clients.report()).cpuMicros;
    const started = Date.now();
    let turn = 0;
    const published = await publish(rate, seconds, () => pub.publish(channel, JSON.stringify({ workload: turn++ % workloads, sequence: 1, sentAt: Date.now() })));
    const report = await drain(clients, published * (subscribers / workloads), 10_000);
    const cpuSeconds = (report.cpuMicros - cpuBefore) / 1e6;
    const latencies = report.latencies.sort((a, b) => a - b);
    return {
      subscribers,
      perWorkload,
      path: 'floor',
      rate,
      delivered: report.delivered,
      expected: published * (subscribers / workloads),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpuPercent: Math.round((cpuSeconds / ((Date.now() - started) / 1000)) * 100),
      cpuMicrosPerDelivery: Math.round((cpuSeconds * 1e6) / Math.max(1, report.delivered)),
      deliveriesPerCpuSecond: Math.round(report.delivered / Math.max(0.01, cpuSeconds)),
    };
  } finally {
    await pub.quit();
    await clients.stop();
  }
}

/** Heap (after a full collection) and RSS growth of a fresh API process per idle subscription. */
async function measureIdleMemory(api: { url: string; pid: number; inspector: string }, auth: string, subscribers: number, workloadIds: string[]) {
  await sleep(3000);
  const heapBefore = await heapUsedAfterGc(api.inspector);
  const before = procStat(api.pid).rssKb;
  const clients = startClients();
  try {
    const idle = clients.expect('idle');
    clients.send({
      type: 'open-api',
      url: api.url,
      auth,
      perConnection: PER_CONNECTION,
      subscriptions: Array.from({ length: subscribers }, (_, i) => ({ workloadId: workloadIds[i % workloadIds.length]!, after: 0 })),
    });
    await idle;
    // Reads the streams shared while replaying are kept a few seconds (ADR 0033): not per-subscription state.
    await sleep(7000);
    const heapAfter = await heapUsedAfterGc(api.inspector);
    const after = procStat(api.pid).rssKb;
    return {
      subscribers,
      heapBytesPerSubscription: Math.round((heapAfter - heapBefore) / subscribers),
      rssBytesPerSubscription: Math.round(((after - before) * 1024) / subscribers),
      heapBeforeMb: Math.round(heapBefore / 2 ** 20),
      heapAfterMb: Math.round(heapAfter / 2 ** 20),
    };
  } finally {
    await clients.stop();
  }
}

const loadAtStart = os.loadavg()[0]!;
const dbName = `workload_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${dbName}`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;
const levels: Level[] = [];
let saturation: Level | undefined;
const saturations: Level[] = [];
let idleMemory: Awaited<ReturnType<typeof measureIdleMemory>> | undefined;
const api = await startApi(dbUrl.toString());
const apiRef = { url: api.url, pid: api.child.pid!, inspector: api.inspector };
events = new pg.Client({ connectionString: dbUrl.toString() });
await events.connect();
announcer = new Redis(redisUrl);
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
const workloadIds: string[] = [];
let baseline: { cpuPercent: number } | undefined;
try {
  const auth = `Bearer ${await token()}`;
  const createOne = async (n: number) => {
    const created = await gql(api.url, auth, `mutation { createWorkload(input: { name: "bench-${n}", artifact: { name: "bench", spec: { containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: "nginx:1.25", primary: true, port: 8080 }] }] } } }) { __typename ... on CreateWorkloadPayload { workload { id } } } }`);
    if (!created.createWorkload.workload) throw new Error(`createWorkload failed: ${JSON.stringify(created.createWorkload)}`);
    return created.createWorkload.workload.id as string;
  };
  // Several at a time: 5 000 workloads one by one would take most of the run.
  const ensureWorkloads = async (count: number) => {
    while (workloadIds.length < count) {
      const batch = Array.from({ length: Math.min(16, count - workloadIds.length) }, (_, i) => workloadIds.length + i);
      workloadIds.push(...(await Promise.all(batch.map(createOne))));
    }
  };
  await ensureWorkloads(Math.max(...COUNTS.flatMap((n) => PER_WORKLOAD.map((p) => Math.round(n / p)))));
  // The controller brings every workload up before anything is measured: thousands of workloads
  // coming up would otherwise take the API's CPU through the whole run.
  await waitUntilRunning(workloadIds.length);
  // Warm-up (not recorded): JIT, connection pools.
  await sleep(3000);
  await measureApi(apiRef, auth, COUNTS[0]!, PER_WORKLOAD[0]!, workloadIds, RATE, Math.min(SECONDS, 3));
  // The API's CPU for the same events with no subscriber: what each event costs it anyway (the
  // feed, the controller reading the announcement). Per-delivery CPU is what comes on top of this.
  baseline = await measureBaseline(apiRef, workloadIds.slice(0, Math.max(1, Math.round(COUNTS[0]! / PER_WORKLOAD[0]!))), RATE, SECONDS);
  process.stdout.write(`${JSON.stringify({ baseline })}\n`);
  for (const perWorkload of PER_WORKLOAD) {
    for (const n of COUNTS) {
      const floor = await measureFloor(n, perWorkload, RATE, SECONDS);
      const profileFile = PROFILE_DIR ? path.join(PROFILE_DIR, `api-${n}-per-${perWorkload}.cpuprofile`) : undefined;
      const measured = await measureApi(apiRef, auth, n, perWorkload, workloadIds, RATE, SECONDS, profileFile);
      levels.push(floor, measured);
      process.stdout.write(`${JSON.stringify(floor)}\n${JSON.stringify(measured)}\n`);
    }
  }
  // Saturation: events faster than the API fans them out; deliveries per second of its CPU time.
  // Measured with each number of subscribers per workload: the executions an event costs are
  // shared by its group, the frames are not.
  for (const perWorkload of PER_WORKLOAD) {
    const measured = await measureApi(apiRef, auth, COUNTS[0]!, perWorkload, workloadIds, SATURATION_RATE, SATURATION_SECONDS, PROFILE_DIR ? path.join(PROFILE_DIR, `api-saturation-per-${perWorkload}.cpuprofile`) : undefined);
    saturations.push(measured);
    process.stdout.write(`${JSON.stringify({ saturation: measured })}\n`);
  }
  saturation = saturations.reduce<Level | undefined>((best, l) => (!best || l.deliveriesPerCpuSecond > best.deliveriesPerCpuSecond ? l : best), undefined);
} finally {
  await events.end();
  await announcer.quit();
  api.child.kill('SIGTERM');
  await new Promise((r) => api.child.once('exit', r));
}
if (MEASURE_MEMORY) {
  // Memory per idle subscription: a fresh API process on the same database, so that no garbage of
  // the runs above inflates it, with the largest number of subscriptions.
  const fresh = await startApi(dbUrl.toString());
  try {
    const largest = COUNTS[COUNTS.length - 1]!;
    idleMemory = await measureIdleMemory({ url: fresh.url, pid: fresh.child.pid!, inspector: fresh.inspector }, `Bearer ${await token()}`, largest, workloadIds.slice(0, Math.max(1, Math.round(largest / PER_WORKLOAD[0]!))));
    process.stdout.write(`${JSON.stringify(idleMemory)}\n`);
  } finally {
    fresh.child.kill('SIGTERM');
    await new Promise((r) => fresh.child.once('exit', r));
  }
}
await admin.query(`drop database if exists ${dbName} with (force)`);
await admin.end();

// Goals: each is met, not met, or not measured in this run (null).
const level = (n: number, perWorkload: number) => levels.find((l) => l.path === 'api' && l.subscribers === n && l.perWorkload === perWorkload);
const at10k = level(GOALS.at10k.subscribers, GOALS.at10k.perWorkload);
const at50k = level(GOALS.at50k.subscribers, GOALS.at50k.perWorkload);
const goals = [
  {
    goal: `${GOALS.at10k.subscribers} subscribers at ${RATE} events/s: p99 < ${GOALS.at10k.p99Ms} ms and API CPU < ${GOALS.at10k.apiCpuPercent}% of a core`,
    measured: at10k ? { p99: at10k.p99, apiCpuPercent: at10k.cpuPercent } : null,
    met: at10k && RATE >= 100 ? at10k.p99 < GOALS.at10k.p99Ms && at10k.cpuPercent < GOALS.at10k.apiCpuPercent && at10k.delivered === at10k.expected : null,
  },
  {
    goal: `${GOALS.at50k.subscribers} subscribers: p99 < ${GOALS.at50k.p99Ms} ms, every event delivered, idle heap < ${GOALS.at50k.heapBytesPerIdleSubscription} bytes per subscription`,
    measured: at50k ? { p99: at50k.p99, delivered: at50k.delivered, expected: at50k.expected, heapBytesPerIdleSubscription: idleMemory?.subscribers === GOALS.at50k.subscribers ? idleMemory.heapBytesPerSubscription : null } : null,
    met:
      at50k && idleMemory?.subscribers === GOALS.at50k.subscribers
        ? at50k.p99 < GOALS.at50k.p99Ms && at50k.delivered === at50k.expected && idleMemory.heapBytesPerSubscription < GOALS.at50k.heapBytesPerIdleSubscription
        : null,
  },
  {
    goal: `at least ${GOALS.deliveriesPerSecondPerCore} deliveries per second per core at saturation`,
    measured: saturation ? { perWorkload: saturation.perWorkload, deliveriesPerCpuSecond: saturation.deliveriesPerCpuSecond, cpuPercent: saturation.cpuPercent } : null,
    met: saturation ? saturation.deliveriesPerCpuSecond >= GOALS.deliveriesPerSecondPerCore : null,
  },
];
// On a loaded machine the figures say how the code behaves, not whether the goals are met.
// (the house rule: a 1-minute load average above 1.5 at the start).
const loaded = loadAtStart > 1.5;
const met = loaded ? null : goals.every((g) => g.met === true) ? true : goals.some((g) => g.met === false) ? false : null;

const rows = levels
  .filter((l) => l.path === 'api')
  .map((a) => {
    const f = levels.find((l) => l.path === 'floor' && l.subscribers === a.subscribers && l.perWorkload === a.perWorkload)!;
    return `| ${a.subscribers} | ${a.perWorkload} | ${a.delivered}/${a.expected} | ${a.p50} | ${a.p99} | ${f.p50} | ${f.p99} | ${a.cpuPercent}% | ${a.cpuMicrosPerDelivery} | ${f.cpuMicrosPerDelivery} |`;
  });
const machine = { date: new Date().toISOString().slice(0, 10), cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverageAtStart: Number(loadAtStart.toFixed(1)), loadAverageAtEnd: Number(os.loadavg()[0]!.toFixed(1)) };
const md = `# Subscription fan-out: results

Run on ${machine.date}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; load average ${machine.loadAverageAtStart} at the
start, ${machine.loadAverageAtEnd} at the end${loaded ? ` (**a loaded machine**: the figures below are not the product's; the goals must be measured on an idle one)` : ''}.
${RATE} events/s in total for ${SECONDS} s per level, round-robin over the workloads, each appended
to the event log and announced on Redis as the API does after a commit; \`workloadEvents\` over
graphql-ws, ${PER_CONNECTION} subscriptions per connection, opened by a client process of their
own; the API process (compiled JavaScript) uses PostgreSQL and Redis. The floor is a bare Redis
channel whose messages reach as many listeners in the client process, in the same run. Latency is
from the event's time (set in the database) to its arrival at the client, in ms. API CPU is the
API process's over the publishing phase and the drain, in % of one core. CPU per delivery (µs) is
the API's CPU less what the same events cost it with no subscriber (${baseline?.cpuPercent}% of a core at ${RATE}
events/s), divided by the deliveries (floor: the client process's CPU per delivery). The events are
announced as changes that need no controller pass (\`reconcile: false\`, like a rename, sharing, or a
status the controller recorded itself), so the API's CPU is its fan-out's; \`bench/controller\`
measures the passes.

| subscribers | per workload | delivered | p50 | p99 | floor p50 | floor p99 | API CPU | µs CPU per delivery | floor µs per delivery |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Saturation (${SATURATION_RATE} events/s offered for ${SATURATION_SECONDS} s; all of the API's CPU counted, no baseline subtracted):
${saturations.map((l) => `- ${l.subscribers} subscribers, ${l.perWorkload} per workload: ${l.delivered}/${l.expected} delivered, API CPU ${l.cpuPercent}% of a core, **${l.deliveriesPerCpuSecond} deliveries per second of API CPU** (${l.cpuMicrosPerDelivery} µs each), p99 ${l.p99} ms.${l.cpuPercent < 90 ? ' The API did not reach a whole core: what saturated was the machine, not the API.' : ''}`).join('\n') || 'not measured.'}

${idleMemory ? `Memory per idle subscription (a fresh API process, ${idleMemory.subscribers} \`workloadEvents\` subscriptions, each past its first payload): **${idleMemory.heapBytesPerSubscription} bytes of live heap** (after a full garbage collection: ${idleMemory.heapBeforeMb} MB before, ${idleMemory.heapAfterMb} MB after), ${idleMemory.rssBytesPerSubscription} bytes of RSS growth.` : 'Memory per idle subscription: not measured in this run.'}

Goals (met / not met / not measured in this run)${loaded ? '; measured on a loaded machine, so `met` in results.json is null whatever the rows say' : ''}:
${goals.map((g) => `- ${g.goal}: ${g.met === null ? 'not measured' : g.met ? 'met' : 'not met'}${g.measured ? ` (${JSON.stringify(g.measured)})` : ''}`).join('\n')}

Reproduce: \`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm run bench:subscriptions\`
(this run: \`${process.argv.slice(2).join(' ') || 'defaults'}\`).

How to read these figures, the profiles before and after the groups, and earlier runs: \`notes.md\` (kept by hand).
`;
const out = args.get('out') ?? import.meta.dirname;
writeFileSync(path.join(out, 'results.md'), md);
writeFileSync(path.join(out, 'results.json'), `${JSON.stringify({ machine, settings: { counts: COUNTS, perWorkload: PER_WORKLOAD, rate: RATE, seconds: SECONDS, saturationRate: SATURATION_RATE, saturationSeconds: SATURATION_SECONDS }, baseline, levels, saturation: saturations, idleMemory, goals, loaded, met }, null, 2)}\n`);
process.stdout.write(md);
