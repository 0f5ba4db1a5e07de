/**
 * Start-up and memory benchmark. Times each way of starting the API from spawn to the first
 * `/readyz` 200, and reads its idle memory once ready, against the floor measured in the same run:
 * `node -e` of an empty HTTP server answering 200.
 *
 * Install-time work is measured apart from start-up (issue #14 allows "compiled output built on
 * install"): `npm install` runs the `prepare` script, `node scripts/start.mjs --prepare`, which
 * compiles the API, builds the console and creates the embedded database template.
 *   - install: console build: Vite, from no dist-console/;
 *   - install: prepare: from no dist/ (console built): transpile and create the template;
 *   - first boot (npm start): `npm start` right after that, on an empty DATA_DIR: it copies the
 *     template and checks the migrations; this is the goal's figure;
 *   - first boot, no install scripts: `npm start` with no dist/ and no template (`npm install
 *     --ignore-scripts`): transpile, `initdb`, migrations at start;
 *   - warm boot: `npm start` on the DATA_DIR of a previous boot;
 *   - PostgreSQL: `npm start` with DATABASE_URL on a migrated database.
 *
 * Idle memory: the smallest RSS over 3 s once ready, and the heap and external (ArrayBuffer and
 * WebAssembly) memory from the API's own /metrics; for the warm boots (the goals' rows) also the
 * smallest over `--settle` seconds (45) once ready, idle: V8's memory reducer gives back the young
 * generation that start-up grew 20-30 s after the process went quiet, so the first seconds' RSS
 * is start-up's, and the settled one is what an idle replica holds. CPU is the process's user +
 * system time from spawn to ready: on a loaded machine it moves much less than the wall time.
 *
 *   npx tsx bench/startup/run.ts [--runs 3] [--settle 45]
 *
 * DATABASE_URL (a server the user may create databases on) adds the PostgreSQL rows. Writes
 * bench/startup/results.md and results.json. It removes and rebuilds dist/ and dist-console/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, scratchDatabase } from '../support.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const RUNS = Number(args.get('runs') ?? 3);
const SETTLE_SECONDS = Number(args.get('settle') ?? 45);
const root = path.resolve(import.meta.dirname, '../..');
const adminUrl = process.env.DATABASE_URL;

const GOALS = { firstBootMs: 3000, embeddedRssMb: 200, postgresRssMb: 120 };

function procStat(pid: number): { rssKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssKb, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}
const TICKS_PER_SECOND = 100;

/** The node process that serves: npm runs sh, which runs node; follow the children down to it. */
function serverPid(pid: number): number {
  for (;;) {
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return pid;
    }
    // esbuild's service process is a child while transpiling; it has exited by the time of ready.
    const next = children.find((c) => !/esbuild/.test(readFileSync(`/proc/${c}/comm`, 'utf8')));
    if (next === undefined) return pid;
    pid = next;
  }
}

interface Sample {
  scenario: string;
  readyMs: number;
  cpuMs: number;
  rssMb?: number;
  /** The smallest RSS over the settling time once ready (warm boots only). */
  settledRssMb?: number;
  heapUsedMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
  return m ? Number(m[1]) / 1e6 : undefined;
}

/** Spawns, waits for the URL on stdout (or PORT given), polls /readyz, reads memory, stops. */
async function boot(scenario: string, command: string[], env: Record<string, string>, port?: number, settleSeconds = 0): Promise<Sample> {
  const started = performance.now();
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    cwd: root,
    detached: true,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? os.tmpdir(), HOST: '127.0.0.1', PORT: String(port ?? 0), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    let base: string | undefined = port ? `http://127.0.0.1:${port}` : undefined;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${scenario}: exited ${child.exitCode}\n${out}`);
      base ??= /"url":"(http:\/\/[^"]+)\/graphql"/.exec(out)?.[1];
      if (base) {
        const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
        if (ok) break;
      }
      await sleep(20);
      if (performance.now() - started > 300_000) throw new Error(`${scenario}: not ready after 300 s\n${out}`);
    }
    const readyMs = performance.now() - started;
    const pid = serverPid(child.pid!);
    const cpuMs = (procStat(pid).cpuTicks / TICKS_PER_SECOND) * 1000;
    let rssKb = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      rssKb = Math.min(rssKb, procStat(pid).rssKb);
      await sleep(300);
    }
    const sample: Sample = { scenario, readyMs: Math.round(readyMs), cpuMs: Math.round(cpuMs), rssMb: Math.round(rssKb / 1024) };
    if (settleSeconds > 0) {
      let settledKb = rssKb;
      while (performance.now() - started - readyMs < settleSeconds * 1000) {
        await sleep(1000);
        settledKb = Math.min(settledKb, procStat(pid).rssKb);
      }
      sample.settledRssMb = Math.round(settledKb / 1024);
    }
    const metrics = await fetch(`${base}/metrics`).then((r) => (r.ok ? r.text() : ''), () => '');
    const heapUsed = metric(metrics, 'nodejs_heap_size_used_bytes');
    if (heapUsed !== undefined) {
      sample.heapUsedMb = Math.round(heapUsed);
      sample.heapTotalMb = Math.round(metric(metrics, 'nodejs_heap_size_total_bytes') ?? NaN);
      sample.externalMb = Math.round(metric(metrics, 'nodejs_external_memory_bytes') ?? NaN);
    }
    return sample;
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
}

const FLOOR = `require('node:http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1')`;
const dataDirs: string[] = [];
const freshDataDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wl-bench-startup-'));
  dataDirs.push(dir);
  return dir;
};
const DEV_ENV = { NODE_ENV: 'development' };
const freePort = () => 20_000 + Math.floor(Math.random() * 20_000);

const samples: Sample[] = [];
const loadAtStart = os.loadavg()[0]!;
const record = (s: Sample) => {
  samples.push(s);
  console.log(JSON.stringify(s));
};

/** Runs an install-time step to completion: wall time, and its processes' CPU (bash's `times`). */
function install(scenario: string, command: string): Sample {
  const started = performance.now();
  const r = spawnSync('bash', ['-c', `${command} >/dev/null 2>&1 || exit 1; times`], { cwd: root, env: process.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${scenario} failed: ${r.stderr}`);
  const readyMs = Math.round(performance.now() - started);
  // `times`: the shell's own line, then its children's "user system", e.g. "0m8.616s 0m0.787s".
  const seconds = (t: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const [user, system] = r.stdout.trim().split('\n').at(-1)!.split(/\s+/);
  return { scenario, readyMs, cpuMs: Math.round((seconds(user!) + seconds(system!)) * 1000) };
}

const NPM_START = ['npm', 'start', '--silent'];
let warmDir = '';
for (let run = 0; run < RUNS; run++) {
  record(await boot('floor', [process.execPath, '-e', FLOOR], {}, freePort()));
  // A fresh clone during `npm install`: no dist/, no dist-console/.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  rmSync(path.join(root, 'dist-console'), { recursive: true, force: true });
  record(install('install: console build', `"${process.execPath}" scripts/console-build.mjs`));
  record(install('install: prepare', `"${process.execPath}" scripts/start.mjs --prepare`));
  // Right after `npm install`: dist/ with the template, no DATA_DIR.
  warmDir = freshDataDir();
  record(await boot('first boot (npm start)', NPM_START, { ...DEV_ENV, DATA_DIR: warmDir }));
  record(await boot('warm boot (embedded)', NPM_START, { ...DEV_ENV, DATA_DIR: warmDir }, undefined, SETTLE_SECONDS));
  // `npm install --ignore-scripts`: no dist/, so no template either.
  rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  record(await boot('first boot, no install scripts', NPM_START, { ...DEV_ENV, DATA_DIR: freshDataDir() }));
}
// Leave the tree as `npm install` does.
install('install: prepare', `"${process.execPath}" scripts/start.mjs --prepare`);

if (adminUrl) {
  const scratch = await scratchDatabase(adminUrl, `wl_bench_startup_${process.pid}`);
  try {
    const env = { ...DEV_ENV, DATA_DIR: freshDataDir(), DATABASE_URL: scratch.url };
    await boot('migrate', NPM_START, env);
    for (let run = 0; run < RUNS; run++) record(await boot('warm boot (PostgreSQL)', NPM_START, env, undefined, SETTLE_SECONDS));
  } finally {
    await scratch.drop();
  }
}
for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });

const scenarios = [...new Set(samples.map((s) => s.scenario))];
const summary = scenarios.map((scenario) => {
  const of = samples.filter((s) => s.scenario === scenario);
  const pick = (k: keyof Sample) => {
    const v = of.map((s) => s[k]).filter((x): x is number => typeof x === 'number');
    return v.length ? median(v) : undefined;
  };
  return { scenario, runs: of.length, readyMs: pick('readyMs')!, cpuMs: pick('cpuMs')!, rssMb: pick('rssMb'), settledRssMb: pick('settledRssMb'), heapUsedMb: pick('heapUsedMb'), heapTotalMb: pick('heapTotalMb'), externalMb: pick('externalMb') };
});
const row = (s: string) => summary.find((x) => x.scenario === s);
const floor = row('floor')!;
const first = row('first boot (npm start)')!;
const warm = row('warm boot (embedded)')!;
const postgres = row('warm boot (PostgreSQL)');
const installMs = (row('install: console build')?.readyMs ?? 0) + (row('install: prepare')?.readyMs ?? 0);
const loadAtEnd = os.loadavg()[0]!;
const loaded = loadAtStart > 1.5;
/** Idle RSS: the settled figure where there is one. */
const idleRss = (r: { rssMb?: number; settledRssMb?: number }) => (r.settledRssMb ?? r.rssMb)!;
const goals = {
  firstBoot: { goal: `<= ${GOALS.firstBootMs} ms`, measured: first.readyMs, met: first.readyMs <= GOALS.firstBootMs },
  embeddedRss: { goal: `<= ${GOALS.embeddedRssMb} MB`, measured: idleRss(warm), met: idleRss(warm) <= GOALS.embeddedRssMb },
  ...(postgres && { postgresRss: { goal: `<= ${GOALS.postgresRssMb} MB`, measured: idleRss(postgres), met: idleRss(postgres) <= GOALS.postgresRssMb } }),
};
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
console.log(`first boot ${first.readyMs} ms (${ratio(first.readyMs, floor.readyMs)} the floor; install-time work before it ${installMs} ms), goal ${goals.firstBoot.goal}: ${goals.firstBoot.met ? 'met' : 'NOT met'}`);
console.log(`embedded idle RSS ${idleRss(warm)} MB settled, ${warm.rssMb} MB in the first 3 s (${ratio(idleRss(warm), floor.rssMb!)} the floor's ${floor.rssMb} MB), goal ${goals.embeddedRss.goal}: ${goals.embeddedRss.met ? 'met' : 'NOT met'}`);
if (goals.postgresRss) console.log(`PostgreSQL idle RSS ${goals.postgresRss.measured} MB (${ratio(goals.postgresRss.measured, floor.rssMb!)} the floor), goal ${goals.postgresRss.goal}: ${goals.postgresRss.met ? 'met' : 'NOT met'}`);

const bare = row('first boot, no install scripts');
const sideBySide = `First boot against warm boot in this run: ${ratio(first.readyMs, warm.readyMs)} the wall time, ${ratio(first.cpuMs, warm.cpuMs)} the CPU${bare ? `; against a first boot without install scripts (initdb at start): ${ratio(first.readyMs, bare.readyMs)} the wall time, ${ratio(first.cpuMs, bare.cpuMs)} the CPU` : ''}.`;
console.log(sideBySide);
const fmt = (v: number | undefined) => (v === undefined ? '-' : String(v));
const md = `# Start-up and memory: results

Run on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version};
load average ${loadAtStart.toFixed(1)} at the start, ${loadAtEnd.toFixed(1)} at the end${loaded ? ' (**a loaded machine**: wall times are several times what an idle machine shows; CPU time and memory much less affected)' : ''}.
${RUNS} runs each, medians. Ready: spawn to the first \`/readyz\` 200. CPU: the serving process's
user + system time at that moment (install rows: all their processes' CPU). RSS: the smallest over
3 s once ready; settled: the smallest over ${SETTLE_SECONDS} s once ready, idle (V8's memory reducer gives back the
young generation start-up grew 20-30 s after the process goes quiet; the goals are on it). Heap and external (ArrayBuffers, PGlite's WebAssembly memory; for the warm boots, once settled) from the API's
\`/metrics\`. The floor is \`node -e\` of an empty HTTP server, in the same run. Every boot is
\`npm start\` (\`MALLOC_ARENA_MAX=2 node --max-semi-space-size=16 --liftoff-only scripts/start.mjs\`).

Install-time work (\`npm install\` runs \`prepare\`: \`node scripts/start.mjs --prepare\`) is
measured apart: the issue allows the compiled output to be built on install, and the template
of the embedded database is built there too. "first boot, no install scripts" is a fresh clone
installed with \`--ignore-scripts\` (console already built): everything happens at start.

| scenario | runs | ready ms | vs floor | CPU ms | RSS MB | RSS settled MB | heap used MB | heap total MB | external MB |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${summary.map((s) => `| ${s.scenario} | ${s.runs} | ${s.readyMs} | ${ratio(s.readyMs, floor.readyMs)} | ${s.cpuMs} | ${fmt(s.rssMb)} | ${fmt(s.settledRssMb)} | ${fmt(s.heapUsedMb)} | ${fmt(s.heapTotalMb)} | ${fmt(s.externalMb)} |`).join('\n')}

| goal | measured | met |
| --- | --- | --- |
| first boot (\`npm start\` after \`npm install\`) ${goals.firstBoot.goal} | ${first.readyMs} ms (install-time work before it: ${installMs} ms) | ${goals.firstBoot.met ? 'yes' : 'no'} |
| idle RSS (settled), embedded ${goals.embeddedRss.goal} | ${goals.embeddedRss.measured} MB | ${goals.embeddedRss.met ? 'yes' : 'no'} |
${goals.postgresRss ? `| idle RSS (settled), PostgreSQL ${goals.postgresRss.goal} | ${goals.postgresRss.measured} MB | ${goals.postgresRss.met ? 'yes' : 'no'} |\n` : ''}
${sideBySide}

Reproduce: \`DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/startup/run.ts\`.
`;
writeFileSync(path.join(import.meta.dirname, 'results.md'), md);
writeFileSync(
  path.join(import.meta.dirname, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), loadAverage: { start: loadAtStart, end: loadAtEnd }, loaded, cores: os.cpus().length, node: process.version, runs: RUNS, goals, summary, samples }, null, 2)}\n`,
);
