/**
 * Statistics read benchmark (issue #14): what one `statistics` read costs the database as a
 * workload's minute buckets pile up, and whether another workload's read pays for them.
 *
 *   - data: workload A with N minute buckets of requests on its proton (N = 60, 1,440, 10,080,
 *     43,200: an hour, a day, a week, a month of minutes with traffic), workload B with none, both
 *     in the same table; built through the API (compiled JavaScript, in process) and
 *     `addStatisticsBatch`, the table analyzed after each step.
 *   - reads (`readRequestStatisticsBatch`, what `Workload.statistics` runs): A's whole epoch (the
 *     default window), A's last hour, and B's whole epoch; the median of several, in ms.
 *   - floor: one hand-written statement that sums A's request counts in the window (the index
 *     range, no histogram, no series): what reading the buckets costs at the least.
 *   - on PostgreSQL (`DATABASE_URL`, a database of its own) and on the embedded database.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/statistics/run.ts [--buckets 60,1440,10080,43200] [--db postgres,pglite]
 *
 * Writes bench/statistics/results.json and results.md.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { emptyHistogram, latencyBucketIndex } from '../../src/domain/request-statistics.js';
import { readRequestStatisticsBatch } from '../../src/service/request-statistics.js';
import { addStatisticsBatch, type StatisticsAggregate } from '../../src/store/request-statistics.js';
import { queryRows } from '../../src/store/sql.js';
import { rawId } from '../../src/graphql/common/errors.type.js';
import { median, scratchDatabase } from '../support.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const BUCKETS = (args.get('buckets') ?? '60,1440,10080,43200').split(',').map(Number);
const adminUrl = process.env.DATABASE_URL;
const DATABASES = (args.get('db') ?? (adminUrl ? 'postgres,pglite' : 'pglite')).split(',') as ('postgres' | 'pglite')[];
const SECRET = 'bench-secret-of-at-least-thirty-two-characters';
const loadStart = os.loadavg();

async function timed(times: number, run: () => Promise<unknown>): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  return median(samples);
}

interface Row { database: string; buckets: number; wholeEpochMs: number; lastHourMs: number; otherWorkloadMs: number; floorMs: number }

async function measure(kind: 'postgres' | 'pglite'): Promise<Row[]> {
  let drop = async () => {};
  let database: Parameters<typeof buildApp>[0]['database'] = { kind: 'pglite-memory' };
  if (kind === 'postgres') {
    const scratch = await scratchDatabase(adminUrl!, `wl_bench_stats_${randomBytes(4).toString('hex')}`);
    database = { kind: 'postgres', url: scratch.url, poolMax: 4 };
    drop = scratch.drop;
  }
  const config = loadConfig({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, SIMULATED_SPEED: '100', LOG_LEVEL: 'silent' });
  const app = await buildApp({ config, database, logger: pino({ level: 'silent' }) });
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bench').setIssuedAt(now).setExpirationTime(now + 3600)
      .sign(new TextEncoder().encode(SECRET));
    const create = async (name: string) => {
      const response = await app.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: 'mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { id protons { id } } } ... on Error { message } } }',
          variables: { input: { name, artifact: { name, spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/app:1', primary: true, port: 8080 }] }] } } } },
        }),
      });
      const body = (await response.json()) as { data: { createWorkload: { workload?: { id: string; protons: { id: string }[] }; message?: string } } };
      const w = body.data.createWorkload.workload;
      if (!w) throw new Error(JSON.stringify(body));
      return { workloadId: rawId(w.id, 'Workload'), protonId: rawId(w.protons[0]!.id, 'Proton') };
    };
    const a = await create('busy');
    const b = await create('quiet');
    const em = () => app.orm.em.fork();
    const end = Math.floor(Date.now() / 60_000) * 60_000;
    const rows: Row[] = [];
    let have = 0;
    for (const n of BUCKETS) {
      for (let from = have; from < n; from += 5000) {
        const batch: StatisticsAggregate[] = [];
        for (let i = from; i < Math.min(n, from + 5000); i++) {
          const bucketStart = new Date(end - (i + 1) * 60_000);
          const latency = 1 + (i % 200);
          const histogram = emptyHistogram();
          histogram[latencyBucketIndex(latency)] = 10;
          batch.push({ ...a, bucketStart, requestCount: 10, clientErrorCount: i % 3, serverErrorCount: 0, latencySumMs: 10 * latency, latencyMaxMs: latency, latencyHistogram: histogram, peakConcurrency: 2, lastRequestAt: bucketStart });
        }
        await addStatisticsBatch(em(), batch);
      }
      have = n;
      await queryRows(em(), 'analyze proton_request_statistics');
      const times = n >= 10_000 ? 5 : 15;
      const hourAgo = new Date(end - 3600_000);
      const row: Row = {
        database: kind,
        buckets: n,
        wholeEpochMs: await timed(times, () => readRequestStatisticsBatch(em(), [{ workloadId: a.workloadId }])),
        lastHourMs: await timed(15, () => readRequestStatisticsBatch(em(), [{ workloadId: a.workloadId, from: hourAgo }])),
        otherWorkloadMs: await timed(15, () => readRequestStatisticsBatch(em(), [{ workloadId: b.workloadId }])),
        floorMs: await timed(times, () => queryRows(em(), `select sum(request_count) from proton_request_statistics where workload_id = ? and since = '-infinity'::timestamptz`, [a.workloadId])),
      };
      rows.push(row);
      console.log(`${kind} ${n} buckets: whole epoch ${row.wholeEpochMs.toFixed(2)} ms (floor ${row.floorMs.toFixed(2)}), last hour ${row.lastHourMs.toFixed(2)} ms, another workload ${row.otherWorkloadMs.toFixed(2)} ms`);
    }
    return rows;
  } finally {
    await app.stop();
    await drop();
  }
}

const rows: Row[] = [];
for (const kind of DATABASES) rows.push(...(await measure(kind)));
const loadEnd = os.loadavg();
const results = { date: new Date().toISOString(), cpus: os.cpus().length, node: process.version, loadAverageStart: loadStart, loadAverageEnd: loadEnd, rows };
const f = (n: number) => n.toFixed(2);
const md = [
  '# Statistics reads as buckets pile up',
  '',
  `Run ${results.date}, ${results.cpus} cores, Node ${results.node}; load average ${loadStart.map(f).join(' / ')} at start, ${loadEnd.map(f).join(' / ')} at end.`,
  'One workload (A) with N minute buckets of requests, another (B) with none, in one table. `readRequestStatisticsBatch` (what',
  '`Workload.statistics` runs), median ms: A over its whole epoch (the default window), A over the last hour, B over its',
  'whole epoch. Floor: one statement summing A\'s request counts over the same index range (no histogram, no series).',
  'Command: `DATABASE_URL=... npx tsx bench/statistics/run.ts`.',
  '',
  '| database | buckets of A | A, whole epoch ms | floor ms | ratio | A, last hour ms | B (no buckets) ms |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.database} | ${r.buckets} | ${f(r.wholeEpochMs)} | ${f(r.floorMs)} | ${f(r.wholeEpochMs / r.floorMs)}x | ${f(r.lastHourMs)} | ${f(r.otherWorkloadMs)} |`),
  '',
  'What the figures mean and what changed: `notes.md` (kept by hand).',
  '',
].join('\n');
writeFileSync(path.join(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(path.join(import.meta.dirname, 'results.md'), md);
console.log('wrote bench/statistics/results.md');
process.exit(0);
