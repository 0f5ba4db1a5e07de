/**
 * Controller throughput benchmark: N concurrent `createWorkload` calls over several callers,
 * against an API process of its own (GraphQL over HTTP, as a real client calls it), on the
 * simulated runtime at SIMULATED_SPEED=10.
 *
 * For each database (PostgreSQL when DATABASE_URL is set, and the embedded PGlite) and each N:
 *   floor:    one workload alone, create -> RUNNING (the simulated stage time plus one pass),
 *             measured in the same API process just before the burst;
 *   burst:    N creates at once, spread over CALLERS subjects; create latency p50/p99;
 *   callers:  fetch (undici) or node:http (`--client`), each create on a new connection (or `--pool`);
 *   transport floor: the same N requests, from the same client, to a bare Node.js HTTP server (its
 *             own process, the API's listen backlog) that answers each at once: what N requests
 *             on new connections cost before any work, the bound below create latency; and the
 *             statement and GraphQL floors (`createFloor`), the GraphQL floor with the same read
 *             loop through its burst;
 *   running:  burst start -> every workload RUNNING (polled every 50 ms with one count query of a
 *             platform admin's, who sees every caller's workloads);
 *   reads:    a `workloads(first: 20)` read loop during the burst, latency p50/p99/max, from a
 *             client of its own that is already connected (one keep-alive connection, opened by a
 *             read before the burst: a dashboard's), in a thread of its own (`--reader`), and the
 *             slowest read with when it was sent;
 *   cold read: one read on a new connection, sent as the burst starts: it waits for the server to
 *             accept its connection, which a busy Node.js server does between the burst's
 *             requests (see profile.md), so it is reported apart;
 *   loop:     the API's event-loop delay p99 (prom-client's `nodejs_eventloop_lag_p99_seconds`,
 *             from `perf_hooks.monitorEventLoopDelay`, reset at every scrape of /metrics, scraped
 *             every 500 ms during the burst): the worst window's p99, and the median window's.
 *             The histogram records the time between the monitor's timer callbacks, which fire
 *             every 10 ms (prom-client's default precision): an idle process reads 10-11 ms. The
 *             delay is what exceeds that interval, so the 10 ms are subtracted
 *             (prometheus/client_js issue 370); beside it, how long the loop's thread waited
 *             for a CPU in that window and over the burst (its scheduler statistics): the floor;
 *   creates' CPU: over the creates' window (the first create sent to the last answered), the CPU
 *             of the API process (all its threads; the controller's passes meanwhile too), of
 *             PostgreSQL (all its processes) and of the callers (this process), per create, and
 *             the machine's busy share: the same for each floor's burst. A burst that keeps the
 *             cores busy cannot end sooner than its CPU over the cores, so the last creates'
 *             latency follows N x (CPU per create) / (cores x busy share);
 *   functions: PostgreSQL's time in each PL/pgSQL function of the API's database (track_functions,
 *             set on the bench's database): the create statement, its triggers, the controller's
 *             rounds, per create;
 *   cpu:      the API process's CPU seconds over the burst, per workload brought up;
 *   rss:      the API process's peak RSS (VmHWM).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/controller/run.ts \
 *     [--n 200,1000] [--callers 4] [--db postgres,pglite] [--quotas unlimited|default] [--pool K] [--reader thread|inline] [--client fetch|http] [--cpu-prof DIR]
 *
 * Writes bench/controller/results.md and results.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import pg from 'pg';
import { Agent as UndiciAgent, fetch as clientFetch } from 'undici';
import { processTicks, runSql, scratchDatabase } from '../support.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const SIZES = (args.get('n') ?? '200,1000').split(',').map(Number);
const CALLERS = Number(args.get('callers') ?? 4);
const adminUrl = process.env.DATABASE_URL;
const DATABASES = (args.get('db') ?? (adminUrl ? 'postgres,pglite' : 'pglite')).split(',') as ('postgres' | 'pglite')[];
const CPU_PROF = args.get('cpu-prof');
/** `--turns DIR`: the API notes its long event-loop turns (./turns.mjs) into DIR/<db>-<n>.json, summarised per run (a diagnosis: its timer adds load). */
const TURNS = args.get('turns');
/** `--quotas default`: the API's default quotas (each create then reads its owner's and organization's usage under their locks); else none. */
const QUOTAS = args.get('quotas') === 'unlimited' ? 'unlimited' : 'default';
/**
 * `--pool K`: each caller sends its creates over its own K keep-alive connections (as an ingress or
 * a client's connection pool would); else each create opens a connection of its own.
 */
const POOL = args.has('pool') ? Number(args.get('pool')) : undefined;
/**
 * `--client fetch` (default): the callers send with `fetch` (undici), as the goals were first
 * measured; `--client http`: with node:http, whose CPU a request is a third of fetch's (0.23-0.34
 * against 0.5-1.1 ms, measured side by side on the transport floor), so the requests arrive
 * sooner after one another and the callers take less of the cores the server shares
 * (bench/controller/profile.md, fifteenth session).
 */
const CLIENT = args.get('client') === 'http' ? 'http' : 'fetch';
/** Keep-alive connections of a client. */
type Pool = HttpAgent | UndiciAgent;
const newPool = (connections: number): Pool => (CLIENT === 'http' ? new HttpAgent({ keepAlive: true, maxSockets: connections }) : new UndiciAgent({ connections }));
const closePool = async (pool: Pool) => (pool instanceof HttpAgent ? pool.destroy() : await pool.close());
/** Each caller's connections for the burst's creates (`--pool`), for the floors and the API alike; none without `--pool`. */
function callerPools(): Pool[] | undefined {
  return POOL ? Array.from({ length: CALLERS }, () => newPool(POOL)) : undefined;
}
/**
 * `--reader thread` (default): the read loop runs in a thread of its own, a dashboard's client apart
 * from the burst's callers (whose 1,000 requests would otherwise delay a read before it is sent
 * and after it is answered); `--reader inline`: on the bench's main thread, beside them.
 */
const READER = args.get('reader') === 'inline' ? 'inline' : 'thread';
const SPEED = 10;
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const root = path.resolve(import.meta.dirname, '../..');
const COMPILED_MAIN = path.join(root, 'dist/src/main.js');
if (!existsSync(COMPILED_MAIN)) throw new Error('run "npm run build" first: the bench runs the compiled API');
const GOALS = { runningWithinMs: 10_000, createP99Ms: 1000, readP99Ms: 100, loopP99Ms: 20 };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const summary = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
};

interface Api {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function startApi(env: Record<string, string>, label: string): Promise<Api> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // The compiled API, as production runs it (`npm install` builds dist/; `npm run build` too).
  // With the environment and the Node flags `npm start` runs it with.
  const start = /^((?:[A-Z_]+=\S+ )*)node ((?:--\S+ )*)/.exec(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.start)!;
  const startEnv = Object.fromEntries(start[1]!.trim().split(' ').filter(Boolean).map((a) => a.split('=') as [string, string]));
  const nodeArgs = start[2]!.trim().split(' ').filter(Boolean);
  if (CPU_PROF) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF, label));
  if (TURNS) {
    nodeArgs.push(`--import=${path.join(import.meta.dirname, 'turns.mjs')}`);
    env = { ...env, TURNS_OUT: path.resolve(TURNS, `${label}.json`) };
  }
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, COMPILED_MAIN], {
    cwd: root,
    env: {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? os.tmpdir(),
      ...startEnv,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      SIMULATED_SPEED: String(SPEED),
      // The default quotas, as a new installation has them (they hold 1,000 over 4 callers of one
      // organization; every create is checked against its owner's and organization's usage, ADR
      // 0013); `--quotas unlimited` lifts them, for a side-by-side run.
      ...(QUOTAS === 'unlimited' &&
        Object.fromEntries(['OWNER', 'ORGANIZATION'].flatMap((s) => ['WORKLOADS', 'REPLICAS', 'CPU', 'MEMORY'].map((r) => [`QUOTA_${s}_${r}`, 'unlimited'])))),
      GRAPHQL_MUTATION_RATE_POINTS: '1000000',
      GRAPHQL_QUERY_COST_RATE_POINTS: '100000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`API exited ${child.exitCode}\n${out}`);
    {
      const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ready) {
        return {
          url,
          pid: child.pid!,
          stop: async () => {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
          },
        };
      }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`API not ready within 120 s\n${out}`);
    }
    await sleep(100);
  }
}

/** User + system CPU seconds and peak RSS of a process, from /proc. */
function processStats(pid: number): { cpuSeconds: number; peakRssMb: number; rssMb: number } {
  const { ticks } = processTicks(pid);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { cpuSeconds: ticks / 100, peakRssMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

/**
 * CPU time so far (ms, from /proc): the machine's, busy and idle, over all its cores (/proc/stat);
 * `server`'s process, all its threads; every PostgreSQL process (the server's backends and its
 * own workers; the databases of the other benches are idle); and this process, the burst's
 * callers and the read loop's thread. Two of them bracket a burst: where its CPU went, and how
 * busy the machine was (a burst that keeps every core busy cannot end sooner than its CPU time
 * over the cores, whatever the order of its work).
 */
function cpuSnapshot(server: number): { busyMs: number; idleMs: number; serverMs: number; postgresMs: number; callersMs: number } {
  const tickMs = 1000 / 100; // USER_HZ
  const machine = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const idle = machine[3]! + machine[4]!;
  const busy = machine.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  const ticksOf = (pid: string | number): { comm: string; ticks: number } | undefined => {
    try {
      return processTicks(pid);
    } catch {
      return undefined; // exited meanwhile
    }
  };
  let postgres = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const p = ticksOf(pid);
    if (p?.comm === 'postgres') postgres += p.ticks;
  }
  const callers = process.cpuUsage();
  return { busyMs: busy * tickMs, idleMs: idle * tickMs, serverMs: (ticksOf(server)?.ticks ?? NaN) * tickMs, postgresMs: postgres * tickMs, callersMs: (callers.user + callers.system) / 1000 };
}

/** Where a burst's CPU went (ms per create) and how busy the machine was meanwhile (busy / (busy + idle)). */
type BurstCpu = { server: number; postgres: number; callers: number; busyShare: number };

function burstCpu(before: ReturnType<typeof cpuSnapshot>, after: ReturnType<typeof cpuSnapshot>, n: number): BurstCpu {
  const busy = after.busyMs - before.busyMs;
  return {
    server: (after.serverMs - before.serverMs) / n,
    postgres: (after.postgresMs - before.postgresMs) / n,
    callers: (after.callersMs - before.callersMs) / n,
    busyShare: busy / (busy + after.idleMs - before.idleMs),
  };
}

/**
 * The least time a burst's CPU takes on this machine's cores: N x (server + PostgreSQL + callers
 * per create) / cores (ms). The last creates cannot be answered sooner, whatever the order of the
 * work; dividing by the busy share gives what the burst took, near its p99.
 */
const cpuBoundMs = (c: BurstCpu, n: number) => (n * (c.server + c.postgres + c.callers)) / os.cpus().length;

const fmtCpu = (c: BurstCpu) => `${c.server.toFixed(2)} / ${c.postgres.toFixed(2)} / ${c.callers.toFixed(2)}`;

const CREATE = `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) {
  __typename ... on CreateWorkloadPayload { workload { id status } } ... on Error { code message } } }`;
const RUNNING_COUNT = `query { workloads(first: 1, filter: { status: [RUNNING] }) { totalCount } }`;
const READ = `query { workloads(first: 20, orderBy: { field: UPDATED_AT, direction: DESC }) { totalCount edges { node { id name status } } } }`;

/** One GraphQL request with the callers' client (`--client`): on `pool`'s connections, or on a new connection of its own without one. */
async function gql(url: string, token: string, query: string, variables: Record<string, unknown> = {}, pool?: Pool): Promise<any> {
  if (CLIENT === 'http') return gqlHttp(url, token, query, variables, pool as HttpAgent | undefined);
  const res = await (pool ? clientFetch : fetch)(`${url}/graphql`, {
    method: 'POST',
    ...(pool && { dispatcher: pool as UndiciAgent }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function gqlHttp(url: string, token: string, query: string, variables: Record<string, unknown>, agent?: HttpAgent): Promise<any> {
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const req = request(`${url}/graphql`, {
      method: 'POST',
      agent: agent ?? false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => {
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString()) as { data?: any; errors?: unknown };
          if (parsed.errors || res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${JSON.stringify(parsed.errors ?? parsed)}`));
          else resolve(parsed.data);
        } catch (err) {
          reject(new Error(`HTTP ${res.statusCode}: not JSON (${String(err)})`));
        }
      });
    });
    req.end(body);
  });
}

/** A read loop's latencies (ms), its slowest read and when it was sent (ms after the burst began), and its failed reads. */
interface ReadLoop {
  latencies: number[];
  slowest: { sentAtMs: number; ms: number };
  timeouts: number;
}

/** The read loop on the bench's main thread, on `client` (connected before the burst), until `stopped()`. */
function readerInline(url: string, tokens: string[], started: number, client: Pool, stopped: () => boolean): { stop(): Promise<ReadLoop> } {
  const loop: ReadLoop = { latencies: [], slowest: { sentAtMs: NaN, ms: -1 }, timeouts: 0 };
  const running = (async () => {
    let i = 0;
    while (!stopped()) {
      const t0 = performance.now();
      try {
        await gql(url, tokens[i++ % CALLERS]!, READ, {}, client);
        const ms = performance.now() - t0;
        loop.latencies.push(ms);
        if (ms > loop.slowest.ms) loop.slowest = { sentAtMs: Math.round(t0 - started), ms: Math.round(ms) };
      } catch {
        loop.timeouts++;
      }
      await sleep(20);
    }
  })();
  return { stop: async () => (await running, loop) };
}

/**
 * The read loop in a thread of its own, with its own keep-alive connection, opened (by a first
 * read, not counted) before this answers; the loop starts at `go`.
 */
async function readerThread(url: string, tokens: string[]): Promise<{ go(started: number): void; stop(): Promise<ReadLoop> }> {
  const worker = new Worker(
    `const { parentPort, workerData: w } = require('node:worker_threads');
     const { Agent, fetch } = require('undici');
     const agent = new Agent({ connections: 1 });
     const loop = { latencies: [], slowest: { sentAtMs: NaN, ms: -1 }, timeouts: 0 };
     let stopped = false;
     const read = async (token) => {
       const res = await fetch(w.url + '/graphql', { method: 'POST', dispatcher: agent,
         headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ query: w.query }) });
       const body = await res.json();
       if (body.errors) throw new Error(JSON.stringify(body.errors));
     };
     const now = () => performance.timeOrigin + performance.now();
     read(w.tokens[0]).then(() => parentPort.postMessage('ready'));
     parentPort.on('message', async (m) => {
       if (m === 'stop') { stopped = true; return; }
       // Times cross threads as wall-clock milliseconds (each thread's performance.now() has its own origin).
       const startedAt = m;
       for (let i = 0; !stopped; i++) {
         const t0 = now();
         try {
           await read(w.tokens[i % w.tokens.length]);
           const ms = now() - t0;
           loop.latencies.push(ms);
           if (ms > loop.slowest.ms) loop.slowest = { sentAtMs: Math.round(t0 - startedAt), ms: Math.round(ms) };
         } catch { loop.timeouts++; }
         await new Promise((r) => setTimeout(r, 20));
       }
       await agent.close();
       parentPort.postMessage(loop);
     });`,
    { eval: true, workerData: { url, tokens, query: READ } },
  );
  await once(worker, 'message');
  const result = once(worker, 'message').then(([loop]) => loop as ReadLoop);
  return {
    go: (started) => worker.postMessage(performance.timeOrigin + started),
    stop: async () => {
      worker.postMessage('stop');
      const loop = await result;
      await worker.terminate();
      return loop;
    },
  };
}

const token = (subject: string, roles: string[] = []) =>
  new SignJWT({ org: 'bench', roles }).setProtectedHeader({ alg: 'HS256' }).setSubject(subject).setIssuedAt().setExpirationTime('2h').sign(new TextEncoder().encode(SECRET));

const input = (name: string) => ({
  name,
  importance: 'LOW',
  artifact: {
    name,
    spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] },
  },
  runtime: { replicaCount: 1 },
});

/** How many workloads are RUNNING, counted by a platform admin (who sees every caller's): one probe statement, not one per caller. */
async function runningCount(url: string, adminToken: string): Promise<number> {
  return (await gql(url, adminToken, RUNNING_COUNT)).workloads.totalCount as number;
}

/**
 * The time the API's main thread (the event loop's) has run on a CPU and waited for one, in ms,
 * from the scheduler's statistics (/proc/PID/task/PID/schedstat: run and run-queue wait in ns).
 */
function mainThreadSchedule(pid: number): { runMs: number; waitMs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { runMs: run! / 1e6, waitMs: wait! / 1e6 };
}

/**
 * Each wait of `pid`'s main thread for a CPU, as it ends: a thread of the bench reads its
 * run-queue wait (/proc/PID/task/PID/schedstat) every millisecond; the kernel adds a wait when the
 * thread gets a CPU back, so a step between two reads is one wait (or the few that ended within
 * that millisecond). `stop()` gives the steps over 1 ms, at wall-clock milliseconds: a loop's timer
 * due while its thread waits is late by at least that wait. Its timer and reads take about 6% of a
 * core (a thousand wake-ups a second), so the floors' bursts are watched the same way.
 */
async function cpuWaitWatch(pid: number): Promise<{ stop(): Promise<{ at: number; ms: number }[]> }> {
  const worker = new Worker(
    `const { parentPort, workerData: w } = require('node:worker_threads');
     const { openSync, readSync } = require('node:fs');
     const fd = openSync(w.file, 'r');
     const buf = Buffer.alloc(128);
     const waitMs = () => Number(buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).split(' ')[1]) / 1e6;
     const steps = [];
     let last = waitMs();
     const timer = setInterval(() => {
       let now;
       try {
         now = waitMs();
       } catch {
         // The process has exited (a run that failed stops it before this watch): nothing more to read.
         return clearInterval(timer);
       }
       if (now - last > 1) steps.push({ at: performance.timeOrigin + performance.now(), ms: now - last });
       last = now;
     }, 1);
     parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(steps); });
     parentPort.postMessage('ready');`,
    { eval: true, workerData: { file: `/proc/${pid}/task/${pid}/schedstat` } },
  );
  // A run that fails before `stop()` does not wait for it.
  worker.unref();
  await once(worker, 'message');
  return {
    stop: async () => {
      worker.postMessage('stop');
      const [steps] = (await once(worker, 'message')) as [{ at: number; ms: number }[]];
      await worker.terminate();
      return steps;
    },
  };
}

/** The interval of prom-client's event-loop monitor (its `eventLoopMonitoringPrecision` default), in ms. */
const LOOP_MONITOR_INTERVAL_MS = 10;

/** The event-loop delay p99 since the last scrape: the monitor's recorded interval less its timer's own 10 ms. */
async function scrapeLoopP99(url: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const m = /^nodejs_eventloop_lag_p99_seconds\s+([0-9.e+-]+)/m.exec(text);
  return m ? Math.max(0, Number(m[1]) * 1000 - LOOP_MONITOR_INTERVAL_MS) : NaN;
}

/** An event loop's delay over a burst: each 500 ms window's p99 in order, the worst and the median. */
type LoopWindows = { series: number[]; p99Max: number; p99Median: number };

function loopWindows(windows: number[]): LoopWindows {
  return { series: windows.map((v) => Math.round(v * 10) / 10), p99Max: Math.max(...windows), p99Median: summary(windows).p50 };
}

/**
 * Once a floor `server` says it listens, sends it the burst's N creates at once on new
 * connections; their latencies, and its loop's delay p99 in 500 ms windows meanwhile, scraped as
 * the API's /metrics is.
 */
async function burstAt(
  server: ChildProcess,
  port: number,
  n: number,
  tokens: string[],
  withReads: boolean,
): Promise<ReturnType<typeof summary> & { loop?: LoopWindows; cpu: BurstCpu; longestWaitMs: number; reads?: ReturnType<typeof summary> }> {
  await once(server.stdout!, 'data');
  const url = `http://127.0.0.1:${port}`;
  // The API's read loop, from a thread of its own, over the burst (the GraphQL floor answers the same document).
  const reader = withReads ? await readerThread(url, tokens) : undefined;
  const latencies: number[] = [];
  const pools = callerPools();
  const windows: number[] = [];
  let done = false;
  const scrapeLoop = async () => {
    const { p99 } = (await fetch(`${url}/loop`).then((r) => r.json())) as { p99: number };
    return Math.max(0, p99 - LOOP_MONITOR_INTERVAL_MS);
  };
  await scrapeLoop();
  const scraper = (async () => {
    while (!done) {
      await sleep(500);
      const v = await scrapeLoop().catch(() => NaN);
      if (Number.isFinite(v)) windows.push(v);
    }
  })();
  // The same watch as over the API's burst, so that its CPU (about 6% of a core) counts in both.
  const waits = await cpuWaitWatch(server.pid!);
  const cpuBefore = cpuSnapshot(server.pid!);
  reader?.go(performance.now());
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const t0 = performance.now();
      await gql(url, tokens[i % CALLERS]!, CREATE, { input: input(`w-${i}`) }, pools?.[i % CALLERS]);
      latencies.push(performance.now() - t0);
    }),
  );
  const cpu = burstCpu(cpuBefore, cpuSnapshot(server.pid!), n);
  const longestWaitMs = Math.max(0, ...(await waits.stop()).map((w) => w.ms));
  const reads = reader && summary((await reader.stop()).latencies);
  done = true;
  await scraper;
  await Promise.all(pools?.map(closePool) ?? []);
  return { ...summary(latencies), ...(windows.length > 0 && { loop: loopWindows(windows) }), cpu, longestWaitMs, ...(reads && { reads }) };
}

/**
 * N requests at once on new connections to a floor (`floor-server.mjs`): a bare HTTP server that
 * answers each at once (`transport`), or a server that writes each one's input in one statement
 * (an insert of its name and JSON into one table) before it answers: a bare
 * HTTP server (`statement`: the least a create can do), or graphql-yoga with a one-field schema
 * and the caller's token verified once per token, as the API does (`graphql`: the least a create
 * over GraphQL with authentication can do on this stack). On PostgreSQL through a pool of the
 * API's size (10) to a database of its own; embedded, through PGlite in the server's process.
 */
async function createFloor(mode: 'transport' | 'statement' | 'graphql', db: 'postgres' | 'pglite', n: number, tokens: string[]): ReturnType<typeof burstAt> {
  const scratch = db === 'postgres' && mode !== 'transport' ? await scratchDatabase(adminUrl!, `bench_floor_${Date.now().toString(36)}`) : undefined;
  const port = await freePort();
  // Under `--cpu-prof` the floors are profiled too, beside the API (`DIR/<db>-<n>-<mode>-floor`).
  const profile = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(CPU_PROF, `${db}-${n}-${mode}-floor`)] : [];
  const server = spawn(process.execPath, [...profile, path.join(import.meta.dirname, 'floor-server.mjs')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FLOOR_MODE: mode, PORT: String(port), AUTH_JWT_SECRET: SECRET, NODE_ENV: 'production', ...(scratch && { FLOOR_DATABASE_URL: scratch.url }) },
  });
  try {
    return await burstAt(server, port, n, tokens, mode === 'graphql' && READER === 'thread');
  } finally {
    server.kill();
    await once(server, 'exit');
    await scratch?.drop();
  }
}

/** A gap between two callbacks of the API's 1 ms timer (./turns.mjs): a long turn of its loop, or its thread waiting for a CPU. */
type Gap = { at: number; ms: number; runMs: number; waitMs: number; gcMs: number; connections: number; requests: number };

/** The long turns of the creates' window [from, to] (wall-clock ms): how many over 20 ms, and the longest, each with where its time went. */
function turnsOf(file: string, from: number, to: number) {
  const gaps = (JSON.parse(readFileSync(file, 'utf8')) as Gap[]).filter((g) => g.at >= from && g.at <= to).sort((a, b) => b.ms - a.ms);
  const r = (v: number) => Math.round(v * 10) / 10;
  const over20 = gaps.filter((g) => g.ms > 20);
  return {
    over20: over20.length,
    // Over those: their time on a CPU (garbage collection included), waiting for one, and in collections.
    over20RunMs: r(over20.reduce((s, g) => s + g.runMs, 0)),
    over20WaitMs: r(over20.reduce((s, g) => s + g.waitMs, 0)),
    over20GcMs: r(over20.reduce((s, g) => s + g.gcMs, 0)),
    longest: gaps.slice(0, 5).map((g) => ({ atMs: Math.round(g.at - from), ms: r(g.ms), runMs: r(g.runMs), waitMs: r(g.waitMs), gcMs: r(g.gcMs), requests: g.requests, connections: g.connections })),
  };
}

async function scenario(db: 'postgres' | 'pglite', n: number) {
  const label = `${db}-${n}`;
  let env: Record<string, string>;
  let cleanup = async () => {};
  let commits = async (): Promise<number> => NaN;
  let functionTimes = async (): Promise<{ name: string; calls: number; total: number; self: number }[]> => [];
  if (db === 'postgres') {
    const name = `bench_controller_${Date.now().toString(36)}`;
    // Transactions the database committed (each statement outside a transaction counts as one).
    commits = async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query('select pg_stat_clear_snapshot()');
        const r = await c.query('select xact_commit::int as n from pg_stat_database where datname = $1', [name]);
        return r.rows[0]?.n ?? NaN;
      } finally {
        await c.end();
      }
    };
    const scratch = await scratchDatabase(adminUrl!, name);
    // The time PostgreSQL spends in each PL/pgSQL function (the create statement, its triggers,
    // the controller's round) of the API's sessions: a timer around each call.
    await runSql(adminUrl!, `alter database "${name}" set track_functions = 'pl'`);
    functionTimes = async () => {
      const c = new pg.Client({ connectionString: scratch.url });
      await c.connect();
      try {
        const r = await c.query<{ name: string; calls: number; total: number; self: number }>(
          'select funcname as name, calls::int, total_time as total, self_time as self from pg_stat_user_functions order by self_time desc',
        );
        return r.rows;
      } finally {
        await c.end();
      }
    };
    env = { DATABASE_URL: scratch.url };
    cleanup = scratch.drop;
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-controller-'));
    env = { DATA_DIR: dir };
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const api = await startApi(env, label);
  /** The row, and the creates' window (wall-clock ms), for the turns read once the API has exited. */
  let measured: { row: Record<string, unknown>; window: [number, number] } | undefined;
  try {
    const tokens = await Promise.all(Array.from({ length: CALLERS }, (_, i) => token(`bench-caller-${i}`)));
    const floorOfTransport = await createFloor('transport', db, n, tokens);
    const floorOfStatement = await createFloor('statement', db, n, tokens);
    const floorOfGraphql = await createFloor('graphql', db, n, tokens);
    // Floor: one workload alone, create -> RUNNING.
    const floorStarted = performance.now();
    await gql(api.url, tokens[0]!, CREATE, { input: input('floor') });
    const observer = await token('bench-observer', ['platform-admin']);
    while ((await runningCount(api.url, observer)) < 1) await sleep(5);
    const floorMs = performance.now() - floorStarted;
    await scrapeLoopP99(api.url);

    // The reading client: its own connection, opened before the burst.
    const readClient = newPool(1);
    await gql(api.url, tokens[0]!, READ, {}, readClient);
    const threadReader = READER === 'thread' ? await readerThread(api.url, tokens) : undefined;
    const commitsBefore = await commits();
    const before = processStats(api.pid);
    // Watching before the burst begins: its first waits are in the first window.
    const waits = await cpuWaitWatch(api.pid);
    const cpuBefore = cpuSnapshot(api.pid);
    const started = performance.now();
    const createLatencies: number[] = [];
    let failures = 0;
    let firstFailure = '';
    const pools = callerPools();
    const creates = Array.from({ length: n }, async (_, i) => {
      const t0 = performance.now();
      try {
        const d = await gql(api.url, tokens[i % CALLERS]!, CREATE, { input: input(`w-${i}`) }, pools?.[i % CALLERS]);
        if (d.createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(d.createWorkload));
        createLatencies.push(performance.now() - t0);
      } catch (err) {
        failures++;
        // fetch's own message is "fetch failed"; what failed is its cause.
        const cause = (err as { cause?: unknown }).cause;
        firstFailure ||= `${String(err)}${cause ? ` (${String(cause)}; after ${Math.round(performance.now() - t0)} ms)` : ''}`.slice(0, 300);
      }
    });
    let done = false;
    const coldRead = (async () => {
      const t0 = performance.now();
      const client = newPool(1);
      try {
        await gql(api.url, tokens[0]!, READ, {}, client);
        return { sentAtMs: Math.round(t0 - started), ms: Math.round(performance.now() - t0) };
      } finally {
        await closePool(client);
      }
    })();
    const loopP99: number[] = [];
    threadReader?.go(started);
    const reader = threadReader ?? readerInline(api.url, tokens, started, readClient, () => done);
    // Per window: the loop's delay p99, and how long the loop's thread waited for a CPU meanwhile.
    const loopWaits: number[] = [];
    const windowEnds: number[] = [];
    const scheduleAtStart = mainThreadSchedule(api.pid);
    const startedAt = performance.timeOrigin + started;
    const scraper = (async () => {
      let previous = scheduleAtStart;
      while (!done) {
        await sleep(500);
        const v = await scrapeLoopP99(api.url).catch(() => NaN);
        const schedule = mainThreadSchedule(api.pid);
        if (Number.isFinite(v)) {
          loopP99.push(v);
          loopWaits.push(schedule.waitMs - previous.waitMs);
          windowEnds.push(performance.timeOrigin + performance.now());
        }
        previous = schedule;
      }
    })();
    await Promise.all(creates);
    const burstMs = performance.now() - started;
    // The creates' window only: the API's share includes the controller's passes meanwhile.
    const cpu = burstCpu(cpuBefore, cpuSnapshot(api.pid), n);
    await Promise.all(pools?.map(closePool) ?? []);
    let runningMs = NaN;
    const deadline = started + 300_000;
    while (performance.now() < deadline) {
      if ((await runningCount(api.url, observer)) >= n + 1 - failures) {
        runningMs = performance.now() - started;
        break;
      }
      await sleep(50);
    }
    done = true;
    const [{ latencies: readLatencies, slowest: slowestRead, timeouts: readTimeouts }] = await Promise.all([reader.stop(), scraper]);
    await closePool(readClient);
    const cold = await coldRead.catch((err: unknown) => ({ sentAtMs: NaN, ms: NaN, error: String(err) }));
    const after = processStats(api.pid);
    const commitsPerWorkload = ((await commits()) - commitsBefore) / n;
    // Since the API started (the floor's one create included): a backend reports its sessions'
    // times at most once a second, so the last second's may be missing.
    const functions = await functionTimes();
    const createStatement = functions.find((f) => f.name === 'workload_create_batch');
    const create = summary(createLatencies);
    const reads = summary(readLatencies);
    const scheduleAtEnd = mainThreadSchedule(api.pid);
    const worstWindow = loopP99.indexOf(Math.max(...loopP99));
    const waitSteps = await waits.stop();
    const longestWait = (from: number, to: number) => Math.max(0, ...waitSteps.filter((w) => w.at > from && w.at <= to).map((w) => w.ms));
    const loop = {
      windows: loopP99.length,
      // Each 500 ms window's p99 in order, its worst and median, and when the burst's last create was answered (ms).
      ...loopWindows(loopP99),
      burstMs: Math.round(burstMs),
      // The floor beside it: the loop cannot turn while its thread waits for a CPU (the burst's
      // clients, PostgreSQL and the API share the machine's cores).
      worstWindowCpuWaitMs: loopWaits[worstWindow] ?? NaN,
      // Its longest single wait for a CPU in the worst window, and over the burst's windows.
      worstWindowLongestWaitMs: worstWindow >= 0 ? longestWait(windowEnds[worstWindow - 1] ?? startedAt, windowEnds[worstWindow]!) : NaN,
      longestWaitMs: longestWait(startedAt, windowEnds.at(-1) ?? startedAt),
      cpuWaitShare: (scheduleAtEnd.waitMs - scheduleAtStart.waitMs) / (scheduleAtEnd.waitMs - scheduleAtStart.waitMs + scheduleAtEnd.runMs - scheduleAtStart.runMs),
    };
    const cpuSecondsPerWorkload = (after.cpuSeconds - before.cpuSeconds) / n;
    const met = {
      running: runningMs - floorMs <= GOALS.runningWithinMs,
      createP99: create.p99 < GOALS.createP99Ms,
      readP99: reads.p99 < GOALS.readP99Ms,
      loopP99: loop.p99Max < GOALS.loopP99Ms,
    };
    const row = { db, n, callers: CALLERS, client: CLIENT, pool: POOL ?? null, floorMs, runningMs, addedMs: runningMs - floorMs, create, transportFloor: floorOfTransport, statementFloor: floorOfStatement, graphqlFloor: floorOfGraphql, failures, firstFailure, reads, reader: READER, slowestRead, coldRead: cold, readTimeouts, loop, cpu, postgresFunctions: functions.slice(0, 12), cpuSecondsPerWorkload, commitsPerWorkload, peakRssMb: after.peakRssMb, met };
    console.log(
      `${label}: floor ${floorMs.toFixed(0)} ms; all RUNNING ${(runningMs / 1000).toFixed(1)} s (${(runningMs / floorMs).toFixed(1)}x floor, ` +
        `+${((runningMs - floorMs) / 1000).toFixed(1)} s ${met.running ? 'met' : 'NOT met'}); create p50 ${create.p50.toFixed(0)} p99 ${create.p99.toFixed(0)} ms (${met.createP99 ? 'met' : 'NOT met'}; transport floor p50 ${floorOfTransport.p50.toFixed(0)} p99 ${floorOfTransport.p99.toFixed(0)} ms; statement floor p50 ${floorOfStatement.p50.toFixed(0)} p99 ${floorOfStatement.p99.toFixed(0)} ms; GraphQL floor p50 ${floorOfGraphql.p50.toFixed(0)} p99 ${floorOfGraphql.p99.toFixed(0)} ms); ` +
        `reads p50 ${reads.p50.toFixed(0)} p99 ${reads.p99.toFixed(0)} max ${reads.max.toFixed(0)} ms (${met.readP99 ? 'met' : 'NOT met'}; the GraphQL floor's p99 ${floorOfGraphql.reads?.p99.toFixed(0) ?? 'n/a'} ms); cold read ${cold.ms} ms; ` +
        `loop delay p99 worst ${loop.p99Max.toFixed(1)} median ${loop.p99Median.toFixed(1)} ms (${met.loopP99 ? 'met' : 'NOT met'}; worst window of the transport floor ${floorOfTransport.loop?.p99Max.toFixed(1) ?? 'n/a'} ms, of the GraphQL floor ${floorOfGraphql.loop?.p99Max.toFixed(1) ?? 'n/a'} ms; the loop's thread waited for a CPU ${loop.worstWindowCpuWaitMs.toFixed(0)} ms of the worst window, at most ${loop.worstWindowLongestWaitMs.toFixed(1)} ms at once there and ${loop.longestWaitMs.toFixed(1)} ms over the burst (the GraphQL floor's thread ${floorOfGraphql.longestWaitMs.toFixed(1)} ms), ${(loop.cpuWaitShare * 100).toFixed(0)}% of the burst); creates' CPU ms per create, API / PostgreSQL / callers ${fmtCpu(cpu)} (GraphQL floor ${fmtCpu(floorOfGraphql.cpu)}), machine busy ${(cpu.busyShare * 100).toFixed(0)}% (GraphQL floor ${(floorOfGraphql.cpu.busyShare * 100).toFixed(0)}%), over the cores ${cpuBoundMs(cpu, n).toFixed(0)} ms (GraphQL floor ${cpuBoundMs(floorOfGraphql.cpu, n).toFixed(0)})${createStatement ? `; PostgreSQL in the create statements ${(createStatement.total / n).toFixed(2)} ms per create (self, per create: ${functions.slice(0, 5).map((f) => `${f.name} ${(f.self / n).toFixed(2)}`).join(', ')})` : ''}; cpu ${(cpuSecondsPerWorkload * 1000).toFixed(1)} ms/workload; ${commitsPerWorkload.toFixed(1)} commits/workload; peak RSS ${after.peakRssMb.toFixed(0)} MB; failures ${failures}`,
    );
    measured = { row, window: [performance.timeOrigin + started, performance.timeOrigin + started + burstMs] };
    return row;
  } finally {
    await api.stop();
    if (TURNS && measured) {
      const turns = turnsOf(path.resolve(TURNS, `${label}.json`), ...measured.window);
      measured.row.turns = turns;
      const l = turns.longest[0];
      console.log(
        `${label} turns (./turns.mjs): ${turns.over20} gaps over 20 ms in the creates' window, ${turns.over20RunMs} ms of them on the CPU (collections ${turns.over20GcMs}) and ${turns.over20WaitMs} waiting; ` +
          `the longest ${l ? `${l.ms} ms at +${l.atMs}: ${l.runMs} on the CPU (collections ${l.gcMs}), ${l.waitMs} waiting, ${l.requests} requests arrived` : 'none'}; next: ${turns.longest.slice(1).map((g) => `${g.ms} (${g.runMs} CPU, ${g.gcMs} GC, ${g.waitMs} wait, ${g.requests} req)`).join(', ')}`,
      );
    }
    await cleanup();
  }
}

const loadStart = os.loadavg();
const rows = [];
for (const db of DATABASES) for (const n of SIZES) rows.push(await scenario(db, n));
const loadEnd = os.loadavg();
const loaded = loadStart[0]! > 1.5;
const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model },
  loadAverage: { start: loadStart, end: loadEnd },
  loaded,
  speed: SPEED,
  quotas: QUOTAS,
  goals: GOALS,
  rows,
  met: Object.fromEntries(rows.map((r) => [`${r.db}-${r.n}`, r.met])),
};
writeFileSync(path.join(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const f = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');
const statementMs = (r: Awaited<ReturnType<typeof scenario>>) => {
  const s = r.postgresFunctions.find((fn) => fn.name === 'workload_create_batch');
  return s ? (s.total / r.n).toFixed(2) : 'n/a';
};
const yes = (b: boolean) => (b ? 'met' : '**not met**');
writeFileSync(
  path.join(import.meta.dirname, 'results.md'),
  `# Controller throughput

${results.date}, ${results.machine.cpus} cores (${results.machine.model}), load average ${loadStart.map((l) => l.toFixed(1)).join(' ')} at the start,
${loadEnd.map((l) => l.toFixed(1)).join(' ')} at the end${loaded ? ' — **loaded: figures are not the product\'s, re-run on an idle machine**' : ''}.

\`npx tsx bench/controller/run.ts\`: N concurrent \`createWorkload\` over ${CALLERS} callers (GraphQL over HTTP with ${CLIENT === 'http' ? 'node:http' : 'fetch'}${POOL ? `, each caller over ${POOL} keep-alive connections (\`--pool ${POOL}\`), floors alike` : ', each create on a new connection'}) to an
API process of its own (the compiled JavaScript, with \`npm start\`'s environment and Node flags), simulated runtime at SIMULATED_SPEED=${SPEED}, one replica each, quotas ${QUOTAS === 'default' ? 'at their defaults' : 'unlimited'}. Floor: one workload
alone, create to RUNNING, in the same process just before the burst. Reads: a \`workloads(first: 20)\` loop
during the burst from a client already connected (one keep-alive connection opened before the burst)${READER === 'thread' ? ', in a thread of its own (apart from the burst\'s callers)' : ', on the thread of the burst\'s callers'}. Cold
read: one read on a new connection sent as the burst starts (the server accepts it between the burst's requests). Transport
floor: the same N requests to a bare Node.js server that answers each at once. Statement floor: the same N requests to a bare
Node.js server that writes each one's input in one insert (PostgreSQL: a pool of 10 to a database of its own; embedded: PGlite
in its process) before it answers: the least a create can do. GraphQL floor: the same insert behind graphql-yoga with a
one-mutation schema and the caller's token verified (once per token, as the API's cached authenticator does; \`floor-server.mjs\`): the least a create over GraphQL with authentication can do on this stack; the same read loop runs through its burst (the same document, its newest rows and their count answered from one statement), so that what the reads cost counts in both. Loop: the event-loop delay p99 of the worst and of the median 500 ms window (prom-client, /metrics, less the monitor's own 10 ms interval);
beside it, the worst window of the transport and GraphQL floors' loops over their own bursts, measured the same way (\`GET /loop\` of \`floor-server.mjs\`); and its floor: how long the loop's thread waited for a CPU (the scheduler's run-queue wait, /proc/PID/task/PID/schedstat) in the worst window,
with the longest of those waits at once (a thread of the bench reads the thread's run-queue wait every millisecond, about 6% of a core, and watches each floor's burst alike, so that its CPU counts in both), and its share of the thread's time over the burst (waiting / (waiting + running)): a loop cannot turn while its thread waits.
Creates' CPU: over the creates' window, the CPU of the server (the API with the controller's passes meanwhile; the GraphQL floor; embedded, PGlite runs in the server's process and its CPU is the server's), of PostgreSQL
and of the callers (${CLIENT === 'http' ? 'node:http' : 'fetch'}, this bench's process), per create, and how busy the machine's cores were: the last creates' latency follows
N x (CPU per create) / (cores x busy share). Creates' CPU over the cores: N x (CPU per create, the three together) / cores, the least time that
work takes here, whatever its order. PostgreSQL in the create statements: the time PostgreSQL spent in \`workload_create_batch\` (track_functions), per create.

Where a goal is not met, what the profile shows and what would meet it: bench/controller/profile.md (the create's p99 is its burst's CPU over the
two cores, the API process's part about the GraphQL floor's and the difference PostgreSQL's writing of the product's rows; the loop's worst turns are
half the thread's own work as a hundred-odd requests arrive together and half its wait for a CPU).

Goals: all RUNNING within ${GOALS.runningWithinMs / 1000} s of the floor, create p99 < ${GOALS.createP99Ms} ms, reads p99 < ${GOALS.readP99Ms} ms, event-loop p99 < ${GOALS.loopP99Ms} ms.

| database | N | floor ms | all RUNNING ms | added over floor | create p50 / p99 ms | transport floor p50 / p99 ms | statement floor p50 / p99 ms | GraphQL floor p50 / p99 ms | create p99 / statement floor p99 | create p99 / GraphQL floor p99 | read p50 / p99 / max ms (GraphQL floor's p99) | cold read ms | loop delay p99 worst / median window ms | floors' loop delay p99, worst window ms: transport / GraphQL | loop thread's CPU wait: worst window ms (longest at once) / burst share | creates' CPU ms per create: API / PostgreSQL / callers, machine busy | GraphQL floor's: server / PostgreSQL / callers, machine busy | PostgreSQL in the create statements, ms per create | creates' CPU over the cores ms: API / GraphQL floor | CPU ms per workload | commits per workload | peak RSS MB | failures |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows
  .map(
    (r) =>
      `| ${r.db} | ${r.n} | ${f(r.floorMs)} | ${f(r.runningMs)} (${(r.runningMs / r.floorMs).toFixed(1)}x) | ${f(r.addedMs)} ${yes(r.met.running)} | ${f(r.create.p50)} / ${f(r.create.p99)} ${yes(r.met.createP99)} | ${f(r.transportFloor.p50)} / ${f(r.transportFloor.p99)} | ${f(r.statementFloor.p50)} / ${f(r.statementFloor.p99)} | ${f(r.graphqlFloor.p50)} / ${f(r.graphqlFloor.p99)} | ${(r.create.p99 / r.statementFloor.p99).toFixed(1)}x | ${(r.create.p99 / r.graphqlFloor.p99).toFixed(1)}x | ${f(r.reads.p50)} / ${f(r.reads.p99)} / ${f(r.reads.max)} ${yes(r.met.readP99)} (${r.graphqlFloor.reads ? f(r.graphqlFloor.reads.p99) : 'n/a'}) | ${f(r.coldRead.ms)} | ${r.loop.p99Max.toFixed(1)} / ${r.loop.p99Median.toFixed(1)} ${yes(r.met.loopP99)} | ${r.transportFloor.loop?.p99Max.toFixed(1) ?? 'n/a'} / ${r.graphqlFloor.loop?.p99Max.toFixed(1) ?? 'n/a'} | ${f(r.loop.worstWindowCpuWaitMs)} (${r.loop.worstWindowLongestWaitMs.toFixed(1)}) / ${(r.loop.cpuWaitShare * 100).toFixed(0)}% | ${fmtCpu(r.cpu)}, ${(r.cpu.busyShare * 100).toFixed(0)}% | ${fmtCpu(r.graphqlFloor.cpu)}, ${(r.graphqlFloor.cpu.busyShare * 100).toFixed(0)}% | ${statementMs(r)} | ${f(cpuBoundMs(r.cpu, r.n))} / ${f(cpuBoundMs(r.graphqlFloor.cpu, r.n))} | ${(r.cpuSecondsPerWorkload * 1000).toFixed(1)} | ${Number.isFinite(r.commitsPerWorkload) ? r.commitsPerWorkload.toFixed(1) : 'n/a'} | ${f(r.peakRssMb)} | ${r.failures} |`,
  )
  .join('\n')}
`,
);
console.log(`wrote bench/controller/results.md${loaded ? ' (loaded)' : ''}`);
