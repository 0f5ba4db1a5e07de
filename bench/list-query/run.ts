/**
 * List-query benchmark (issue #14, "lean reads"): `workloads(first: 50) { artifact protons }`
 * through the API against the floor, in the same run, on the same data, and the calibration of
 * the complexity model (ADR 0061).
 *
 *   - floor: a bare `node:http` server, in a process of its own, that answers with the JSON of one
 *     hand-written SQL statement (visibility, page, count, artifacts and protons; the JSON is
 *     built by PostgreSQL). It verifies no token: it is what the answer costs at the least.
 *   - GraphQL floor: graphql-yoga with a schema of just the list's types, the token verified
 *     (once per token, as the API's cached authenticator does) and one resolver answering
 *     `workloads` with the same statement's JSON (`GRAPHQL_FLOOR_SERVER`): the least a GraphQL
 *     server on this stack does for the list. The goal is against the floor;
 *     the GraphQL floor says how much of the ratio is GraphQL over HTTP itself.
 *   - API: the compiled JavaScript (`dist/`, compiled first when stale, as `npm start` does) on
 *     PostgreSQL, in a process of its own, with the simulated cluster.
 *   - data: `--workloads` workloads (default 100) created through the API with 2 replicas each and
 *     brought up by the controller, so each has an artifact, an active proton and its pods.
 *   - clients: closed loop (each of C callers sends its next request when the previous answer
 *     arrived) in a worker thread, over keep-alive connections; floor, GraphQL floor and API take
 *     turns per level.
 *   - statements per request: PostgreSQL's `pg_stat_statements`, on a PostgreSQL cluster of the
 *     bench's own (initdb, `shared_preload_libraries=pg_stat_statements`): the calls during 20
 *     sequential requests, less the calls of an idle period as long (the controller's own).
 *   - calibration: the API's CPU time per request (from /proc) for variants of the list that add
 *     one kind of field at a time (`CALIBRATION_VARIANTS`), taken in turn for several rounds; the
 *     difference per object is what that kind costs (`fitWeights`), compared with the weights of
 *     `src/graphql/cost.ts`; and the console's list at a page of 100 against the default limit.
 *
 *   - side by side: at each level of clients the three servers are measured in turns of
 *     `--slices` slices (the run's `--seconds` shared among them), the order rotated each turn,
 *     and each side's latencies, requests and CPU pooled over its slices: a machine whose speed
 *     drifts within a run (a shared host's neighbours) then slows all three alike.
 *
 *   npx tsx bench/list-query/run.ts [--workloads 100] [--seconds 15] [--slices 15] [--concurrency 1,4] [--first 50]
 *     [--calibrate false] [--calibration-rounds 5] [--calibration-requests 300] [--env-vars 0]
 *
 * Writes bench/list-query/results.json and results.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { SignJWT } from 'jose';
import pg from 'pg';
import { startThrowawayPostgres } from '../../test/support/throwaway-postgres.js';
import { runSql } from '../support.js';
import { STATISTICS_COMPLEXITY } from '../../src/graphql/cost.js';
import type { Calibration, Fit } from './model.js';
import { CALIBRATION_VARIANTS, FLOOR_SERVER, GRAPHQL_FLOOR_SERVER, LIST_QUERY } from './queries.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const WORKLOADS = Number(args.get('workloads') ?? 100);
const SECONDS = Number(args.get('seconds') ?? 15);
/** Each side's measured time at a level is split into this many slices, taken in turns with the other sides'. */
const SLICES = Math.max(1, Number(args.get('slices') ?? 15));
const LEVELS = (args.get('concurrency') ?? '1,4').split(',').map(Number);
const FIRST = Number(args.get('first') ?? 50);
/** `--env-vars N`: each container carries N environment variables of 40 characters (a spec of about 80 N bytes), as real specs do. */
const ENV_VARS = Number(args.get('env-vars') ?? 0);
const COUNTED_REQUESTS = 20;
/** `--profile DIR`: the API runs with --cpu-prof and writes its profile there when it stops (the GraphQL floor's in DIR/graphql-floor). */
const PROFILE_DIR = args.get('profile');
const CALIBRATION_REQUESTS = Number(args.get('calibration-requests') ?? 300);
const CALIBRATE = args.get('calibrate') !== 'false';
const CALIBRATION_ROUNDS = Number(args.get('calibration-rounds') ?? 5);
const root = path.resolve(import.meta.dirname, '../..');
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const GOALS = { statementsPerList: 3, p50Ratio: 2 };
const TICKS_PER_SECOND = 100;

const loadStart = os.loadavg();

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(stat[11]) + Number(stat[12]);
}

/**
 * User + system CPU ticks of the benchmark's own PostgreSQL server: the postmaster listening on
 * `port` and every process it started (the backends of both pools stay connected through a run).
 */
function postgresTicks(port: string): number {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  let postmaster: number | undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      procs.set(Number(entry), { ppid: Number(stat[1]), ticks: Number(stat[11]) + Number(stat[12]) });
      if (postmaster === undefined && readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').includes(` -p ${port} `)) postmaster = Number(entry);
    } catch {
      // A process that ended while the table was read.
    }
  }
  if (postmaster === undefined) throw new Error(`no PostgreSQL server on port ${port}`);
  let ticks = 0;
  for (const [pid, p] of procs) if (pid === postmaster || p.ppid === postmaster) ticks += p.ticks;
  return ticks;
}

/** One slice of load on a server: its latencies and the CPU ticks of the server and of PostgreSQL over it. */
interface Slice extends Load {
  nodeTicks: number;
  postgresTicks: number;
}

async function slice(pid: number, pgPort: string, run: () => Promise<Load>): Promise<Slice> {
  const node0 = cpuTicks(pid);
  const pg0 = postgresTicks(pgPort);
  const result = await run();
  return { ...result, nodeTicks: cpuTicks(pid) - node0, postgresTicks: postgresTicks(pgPort) - pg0 };
}

/** A side's slices pooled: percentiles over all their latencies, CPU ms per request over all their requests. */
function pooled(slices: Slice[]): Run {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const requests = latencies.length;
  const perRequest = (ticks: number) => (ticks * (1000 / TICKS_PER_SECOND)) / Math.max(1, requests);
  const sum = (f: (s: Slice) => number) => slices.reduce((total, s) => total + f(s), 0);
  return {
    requests, errors: sum((s) => s.errors), rps: requests / sum((s) => s.elapsed),
    p50: percentile(latencies, 50), p99: percentile(latencies, 99),
    cpu: { nodeMs: perRequest(sum((s) => s.nodeTicks)), postgresMs: perRequest(sum((s) => s.postgresTicks)) },
  };
}

/**
 * Measures the sides at one level of clients in turns: `SLICES` turns of `SECONDS / SLICES`
 * seconds each, the first side of a turn rotating, so that no side always follows the same one.
 */
async function sideBySide(sides: { pid: number; run: (seconds: number) => Promise<Load> }[], pgPort: string): Promise<Run[]> {
  const slices: Slice[][] = sides.map(() => []);
  for (let turn = 0; turn < SLICES; turn++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (turn + k) % sides.length;
      slices[i]!.push(await slice(sides[i]!.pid, pgPort, () => sides[i]!.run(SECONDS / SLICES)));
    }
  }
  return slices.map(pooled);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The load generator: plain JS in a worker, so it does not share an event loop with anything measured. */
const LOAD = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { url, headers, body, concurrency, seconds } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);
const latencies = [];
let errors = 0;
const end = performance.now() + seconds * 1000;
function one() {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request({ method: 'POST', host: target.hostname, port: target.port, path: target.pathname, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) errors++;
        latencies.push(performance.now() - started);
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
}
async function caller() { while (performance.now() < end) await one(); }
(async () => {
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  parentPort.postMessage({ latencies, errors, elapsed });
})();
`;

/** One level of clients: each side's run and the p50 ratios between them. */
interface Level {
  concurrency: number;
  floor: Run;
  graphqlFloor: Run;
  api: Run;
  /** The goal's ratios: the API's against the bare floor's. */
  p50Ratio: number;
  p99Ratio: number;
  /** The GraphQL floor's p50 against the bare floor's: what GraphQL over HTTP itself adds. */
  graphqlFloorRatio: number;
  /** The API's p50 against the GraphQL floor's: what the API adds beyond that. */
  p50RatioToGraphqlFloor: number;
}

interface Run {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU per request: the server process's and PostgreSQL's, in ms. */
  cpu: { nodeMs: number; postgresMs: number };
}

/** What a load worker saw: each request's latency (ms), the failures, and how long it ran (s). */
interface Load {
  latencies: number[];
  errors: number;
  elapsed: number;
}

function load(url: string, headers: Record<string, string>, body: string, concurrency: number, seconds: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD, { eval: true, workerData: { url, headers, body, concurrency, seconds } });
    worker.once('error', reject);
    worker.once('message', (m: Load) => {
      resolve(m);
      void worker.terminate();
    });
  });
}

/** Spawns a node process and resolves with the URL it prints (`"url":"…"` or `listening …`). */
function startProcess(argv: string[], env: Record<string, string>, pattern: RegExp): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, argv, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let url: string | undefined;
    // The output is searched until the URL shows, then only its tail is kept, for an exit's
    // message: the API logs a line per request, and searching the whole of a growing log on every
    // chunk (V8 flattens the concatenated string each time) took this process's CPU, on the cores
    // the API was measured on, in proportion to how much the API had logged.
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (url === undefined) {
        url = pattern.exec(out)?.[1];
        if (url !== undefined) resolve({ child, url });
      } else if (out.length > 64_000) {
        out = out.slice(-32_000);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`process exited (${code}):\n${out}`)));
  });
}

async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
}

async function main(): Promise<void> {
  const { compileIfStale } = (await import(path.join(root, 'scripts/start.mjs'))) as { compileIfStale: () => Promise<number> };
  const compiled = await compileIfStale();
  console.log(`compiled ${compiled} stale files`);

  const postgres = await startThrowawayPostgres(['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all']);
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query('create database bench');
  await admin.query('create extension pg_stat_statements');
  const dbUrl = postgres.url.replace(/\/postgres$/, '/bench');
  const pgPort = new URL(postgres.url).port;
  const children: ChildProcess[] = [];
  try {
    const api = await startProcess([...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []), 'dist/src/main.js'], {
      NODE_ENV: 'production',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: dbUrl,
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      SIMULATED_SPEED: '100',
      CONTROLLER_TICK_MS: '60000',
      METRICS_ENABLED: 'false',
      GRAPHQL_MUTATION_RATE_POINTS: '1000000',
      // The calibration spends about 10^9 a round (statistics on pages of 100): no budget may refuse it.
      GRAPHQL_QUERY_COST_RATE_POINTS: '1000000000000',
      // The calibration measures variants whatever the model says they cost.
      GRAPHQL_MAX_COMPLEXITY: '100000000',
    }, /"url":"([^"]+)\/graphql"/);
    children.push(api.child);
    const floor = await startProcess(['--input-type=module', '-e', FLOOR_SERVER], { DATABASE_URL: dbUrl }, /listening (\S+)/);
    children.push(floor.child);
    const graphqlFloor = await startProcess([...(PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, 'graphql-floor')] : []), '--input-type=module', '-e', GRAPHQL_FLOOR_SERVER], { DATABASE_URL: dbUrl, AUTH_JWT_SECRET: SECRET, NODE_ENV: 'production' }, /listening (\S+)/);
    children.push(graphqlFloor.child);
    const apiUrl = `${api.url}/graphql`;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt(now).setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(SECRET));
    const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` };

    // Data: workloads on inline drafts, 2 replicas each, brought up by the controller.
    console.log(`creating ${WORKLOADS} workloads`);
    for (let i = 0; i < WORKLOADS; i++) {
      const created = await post(apiUrl, headers, {
        query: `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on Error { message } } }`,
        variables: { input: {
          name: `bench-${i}`,
          artifact: { name: `bench-${i}`, spec: { containerGroups: [{ name: 'default', containers: [{
            name: 'app', imageUri: 'ghcr.io/example/app:1', primary: true, port: 8080,
            ...(ENV_VARS > 0 && { environmentVars: Array.from({ length: ENV_VARS }, (_, j) => ({ name: `SETTING_${j}`, value: 'v'.repeat(40) })) }),
          }] }] } },
          runtime: { replicaCount: 2 },
        } },
      });
      if ((created.data?.createWorkload as { __typename?: string })?.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(created));
    }
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await post(apiUrl, headers, { query: `{ workloads(first: 1, filter: { status: [RUNNING] }) { totalCount } }` });
      const running = (r.data?.workloads as { totalCount: number } | undefined)?.totalCount ?? 0;
      if (running === WORKLOADS) break;
      if (Date.now() > deadline) throw new Error(`only ${running} of ${WORKLOADS} workloads RUNNING after 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // Planner statistics, as autovacuum keeps them on a database in use: without them the fresh
    // tables' estimates (one row each) pick plans no real database runs.
    await runSql(dbUrl, 'analyze');

    // The same answer from all three.
    const listBody = JSON.stringify({ query: LIST_QUERY, variables: { first: FIRST } });
    const fromApi = await post(apiUrl, headers, JSON.parse(listBody));
    const fromFloor = (await (await fetch(floor.url, { method: 'POST', headers, body: JSON.stringify({ first: FIRST, subject: 'alice' }) })).json()) as unknown;
    const fromGraphqlFloor = await post(graphqlFloor.url, headers, JSON.parse(listBody));
    const sameAnswer = isDeepStrictEqual(fromApi, fromFloor) && isDeepStrictEqual(fromGraphqlFloor, fromFloor);
    if (!sameAnswer) {
      console.warn('the answers differ:', JSON.stringify(fromApi).slice(0, 400), JSON.stringify(fromFloor).slice(0, 400), JSON.stringify(fromGraphqlFloor).slice(0, 400));
    }
    const floorBody = JSON.stringify({ first: FIRST, subject: 'alice' });

    // Statements per request, from pg_stat_statements.
    const statements = async (send: () => Promise<unknown>, n: number) => {
      const calls = async () => Number((await admin.query(
        `select coalesce(sum(s.calls), 0) as n from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = 'bench'`)).rows[0].n);
      await admin.query('select pg_stat_statements_reset()');
      const started = performance.now();
      for (let i = 0; i < n; i++) await send();
      const busy = await calls();
      const elapsed = performance.now() - started;
      await admin.query('select pg_stat_statements_reset()');
      await new Promise((resolve) => setTimeout(resolve, elapsed));
      const idle = await calls();
      return { perRequest: Math.max(0, busy - idle) / n, busyCalls: busy, idleCalls: idle, requests: n };
    };
    const apiStatements = await statements(() => post(apiUrl, headers, JSON.parse(listBody)), COUNTED_REQUESTS);
    const floorStatements = await statements(() => fetch(floor.url, { method: 'POST', body: floorBody }).then((r) => r.text()), COUNTED_REQUESTS);
    console.log(`statements per list: API ${apiStatements.perRequest}, floor ${floorStatements.perRequest}`);

    // Latency, closed loop, floor, GraphQL floor and API side by side per level.
    const levels: Level[] = [];
    for (const concurrency of LEVELS) {
      await load(floor.url, headers, floorBody, concurrency, 1);
      await load(graphqlFloor.url, headers, listBody, concurrency, 1);
      await load(apiUrl, headers, listBody, concurrency, 1);
      const [floorRun, graphqlRun, apiRun] = (await sideBySide([
        { pid: floor.child.pid!, run: (seconds) => load(floor.url, headers, floorBody, concurrency, seconds) },
        { pid: graphqlFloor.child.pid!, run: (seconds) => load(graphqlFloor.url, headers, listBody, concurrency, seconds) },
        { pid: api.child.pid!, run: (seconds) => load(apiUrl, headers, listBody, concurrency, seconds) },
      ], pgPort)) as [Run, Run, Run];
      const row = {
        concurrency, floor: floorRun, graphqlFloor: graphqlRun, api: apiRun,
        p50Ratio: apiRun.p50 / floorRun.p50, p99Ratio: apiRun.p99 / floorRun.p99,
        graphqlFloorRatio: graphqlRun.p50 / floorRun.p50, p50RatioToGraphqlFloor: apiRun.p50 / graphqlRun.p50,
      };
      levels.push(row);
      console.log(`c=${concurrency}: floor p50 ${floorRun.p50.toFixed(2)} ms p99 ${floorRun.p99.toFixed(2)}; GraphQL floor p50 ${graphqlRun.p50.toFixed(2)} p99 ${graphqlRun.p99.toFixed(2)}; ` +
        `API p50 ${apiRun.p50.toFixed(2)} p99 ${apiRun.p99.toFixed(2)}; ratio p50 ${row.p50Ratio.toFixed(2)}x (GraphQL floor ${row.graphqlFloorRatio.toFixed(2)}x; API / GraphQL floor ${row.p50RatioToGraphqlFloor.toFixed(2)}x); ` +
        `CPU ms per list: floor ${cpuText(floorRun.cpu)}, GraphQL floor ${cpuText(graphqlRun.cpu)}, API ${cpuText(apiRun.cpu)}`);
    }

    // Calibration: the API's CPU per request for each variant, sequential requests, the variants
    // taken in turn for several rounds (the median of each), so a drift of the machine spreads over all.
    const calibration: { name: string; query: string; first: number; cpuMsPerRequest: number; rounds: number[]; modelCost: number; statements: number }[] = [];
    for (const variant of CALIBRATE ? CALIBRATION_VARIANTS : []) {
      const body = { query: variant.query, variables: { first: variant.first } };
      const probe = await post(apiUrl, headers, body);
      if (probe.errors) throw new Error(`${variant.name}: ${JSON.stringify(probe.errors)}`);
      const counted = await statements(() => post(apiUrl, headers, body), 5);
      calibration.push({ name: variant.name, query: variant.query, first: variant.first, cpuMsPerRequest: 0, rounds: [], modelCost: 0, statements: counted.perRequest });
    }
    // Round 0 warms up (its figures, higher by a third in earlier runs, are not kept).
    for (let round = 0; round <= CALIBRATION_ROUNDS; round++) {
      for (const c of calibration) {
        const body = { query: c.query, variables: { first: c.first } };
        for (let i = 0; i < 10; i++) await post(apiUrl, headers, body);
        const before = cpuTicks(api.child.pid!);
        let refused: unknown;
        for (let i = 0; i < CALIBRATION_REQUESTS; i++) refused ??= (await post(apiUrl, headers, body)).errors;
        // A refused request (a budget, a limit) costs a fraction of an answered one: the round would measure nothing.
        if (refused) throw new Error(`${c.name}, round ${round}: ${JSON.stringify(refused).slice(0, 300)}`);
        if (round > 0) c.rounds.push(((cpuTicks(api.child.pid!) - before) / TICKS_PER_SECOND) * 1000 / CALIBRATION_REQUESTS);
      }
    }
    for (const c of calibration) {
      c.cpuMsPerRequest = percentile([...c.rounds].sort((a, b) => a - b), 50);
      console.log(`calibration ${c.name}: ${c.cpuMsPerRequest.toFixed(2)} ms CPU per request (rounds ${c.rounds.map((r) => r.toFixed(2)).join(', ')}), ${c.statements} statements`);
    }
    const { consoleListCost, fitWeights, measureCosts } = await import('./model.js');
    const consoleList = consoleListCost();
    const costs = await measureCosts(calibration);
    calibration.forEach((c, i) => (c.modelCost = costs[i]!));
    const rounds = Array.from({ length: CALIBRATION_ROUNDS }, (_, i) => Object.fromEntries(calibration.map((c) => [c.name, c.rounds[i]! * 1000])) as Calibration);
    // A page of 100 holds min(100, --workloads) rows, each with one current proton of two replicas.
    const rows = Math.min(WORKLOADS, 100);
    const fit = CALIBRATE ? fitWeights(rounds, { rows, protons: rows, replicas: 2 * rows }) : undefined;
    if (fit) {
      console.log(`unit ${fit.unitUs.toFixed(2)} µs (rounds ${fit.unitRangeUs.map((u) => u.toFixed(2)).join('-')}), a request ${fit.requestUnits.toFixed(0)} units`);
      for (const w of fit.weights) console.log(`weight ${w.kind}: measured ${w.measured.toFixed(1)} (${w.range.map((v) => v.toFixed(1)).join(' to ')}), model ${w.model}: ${w.fits ? 'fits' : 'DOES NOT fit'}`);
    }

    const loadEnd = os.loadavg();
    const worstP50Ratio = Math.max(...levels.map((l) => l.p50Ratio));
    const met = {
      statements: apiStatements.perRequest <= GOALS.statementsPerList,
      p50Ratio: worstP50Ratio <= GOALS.p50Ratio,
      sameAnswer,
      ...(fit ? { weights: fit.weights.every((w) => w.fits) } : {}),
      consoleList: consoleList.cost <= consoleList.limit,
    };
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model ?? 'unknown',
      loadAverageStart: loadStart,
      loadAverageEnd: loadEnd,
      loaded: loadStart[0]! > 1.5,
      settings: { workloads: WORKLOADS, first: FIRST, seconds: SECONDS, slices: SLICES, concurrency: LEVELS, replicasPerWorkload: 2, environmentVariablesPerContainer: ENV_VARS },
      goals: GOALS,
      met,
      statements: { api: apiStatements, floor: floorStatements },
      levels,
      calibration,
      fit,
      consoleList,
    };
    writeFileSync(path.join(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(import.meta.dirname, 'results.md'), markdown(results));
    console.log(`statements ${apiStatements.perRequest} (goal <= ${GOALS.statementsPerList}): ${met.statements ? 'met' : 'NOT met'}`);
    console.log(`worst p50 ratio ${worstP50Ratio.toFixed(2)}x (goal <= ${GOALS.p50Ratio}x): ${met.p50Ratio ? 'met' : 'NOT met'}`);
  } finally {
    await Promise.all(children.map((child) => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve(undefined);
      child.once('exit', resolve);
      child.kill('SIGTERM');
    })));
    await admin.end().catch(() => {});
    await postgres.destroy();
  }
}

const cpuText = (c: Run['cpu']) => `${c.nodeMs.toFixed(2)} + ${c.postgresMs.toFixed(2)}`;

function markdown(r: {
  cpus: number;
  model: string;
  date: string; loadAverageStart: number[]; loadAverageEnd: number[]; loaded: boolean; settings: Record<string, unknown>;
  met: Record<string, boolean>; statements: { api: { perRequest: number }; floor: { perRequest: number } };
  levels: Level[];
  calibration: { name: string; first: number; cpuMsPerRequest: number; rounds: number[]; modelCost: number; statements: number }[];
  fit?: Fit;
  consoleList: { cost: number; limit: number };
}): string {
  const f = (n: number) => n.toFixed(2);
  const lines = [
    '# List query: `workloads(first: 50) { artifact protons }` against the floor',
    '',
    `Run ${r.date} on ${r.cpus} cores (${r.model}); load average ${r.loadAverageStart.map(f).join(' / ')} at start, ${r.loadAverageEnd.map(f).join(' / ')} at end${r.loaded ? ' (**loaded**: re-run on an idle machine)' : ''}.`,
    `Settings: ${JSON.stringify(r.settings)}. Command: \`npx tsx bench/list-query/run.ts\`.`,
    '',
    '| Goal | Measured | Met |',
    '| --- | --- | --- |',
    `| <= 3 SQL statements per list | ${r.statements.api.perRequest} (floor: ${r.statements.floor.perRequest}) | ${r.met.statements ? 'yes' : 'no'} |`,
    `| p50 <= 2x the floor | worst ${f(Math.max(...r.levels.map((l) => l.p50Ratio)))}x | ${r.met.p50Ratio ? 'yes' : 'no'} |`,
    `| same JSON from the API, the floor and the GraphQL floor | ${r.met.sameAnswer ? 'identical' : 'differs'} | ${r.met.sameAnswer ? 'yes' : 'no'} |`,
    ...(r.fit ? [`| the cost model's weights fit the calibration (below) | ${r.fit.weights.filter((w) => w.fits).length} of ${r.fit.weights.length} | ${r.met.weights ? 'yes' : 'no'} |`] : []),
    `| the console's list at a page of 100 within the default \`GRAPHQL_MAX_COMPLEXITY\` | ${r.consoleList.cost} of ${r.consoleList.limit} | ${r.met.consoleList ? 'yes' : 'no'} |`,
    '',
    '| Clients | Floor p50 / p99 ms | GraphQL floor p50 / p99 ms | API p50 / p99 ms | Floor / GraphQL floor / API req/s | p50 ratio | p99 ratio | GraphQL floor p50 / floor | API p50 / GraphQL floor | Floor CPU ms / list (node + PostgreSQL) | GraphQL floor CPU | API CPU |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.levels.map((l) => `| ${l.concurrency} | ${f(l.floor.p50)} / ${f(l.floor.p99)} | ${f(l.graphqlFloor.p50)} / ${f(l.graphqlFloor.p99)} | ${f(l.api.p50)} / ${f(l.api.p99)} | ` +
      `${[l.floor, l.graphqlFloor, l.api].map((s) => s.rps.toFixed(0)).join(' / ')} | ${f(l.p50Ratio)}x | ${f(l.p99Ratio)}x | ${f(l.graphqlFloorRatio)}x | ${f(l.p50RatioToGraphqlFloor)}x | ` +
      `${cpuText(l.floor.cpu)} | ${cpuText(l.graphqlFloor.cpu)} | ${cpuText(l.api.cpu)} |`),
    '',
    `The floor: a bare node:http server answering with one statement's JSON (built by PostgreSQL). The GraphQL floor: graphql-yoga with the list's types only, the token verified (once per token, as the API's cached authenticator does), and the same statement's JSON walked by graphql-js's default resolvers: what GraphQL over HTTP itself adds on this stack (in production mode, as the API). p50 ratio and p99 ratio are the API's against the floor (the goal). At each level the three are measured in turns of ${r.settings.slices ?? 1} slices, the order rotated each turn, and each side's slices pooled: a drift of the machine's speed within the run slows all three alike.`,
    `CPU per list is the server process's and the benchmark's PostgreSQL server's (every backend), from /proc, over each run. With every client busy the machine's ${r.cpus} cores bound a side's throughput at ${r.cpus} x 1000 / (its CPU ms per list) lists a second.`,
    '',
    ...(r.fit ? [
      '## Calibration of the complexity model (`src/graphql/cost.ts`, ADR 0061)',
      '',
      `Sequential requests, the API's CPU per request (from /proc), variants in turn for ${CALIBRATION_ROUNDS} rounds of ${CALIBRATION_REQUESTS} requests after a round to warm up (median).`,
      'Each workload has one artifact, one current proton and two replicas.',
      '',
      '| Variant | first | CPU ms / request (median) | rounds | Statements | Model cost |',
      '| --- | --- | --- | --- | --- | --- |',
      ...r.calibration.map((c) => `| ${c.name} | ${c.first} | ${f(c.cpuMsPerRequest)} | ${c.rounds.map(f).join(', ')} | ${c.statements} | ${c.modelCost} |`),
      '',
      `Weights worked out for each round (\`fitWeights\` in \`model.ts\`), then the median: the unit (one more scalar field on one object) ${f(r.fit.unitUs)} µs (rounds ${r.fit.unitRangeUs.map(f).join(' to ')}); a request beyond its one row ${r.fit.requestUnits.toFixed(0)} units.`,
      `Statistics on a proton with an empty window: ${r.fit.statisticsPerProton.toFixed(1)} units (the model charges ${STATISTICS_COMPLEXITY.field}: the aggregate over a full window, which this data does not have).`,
      '',
      `| Object (beyond its fields) | Measured, units (median) | Rounds | Model, units | Fits (0.8x the median to 1.5x the largest round, ±${r.fit.slackUnits}) |`,
      '| --- | --- | --- | --- | --- |',
      ...r.fit.weights.map((w) => `| ${w.kind} | ${w.measured.toFixed(1)} | ${w.range.map((v) => v.toFixed(1)).join(' to ')} | ${w.model} | ${w.fits ? 'yes' : '**no**'} |`),
      '',
    ] : []),
    'What the profile shows, earlier runs side by side, and what would close the gap: `notes.md` (kept by hand).',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

await main();
