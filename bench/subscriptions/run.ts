/**
 * Subscription fan-out benchmark. One API process (PostgreSQL + Redis, as in production) serves
 * N graphql-ws `workloadEvents` subscriptions (100 per connection, the default limit), spread
 * over N / per-workload workloads (default 10 subscribers per workload, like browser tabs
 * watching a workload), while events are published at a steady total rate through the API,
 * round-robin over the workloads. Measured side by side in the same run: the floor, a bare
 * Redis pub/sub channel delivering each message to the same listeners in-process.
 *
 *   npm run bench:subscriptions -- [--counts 1000,5000,10000] [--rate 100] [--seconds 10] [--per-workload 10]
 *
 * Needs DATABASE_URL (a server the user may create databases on) and REDIS_URL. Writes
 * bench/subscriptions/results.md and results.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import WebSocket from 'ws';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const COUNTS = (args.get('counts') ?? '1000,5000,10000').split(',').map(Number);
const RATE = Number(args.get('rate') ?? 100);
const SECONDS = Number(args.get('seconds') ?? 10);
const PER_CONNECTION = 100;
const PER_WORKLOAD = Number(args.get('per-workload') ?? 10);
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const root = path.resolve(import.meta.dirname, '../..');

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

/** The smallest RSS over a few samples: garbage not yet collected inflates single readings. */
async function settledRssKb(pid: number): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    min = Math.min(min, procStat(pid).rssKb);
    await sleep(300);
  }
  return min;
}

const compiledMain = path.join(root, 'dist/src/main.js');
if (!existsSync(compiledMain)) throw new Error('run "npm run build" first (npm run bench:subscriptions does)');

/**
 * Starts the API as production runs it: the compiled JavaScript (`npm run build`), not through
 * tsx. With `inspect`, its inspector listens on a free loopback port so that the benchmark can
 * collect its garbage and read its heap (see heapUsedAfterGc).
 */
async function startApi(databaseUrl: string, inspect = false): Promise<{ child: ChildProcess; url: string; inspector?: string }> {
  const child = spawn(process.execPath, [...(inspect ? ['--inspect=127.0.0.1:0'] : []), compiledMain], {
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
      // The bench creates its thousand workloads as one caller in seconds.
      GRAPHQL_MUTATION_RATE_POINTS: '1000000',
      // The simulated cluster brings the bench's workloads up fast, then stays quiet.
      SIMULATED_SPEED: '100',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"([^"]+)\/graphql"/.exec(out);
      const inspector = /Debugger listening on (ws:\/\/\S+)/.exec(out)?.[1];
      if (match && (!inspect || inspector)) resolve({ child, url: match[1]!, ...(inspector && { inspector }) });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => reject(new Error(`API exited:\n${out}`)));
  });
}

async function token(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench').setIssuedAt(now).setExpirationTime(now + 3600).sign(new TextEncoder().encode(SECRET));
}

async function gql(url: string, auth: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

interface Result {
  subscribers: number;
  path: 'api' | 'floor';
  delivered: number;
  expected: number;
  p50: number;
  p99: number;
  bytesPerSubscriber: number;
  cpuPercent: number;
}

/** Our path: N subscriptions over graphql-ws on one API process. */
const CHANNEL_PREFIX = `bench-${process.pid}:`;
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
let events: pg.Client;
let announcer: Redis;

async function measureApi(url: string, auth: string, pid: number, subscribers: number, workloadIds: string[]): Promise<Result> {
  const baselineRss = await settledRssKb(pid);
  const latencies: number[] = [];
  let delivered = 0;
  let measuring = false;
  const clients: Client[] = [];
  const ready: Promise<void>[] = [];
  const starts = new Map<string, number>();
  for (const id of workloadIds) {
    starts.set(id, (await gql(url, auth, 'query($id: ID!) { workload(id: $id) { ... on Workload { events(last: 1) { edges { node { sequence } } } } } }', { id })).workload.events.edges[0].node.sequence as number);
  }
  for (let c = 0; c < Math.ceil(subscribers / PER_CONNECTION); c++) {
    const client = createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: auth }, lazy: false, retryAttempts: 0 });
    clients.push(client);
    for (let s = 0; s < PER_CONNECTION && c * PER_CONNECTION + s < subscribers; s++) {
      const workloadId = workloadIds[(c * PER_CONNECTION + s) % workloadIds.length]!;
      // Subscribing from the last event replays it at once: the subscription is registered.
      ready.push(
        new Promise<void>((resolve, reject) => {
          let first = true;
          client.subscribe<{ workloadEvents: { sequence: number; occurredAt: string } }>(
            { query: 'subscription($id: ID!, $after: Int) { workloadEvents(workloadId: $id, after: $after) { sequence occurredAt } }', variables: { id: workloadId, after: starts.get(workloadId)! - 1 } },
            {
              next: (msg) => {
                if (first) {
                  first = false;
                  resolve();
                  return;
                }
                if (!measuring || !msg.data) return;
                delivered += 1;
                latencies.push(Date.now() - new Date(msg.data.workloadEvents.occurredAt).getTime());
              },
              error: reject,
              complete: () => {},
            },
          );
        }),
      );
    }
  }
  await Promise.all(ready);
  const idleRss = await settledRssKb(pid);
  const idle = procStat(pid);
  measuring = true;
  // Events are appended to the log and announced as the API itself does (commit, then publish),
  // so that the figures are those of the fan-out, not of a mutation's own work.
  let turn = 0;
  const published = await publish(async () => {
    const id = rawId(workloadIds[turn++ % workloadIds.length]!);
    const rows = await events.query<{ sequence: number }>(
      `insert into workload_event (workload_id, sequence, type, message, occurred_at) values ($1, 0, 'benchmark', 'tick', now()) returning sequence`,
      [id],
    );
    await announcer.publish(`${CHANNEL_PREFIX}workload:changed`, JSON.stringify({ workloadId: id, sequence: rows.rows[0]!.sequence }));
  });
  const expected = published * (subscribers / workloadIds.length);
  const deadline = Date.now() + 30_000;
  while (delivered < expected && Date.now() < deadline) await sleep(50);
  const after = procStat(pid);
  measuring = false;
  await Promise.all(clients.map((c) => c.dispose()));
  latencies.sort((a, b) => a - b);
  return {
    subscribers,
    path: 'api',
    delivered,
    expected,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bytesPerSubscriber: Math.round(((idleRss - baselineRss) * 1024) / subscribers),
    cpuPercent: Math.round(((after.cpuTicks - idle.cpuTicks) / TICKS_PER_SECOND / (SECONDS + (Date.now() - deadline + 30_000) / 1000)) * 100),
  };
}

/**
 * The API process's live JavaScript heap after a full garbage collection, through its inspector
 * (Chrome DevTools Protocol: HeapProfiler.collectGarbage, then Runtime.getHeapUsage).
 */
async function heapUsedAfterGc(inspector: string): Promise<number> {
  const socket = new WebSocket(inspector);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  let nextId = 0;
  const call = (method: string) =>
    new Promise<Record<string, number>>((resolve, reject) => {
      const id = ++nextId;
      const onMessage = (data: WebSocket.RawData) => {
        const message = JSON.parse(String(data)) as { id?: number; result?: Record<string, number>; error?: unknown };
        if (message.id !== id) return;
        socket.off('message', onMessage);
        if (message.error) reject(new Error(JSON.stringify(message.error)));
        else resolve(message.result ?? {});
      };
      socket.on('message', onMessage);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    // Twice: the first collection can leave garbage that only finalizers released.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    return (await call('Runtime.getHeapUsage')).usedSize!;
  } finally {
    socket.close();
  }
}

/** Heap (after a full collection) and RSS growth of an API process per idle subscription. */
async function measureIdleMemory(url: string, inspector: string, auth: string, pid: number, subscribers: number, workloadIds: string[]) {
  await sleep(3000);
  const heapBefore = await heapUsedAfterGc(inspector);
  const before = await settledRssKb(pid);
  let lastMessageAt = Date.now();
  const clients: Client[] = [];
  const ready: Promise<void>[] = [];
  for (let c = 0; c < Math.ceil(subscribers / PER_CONNECTION); c++) {
    const client = createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: auth }, lazy: false, retryAttempts: 0 });
    clients.push(client);
    for (let s = 0; s < PER_CONNECTION && c * PER_CONNECTION + s < subscribers; s++) {
      const id = workloadIds[(c * PER_CONNECTION + s) % workloadIds.length]!;
      ready.push(
        new Promise<void>((resolve, reject) => {
          client.subscribe(
            { query: 'subscription($id: ID!) { workloadEvents(workloadId: $id, after: 0) { sequence } }', variables: { id } },
            {
              next: () => {
                lastMessageAt = Date.now();
                resolve();
              },
              error: reject,
              complete: () => {},
            },
          );
        }),
      );
    }
  }
  await Promise.all(ready);
  // Idle means every replay has finished: no message for two seconds.
  while (Date.now() - lastMessageAt < 2000) await sleep(200);
  const heapAfter = await heapUsedAfterGc(inspector);
  const after = await settledRssKb(pid);
  await Promise.all(clients.map((c) => c.dispose()));
  return {
    subscribers,
    heapBytesPerSubscription: Math.round((heapAfter - heapBefore) / subscribers),
    rssBytesPerSubscription: Math.round(((after - before) * 1024) / subscribers),
    heapBeforeMb: Math.round(heapBefore / 2 ** 20),
    heapAfterMb: Math.round(heapAfter / 2 ** 20),
    rssBeforeMb: Math.round(before / 1024),
    rssAfterMb: Math.round(after / 1024),
  };
}

/** The floor: a bare Redis channel fanned out to N in-process listeners. */
async function measureFloor(subscribers: number, workloads: number): Promise<Result> {
  const sub = new Redis(redisUrl);
  const pub = new Redis(redisUrl);
  const channel = `bench-floor-${process.pid}`;
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const latencies: number[] = [];
  let delivered = 0;
  const listeners = new Map<number, ((sentAt: number) => void)[]>();
  for (let i = 0; i < subscribers; i++) {
    const list = listeners.get(i % workloads) ?? [];
    list.push((sentAt) => {
      delivered += 1;
      latencies.push(Date.now() - sentAt);
    });
    listeners.set(i % workloads, list);
  }
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  await sub.subscribe(channel);
  sub.on('message', (_c, message) => {
    const { sentAt, workload } = JSON.parse(message) as { sentAt: number; workload: number };
    for (const l of listeners.get(workload) ?? []) l(sentAt);
  });
  const cpuBefore = process.cpuUsage();
  const started = Date.now();
  let turn = 0;
  const published = await publish(async () => {
    await pub.publish(channel, JSON.stringify({ workload: turn++ % workloads, sequence: 1, sentAt: Date.now() }));
  });
  const expectedFloor = published * (subscribers / workloads);
  const deadline = Date.now() + 10_000;
  while (delivered < expectedFloor && Date.now() < deadline) await sleep(20);
  const cpu = process.cpuUsage(cpuBefore);
  await sub.quit();
  await pub.quit();
  latencies.sort((a, b) => a - b);
  return {
    subscribers,
    path: 'floor',
    delivered,
    expected: expectedFloor,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    bytesPerSubscriber: Math.round((heapAfter - heapBefore) / subscribers),
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (Date.now() - started)) * 100),
  };
}

/** Publishes at RATE per second for SECONDS; returns how many were published. */
async function publish(one: () => Promise<unknown>): Promise<number> {
  const total = RATE * SECONDS;
  const started = Date.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    inflight.push(one());
  }
  await Promise.all(inflight);
  return total;
}

const dbName = `workload_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${dbName}`);
const dbUrl = new URL(adminUrl);
dbUrl.pathname = `/${dbName}`;
let idleMemory: Awaited<ReturnType<typeof measureIdleMemory>> | undefined;
const { child, url } = await startApi(dbUrl.toString());
events = new pg.Client({ connectionString: dbUrl.toString() });
await events.connect();
announcer = new Redis(redisUrl);
const results: Result[] = [];
try {
  const auth = `Bearer ${await token()}`;
  const workloadIds: string[] = [];
  const ensureWorkloads = async (count: number) => {
    while (workloadIds.length < count) {
      const created = await gql(url, auth, `mutation { createWorkload(input: { name: "bench-${workloadIds.length}", artifact: { name: "bench", spec: { containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: "nginx:1.25", primary: true, port: 8080 }] }] } } }) { ... on CreateWorkloadPayload { workload { id } } } }`);
      workloadIds.push(created.createWorkload.workload.id);
    }
  };
  // Warm-up (not recorded): JIT, connection pools, and the controller's first passes.
  await ensureWorkloads(Math.max(1, Math.round(COUNTS[0]! / PER_WORKLOAD)));
  await sleep(3000);
  await measureApi(url, auth, child.pid!, COUNTS[0]!, workloadIds.slice());
  for (const n of COUNTS) {
    const workloads = Math.max(1, Math.round(n / PER_WORKLOAD));
    await ensureWorkloads(workloads);
    await sleep(3000);
    const floor = await measureFloor(n, workloads);
    const api = await measureApi(url, auth, child.pid!, n, workloadIds.slice(0, workloads));
    results.push(floor, api);
    process.stdout.write(`${JSON.stringify(floor)}\n${JSON.stringify(api)}\n`);
  }
  // Memory per idle subscription: a fresh API process on the same database, so that no garbage of
  // the runs above inflates it, with the largest number of subscriptions.
  const fresh = await startApi(dbUrl.toString(), true);
  try {
    const largest = COUNTS[COUNTS.length - 1]!;
    idleMemory = await measureIdleMemory(fresh.url, fresh.inspector!, auth, fresh.child.pid!, largest, workloadIds.slice(0, Math.max(1, Math.round(largest / PER_WORKLOAD))));
    process.stdout.write(`${JSON.stringify(idleMemory)}\n`);
  } finally {
    fresh.child.kill('SIGTERM');
    await new Promise((r) => fresh.child.once('exit', r));
  }
} finally {
  await events.end();
  await announcer.quit();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
}

const rows = COUNTS.map((n) => {
  const f = results.find((r) => r.subscribers === n && r.path === 'floor')!;
  const a = results.find((r) => r.subscribers === n && r.path === 'api')!;
  return `| ${n} | ${a.delivered}/${a.expected} | ${a.p50} | ${a.p99} | ${f.p50} | ${f.p99} | ${(a.p99 / Math.max(1, f.p99)).toFixed(1)}x | ${a.cpuPercent}% | ${f.cpuPercent}% |`;
});
const md = `# Subscription fan-out: results

Run on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.
${RATE} events/s in total for ${SECONDS} s per level, round-robin over the workloads, each appended
to the event log and announced on Redis as the API does after a commit (so the figures are the
fan-out's, not a mutation's);
\`workloadEvents\` over graphql-ws, ${PER_WORKLOAD} subscribers per workload,
${PER_CONNECTION} subscriptions per connection; the API process uses PostgreSQL and Redis. The
floor is a bare Redis pub/sub channel whose messages reach the same number of in-process
listeners per event, in the same run. Load average at the start: ${os.loadavg()[0]!.toFixed(1)}. The subscribing clients run in the benchmark process on the same 2 cores as the
API, so the API's figures include that contention. Latency is from the event's \`occurredAt\`
(set by the API before its commit) to its arrival at the client, in ms. Memory per idle
subscription is measured apart, below; a warm-up level runs first and is not recorded. CPU is the API process's (floor: the benchmark process's) over the publishing
phase, in % of one core.

| subscribers | delivered | p50 | p99 | floor p50 | floor p99 | p99 vs floor | API CPU | floor CPU |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Memory per idle subscription (a fresh API process, ${idleMemory?.subscribers} \`workloadEvents\`
subscriptions, each past its first payload): **${idleMemory?.heapBytesPerSubscription} bytes of live heap** (after a
full garbage collection: ${idleMemory?.heapBeforeMb} MB before, ${idleMemory?.heapAfterMb} MB after), and
${idleMemory?.rssBytesPerSubscription} bytes of RSS growth (${idleMemory?.rssBeforeMb} MB before, ${idleMemory?.rssAfterMb} MB after;
RSS also holds heap the process has not returned and the sockets' buffers). Floor:
${results.find((r) => r.path === 'floor' && r.subscribers === COUNTS[COUNTS.length - 1])?.bytesPerSubscriber} bytes of heap per in-process listener.

Reproduce: \`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm run bench:subscriptions\`.
`;
writeFileSync(path.join(import.meta.dirname, 'results.md'), md);
writeFileSync(path.join(import.meta.dirname, 'results.json'), `${JSON.stringify({ results, idleMemory }, null, 2)}\n`);
process.stdout.write(md);
