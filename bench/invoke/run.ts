/**
 * Invoke endpoint benchmark: requests through `/endpoints/workloads/{id}/` against the same
 * requests sent straight to the replica (the floor), side by side in one run, at concurrency
 * 1-64 and at 0 and 5 ms of replica service time. Three processes, so that each figure is its
 * own: the replica (`replica.mjs`, a plain node:http server), the API (`api.ts`, compiled to
 * JavaScript, the app as production builds it, routing the workload to that replica), and the
 * load generator (`load.mjs`, closed loop over keep-alive connections). The API process's CPU
 * time is read from /proc around every level: endpoint requests per API CPU-second.
 *
 *   npx tsx bench/invoke/run.ts [--concurrency 1,2,4,8,16,32,64] [--seconds 3] [--delays 0,5]
 *   npx tsx bench/invoke/run.ts --profile 10   # only: the endpoint at 0 ms, c=32, for 10 s under the CPU profiler; writes profile.md (top frames)
 *
 * Writes bench/invoke/results.md and results.json (not with --profile: bench/invoke/profile.md).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const LEVELS = (args.get('concurrency') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const SECONDS = Number(args.get('seconds') ?? 3);
const DELAYS = (args.get('delays') ?? '0,5').split(',').map(Number);
const PROFILE_SECONDS = args.has('profile') ? Number(args.get('profile') || 10) : undefined;
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const ISSUER = 'bench';
const here = import.meta.dirname;
const root = path.resolve(here, '../..');
const TICKS_PER_SECOND = 100;

/** Goals (issue 14). */
const GOAL_P50_RATIO_AT_5MS = 1.3;
const GOAL_P50_LEVELS_UP_TO = 32;
const GOAL_REQUESTS_PER_API_CPU_SECOND = 5000;

interface Run {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU seconds the API process spent during the run. */
  apiCpuSeconds: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(stat[11]) + Number(stat[12]);
}

/** Builds the compiled API (dist/, as `npm start` does) and the bench's API entry beside it. */
async function compile(): Promise<string> {
  execFileSync(process.execPath, [path.join(root, 'scripts/start.mjs'), '--compile-only'], { cwd: root, stdio: 'inherit' });
  const esbuild = await import('esbuild');
  const outfile = path.join(root, 'dist/bench/invoke/api.js');
  await esbuild.build({ entryPoints: [path.join(here, 'api.ts')], outfile, format: 'esm', platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' });
  return outfile;
}

/** Starts a process that prints {"url": ...} on a line of its standard output once it listens. */
function startProcess(command: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, command, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^\{"url":"([^"]+)"\}$/m.exec(out);
      if (match) resolve({ child, url: match[1]! });
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}: ${err}${out}`)));
  });
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** The load generator: one process for the whole run, one message per measurement. */
class LoadGenerator {
  readonly #child = fork(path.join(here, 'load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

  run(url: string, headers: Record<string, string>, concurrency: number, seconds: number, apiPid: number): Promise<Run> {
    return new Promise((resolve) => {
      const before = cpuTicks(apiPid);
      this.#child.once('message', (m: { latencies: number[]; errors: number; elapsed: number }) => {
        const apiCpuSeconds = (cpuTicks(apiPid) - before) / TICKS_PER_SECOND;
        const sorted = m.latencies.sort((a, b) => a - b);
        resolve({
          requests: sorted.length,
          errors: m.errors,
          rps: sorted.length / m.elapsed,
          p50: percentile(sorted, 50),
          p95: percentile(sorted, 95),
          p99: percentile(sorted, 99),
          apiCpuSeconds,
        });
      });
      this.#child.send({ url, headers, concurrency, seconds });
    });
  }

  close(): void {
    this.#child.disconnect();
  }
}

/** Top frames by self time of a V8 CPU profile. */
function topFrames(file: string, count: number): { frame: string; selfMs: number; share: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
    startTime: number;
    endTime: number;
    samples: number[];
  };
  const interval = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byFrame = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const where = url ? `${url.replace(/^file:\/\//, '').replace(`${root}/`, '')}:${lineNumber + 1}` : '';
    const frame = `${functionName || '(anonymous)'} ${where}`.trim();
    byFrame.set(frame, (byFrame.get(frame) ?? 0) + hits * interval);
    total += hits * interval;
  }
  const idle = byFrame.get('(idle)') ?? 0;
  return [...byFrame.entries()]
    .filter(([frame]) => frame !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, selfMs]) => ({ frame, selfMs, share: selfMs / (total - idle) }));
}

async function main(): Promise<void> {
  const loadStart = os.loadavg();
  const apiEntry = await compile();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-invoke-'));
  const profileDir = mkdtempSync(path.join(os.tmpdir(), 'bench-invoke-prof-'));
  const replica = await startProcess([path.join(here, 'replica.mjs')], {});
  const profileFile = path.join(profileDir, 'api.cpuprofile');
  const api = await startProcess([apiEntry], {
    ...(PROFILE_SECONDS && { BENCH_PROFILE_FILE: profileFile }),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    AUTH_MODE: 'jwt',
    AUTH_JWT_SECRET: SECRET,
    AUTH_ISSUER: ISSUER,
    DATA_DIR: dataDir,
    SIMULATED_SPEED: '100',
    BENCH_REPLICA_URL: replica.url,
  });
  const loader = new LoadGenerator();
  try {
    const base = api.url;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench')
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(SECRET));
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return ((await res.json()) as { data: Record<string, any> }).data; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const created = await gql(
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id endpoint } } } }`,
      {
        input: {
          name: 'bench',
          artifact: { name: 'bench', spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'registry.example.com/bench/echo:1', primary: true, port: 8080 }] }] } },
          runtime: { replicaCount: 1 },
        },
      },
    );
    const { id, endpoint } = created.createWorkload.workload as { id: string; endpoint: string };
    const workloadId = new URL(endpoint).pathname.split('/')[3]!;
    for (;;) {
      const w = await gql(`query($id: ID!) { workload(id: $id) { ... on Workload { status } } }`, { id });
      if (w.workload.status === 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const direct = `${replica.url}/bench?x=1`;
    const through = `${base}/endpoints/workloads/${workloadId}/bench?x=1`;
    const auth = { authorization: `Bearer ${token}` };
    // The endpoint really reaches the replica process (it echoes what it got).
    const probe = await fetch(through, { headers: auth });
    const echoed = (await probe.json()) as { replica?: string; headers?: Record<string, string> };
    if (probe.status !== 200 || echoed.replica !== 'bench' || echoed.headers?.['x-forwarded-prefix'] !== `/endpoints/workloads/${workloadId}`)
      throw new Error(`the endpoint does not reach the bench replica: ${probe.status} ${JSON.stringify(echoed)}`);

    // Warm-up: JIT, connection pools, the caches.
    await loader.run(direct, auth, 8, 1, api.child.pid!);
    await loader.run(through, auth, 8, 2, api.child.pid!);

    if (PROFILE_SECONDS) {
      api.child.kill('SIGUSR2');
      const r = await loader.run(through, auth, 32, PROFILE_SECONDS, api.child.pid!);
      const written = new Promise<void>((resolve) => api.child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('"profiled":true') && resolve()));
      api.child.kill('SIGUSR2');
      await written;
      const frames = topFrames(profileFile, 25);
      const md = [
        '# Invoke endpoint: CPU profile of the API process',
        '',
        `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, load average ${loadStart[0]!.toFixed(1)} -> ${os.loadavg()[0]!.toFixed(1)}.`,
        `The endpoint at 0 ms service time, concurrency 32, ${PROFILE_SECONDS} s under the CPU profiler (inspector): ${r.rps.toFixed(0)} req/s, ${(r.requests / r.apiCpuSeconds).toFixed(0)} req per API CPU-second (profiling slows it).`,
        'Top frames by self time (share of the non-idle samples of the measured window):',
        '',
        '| self ms | share | frame |',
        '| --- | --- | --- |',
        ...frames.map((f) => `| ${f.selfMs.toFixed(0)} | ${(f.share * 100).toFixed(1)}% | \`${f.frame}\` |`),
        '',
        `Reproduce: \`npx tsx bench/invoke/run.ts --profile ${PROFILE_SECONDS}\`.`,
        '',
      ].join('\n');
      writeFileSync(path.join(here, 'profile.md'), md);
      process.stdout.write(md);
      return;
    }

    const rows: { delayMs: number; concurrency: number; direct: Run; endpoint: Run }[] = [];
    let i = 0;
    for (const delayMs of DELAYS) {
      const headers = { ...auth, ...(delayMs > 0 && { 'x-service-ms': String(delayMs) }) };
      for (const c of LEVELS) {
        // Alternate the order so that drift (other load on the machine) favours neither side.
        const sides = i++ % 2 === 0 ? (['direct', 'endpoint'] as const) : (['endpoint', 'direct'] as const);
        const row: Partial<(typeof rows)[number]> = { delayMs, concurrency: c };
        for (const side of sides) row[side] = await loader.run(side === 'direct' ? direct : through, headers, c, SECONDS, api.child.pid!);
        rows.push(row as (typeof rows)[number]);
        const r = row as (typeof rows)[number];
        process.stdout.write(
          `${delayMs} ms c=${c}: direct p50 ${r.direct.p50.toFixed(2)} ms ${r.direct.rps.toFixed(0)}/s; endpoint p50 ${r.endpoint.p50.toFixed(2)} ms ${r.endpoint.rps.toFixed(0)}/s ` +
            `(${(r.endpoint.p50 / r.direct.p50).toFixed(2)}x), ${(r.endpoint.requests / r.endpoint.apiCpuSeconds).toFixed(0)} req per API CPU-s, errors ${r.endpoint.errors}; ` +
            `API CPU ${r.endpoint.apiCpuSeconds.toFixed(2)} s (idle during direct: ${r.direct.apiCpuSeconds.toFixed(2)} s)\n`,
        );
      }
    }
    const loadEnd = os.loadavg();

    const perCpu = (r: Run) => r.requests / Math.max(r.apiCpuSeconds, 1 / TICKS_PER_SECOND);
    const at5 = rows.filter((r) => r.delayMs === 5 && r.concurrency <= GOAL_P50_LEVELS_UP_TO);
    const worstRatio = at5.length ? Math.max(...at5.map((r) => r.endpoint.p50 / r.direct.p50)) : Number.NaN;
    const at0 = rows.filter((r) => r.delayMs === 0);
    const busiest = at0.length ? at0.reduce((a, b) => (b.endpoint.rps > a.endpoint.rps ? b : a)) : undefined;
    const efficiency = busiest ? perCpu(busiest.endpoint) : Number.NaN;
    const goals = {
      p50RatioAt5ms: { goal: `p50 <= ${GOAL_P50_RATIO_AT_5MS}x direct at 5 ms, concurrency 1-${GOAL_P50_LEVELS_UP_TO}`, worst: worstRatio, met: at5.length > 0 && worstRatio <= GOAL_P50_RATIO_AT_5MS },
      requestsPerApiCpuSecond: {
        goal: `>= ${GOAL_REQUESTS_PER_API_CPU_SECOND} endpoint requests per API CPU-second at 0 ms (the level of highest endpoint throughput)`,
        value: efficiency,
        concurrency: busiest?.concurrency,
        met: efficiency >= GOAL_REQUESTS_PER_API_CPU_SECOND,
      },
    };
    const loaded = loadStart[0]! > 1.5;
    const f = (x: number) => x.toFixed(2);
    const md = [
      '# Invoke endpoint: results',
      '',
      `Run on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}), Node ${process.version}; load average ${loadStart[0]!.toFixed(1)} at the start, ${loadEnd[0]!.toFixed(1)} at the end${loaded ? ' (**loaded**: absolute figures are not the product\'s; ratios were measured side by side)' : ''}.`,
      `Closed loop, ${SECONDS} s per level and side, keep-alive connections, GET with a bearer token; the replica answers a JSON`,
      'echo (~0.9 kB) after its service time. Three processes: the replica (plain node:http), the API (compiled JavaScript,',
      'production settings, embedded database, simulated cluster routing to that replica) and the load generator. "direct"',
      'calls the replica; "endpoint" goes through `/endpoints/workloads/{id}/` (token, authorization, route, forwarding,',
      'statistics). "API CPU" is the API process\'s user+system time during the endpoint run. Latencies in ms.',
      '',
      '| service time | concurrency | direct p50 | endpoint p50 | p50 ratio | direct p99 | endpoint p99 | p99 ratio | direct req/s | endpoint req/s | endpoint req per API CPU-s | endpoint errors |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.delayMs} ms | ${r.concurrency} | ${f(r.direct.p50)} | ${f(r.endpoint.p50)} | ${f(r.endpoint.p50 / r.direct.p50)}x | ${f(r.direct.p99)} | ${f(r.endpoint.p99)} | ${f(r.endpoint.p99 / r.direct.p99)}x | ${r.direct.rps.toFixed(0)} | ${r.endpoint.rps.toFixed(0)} | ${perCpu(r.endpoint).toFixed(0)} | ${r.endpoint.errors}/${r.endpoint.requests} |`,
      ),
      '',
      '| Goal | Measured | Met |',
      '| --- | --- | --- |',
      `| ${goals.p50RatioAt5ms.goal} | worst ${f(worstRatio)}x | ${goals.p50RatioAt5ms.met ? 'yes' : 'no'} |`,
      `| ${goals.requestsPerApiCpuSecond.goal} | ${efficiency.toFixed(0)} at concurrency ${busiest?.concurrency ?? '-'} | ${goals.requestsPerApiCpuSecond.met ? 'yes' : 'no'} |`,
      '',
      'Profiles of the API process (`npx tsx bench/invoke/run.ts --profile 10`): `profile-before.md` (requests through',
      'http-proxy-3) and `profile.md` (undici, per-connection grants, batched statistics). What remains on top is the',
      'socket work every proxy pays twice per request (`writev` of the caller\'s response, the request write to the replica,',
      'the HTTP parsers) and the garbage collector; the JavaScript of the endpoint itself (token, access, route, headers,',
      'statistics) is a few percent. A goal still unmet on an idle machine would be the case of ADR 0053: a data plane in',
      'front (Envoy through the Gateway API) instead of a Node process. Before/after pairs, side by side: `ab.md`.',
      '',
      `Reproduce: \`npx tsx bench/invoke/run.ts\` (options: \`--concurrency ${LEVELS.join(',')} --seconds ${SECONDS} --delays ${DELAYS.join(',')}\`).`,
      '',
    ].join('\n');
    writeFileSync(path.join(here, 'results.md'), md);
    writeFileSync(
      path.join(here, 'results.json'),
      `${JSON.stringify({ date: new Date().toISOString(), cores: os.cpus().length, node: process.version, seconds: SECONDS, loadAverageStart: loadStart, loadAverageEnd: loadEnd, loaded, goals, rows }, null, 2)}\n`,
    );
    process.stdout.write(md);
  } finally {
    loader.close();
    await stopProcess(api.child);
    await stopProcess(replica.child);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
  }
}

await main();
