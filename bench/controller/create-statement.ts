/**
 * PostgreSQL's CPU per create in the create statement (`workload_create_batch`), on an idle
 * server: the database's part of a create that `run.ts` measures inside a burst, alone.
 *
 * One create is made through the API in this process (a workload on its own spec, as the burst's
 * creates are) and the item its statement wrote is kept as a template. Each measured item is that
 * template with new ids, its own name, one of four owners, and quota limits no run reaches (a
 * create refused by its quota costs a fraction of one written, so limits reached mid-run would
 * flatter the figure). Statements of `--size` items run one after another on one warm connection
 * (its first statements compile the functions and load the catalog, so they are left out), and the
 * backend's CPU (/proc/PID/stat) is read around them. Beside it, PostgreSQL's own time in each
 * PL/pgSQL function (track_functions), per create.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/controller/create-statement.ts \
 *     [--size 32] [--statements 60] [--setup FILE.sql] [--statement-times]
 *
 * `--setup` runs a file of SQL on the migrated database before the run (a variant of a function
 * or an index to compare, alternated with a run without it). `--statement-times` runs it on a
 * PostgreSQL server of its own (this machine's binaries, DATABASE_URL unused) with
 * `pg_stat_statements` tracking nested statements too, and prints each statement's execution and
 * planning time a create: on a machine whose pace moves between runs, a variant is best judged by
 * its statements' times against another statement's of the same run. It prints; it records nothing.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { SignJWT } from 'jose';
import pg from 'pg';
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startThrowawayPostgres } from '../../test/support/throwaway-postgres.js';
import { median, processTicks, scratchDatabase } from '../support.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const value = process.argv[i + 1];
  const flag = value === undefined || value.startsWith('--');
  args.set(process.argv[i]!.replace(/^--/, ''), flag ? '' : value);
  if (!flag) i++;
}
const SIZE = Number(args.get('size') ?? 32);
const STATEMENTS = Number(args.get('statements') ?? 60);
const SETUP = args.get('setup');
const STATEMENT_TIMES = args.has('statement-times');
// With --statement-times, a server of the run's own that loads pg_stat_statements.
const server = STATEMENT_TIMES
  ? await startThrowawayPostgres(['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all', '-c', 'pg_stat_statements.track_planning=on'])
  : undefined;
const adminUrl = server?.url ?? process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (a role that may create databases) is required');

const SECRET = 'create-statement-bench-secret-of-32-characters';
const scratch = await scratchDatabase(adminUrl, `bench_create_statement_${Date.now().toString(36)}`);
try {
  // The template: the item the API's one create wrote, taken as the batch writer is handed it.
  const config = loadConfig({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
  const app = await buildApp({ config, database: { kind: 'postgres', url: scratch.url }, logger: pino({ level: 'silent' }) });
  let template: string | undefined;
  const creates = app.services.workloads.creates;
  const add = creates.add.bind(creates);
  creates.add = (item: string) => ((template ??= item), add(item));
  const token = await new SignJWT({ org: 'bench' }).setProtectedHeader({ alg: 'HS256' }).setSubject('owner-0').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  const response = await app.yoga.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: 'mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename } }',
      variables: { input: { name: 'template', importance: 'LOW', artifact: { name: 'template', spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] } } } },
    }),
  });
  const created = (await response.json()) as { data?: { createWorkload?: { __typename: string } } };
  await app.stop();
  if (created.data?.createWorkload?.__typename !== 'CreateWorkloadPayload' || !template) throw new Error(`the template create failed: ${JSON.stringify(created)}`);

  const parsed = JSON.parse(template) as { quota?: { subjects: { limits: Record<string, number> }[] } };
  for (const subject of parsed.quota?.subjects ?? []) for (const r of Object.keys(subject.limits)) subject.limits[r] = 1e15;
  const text = JSON.stringify(parsed);
  const ids = [...new Set(text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g))];
  let k = 0;
  const item = () => {
    let s = text;
    for (const id of ids) s = s.split(id).join(randomUUID());
    const n = k++;
    return s.split('"template"').join(JSON.stringify(`w-${n}`)).split('"owner-0"').join(JSON.stringify(`owner-${n % 4}`));
  };
  const statement = () => `[${Array.from({ length: SIZE }, item).join(',')}]`;

  const c = new pg.Client({ connectionString: scratch.url });
  await c.connect();
  try {
    if (SETUP) await c.query(readFileSync(SETUP, 'utf8'));
    if (STATEMENT_TIMES) await c.query('create extension pg_stat_statements');
    await c.query(`set track_functions = 'pl'`);
    const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const cpuMs = () => processTicks(pid).ticks * 10; // USER_HZ: 100 ticks a second
    const write = async (items: string) => {
      const r = await c.query<{ results: { sequence?: number }[] }>('select workload_create_batch($1::jsonb) as results', [items]);
      const results = r.rows[0]!.results;
      if (results.length !== SIZE || results.some((x) => x.sequence !== 1)) throw new Error(`not every create was written: ${JSON.stringify(results).slice(0, 300)}`);
    };
    // A backend reports its functions' times when it goes idle, at most once a second: the warm-up's
    // are reported, then cleared.
    const reported = async () => {
      await new Promise((r) => setTimeout(r, 1100));
      await c.query('select 1');
    };
    for (let i = 0; i < 5; i++) await write(statement());
    await reported();
    await c.query('select pg_stat_reset()');
    if (STATEMENT_TIMES) await c.query('select pg_stat_statements_reset()');
    const prepared = Array.from({ length: STATEMENTS }, statement);
    const walls: number[] = [];
    const cpuBefore = cpuMs();
    for (const items of prepared) {
      const t0 = performance.now();
      await write(items);
      walls.push(performance.now() - t0);
    }
    const cpu = cpuMs() - cpuBefore;
    const creates = STATEMENTS * SIZE;
    await reported();
    const functions = await c.query<{ name: string; calls: number; self: number }>(
      'select funcname as name, calls::int, self_time as self from pg_stat_user_functions order by self_time desc',
    );
    console.log(
      `${os.cpus()[0]?.model.trim()}, load ${os.loadavg()[0]!.toFixed(1)}: ${creates} creates in ${STATEMENTS} statements of ${SIZE}${SETUP ? ` (setup ${SETUP})` : ''}: ` +
        `the backend's CPU ${(cpu / creates).toFixed(3)} ms a create; a statement ${median(walls).toFixed(2)} ms at the median (wall)`,
    );
    const counted = functions.rows.find((f) => f.name === 'workload_create_batch')?.calls ?? 0;
    const per = counted * SIZE;
    if (per > 0) console.log(`self time per create (of ${counted} statements reported): ${functions.rows.map((f) => `${f.name} ${(f.self / per).toFixed(3)}`).join(', ')}`);
    if (STATEMENT_TIMES) {
      // Each statement's execution (a nested one's time is also in its caller's) and planning, per create.
      const statements = await c.query<{ calls: number; exec: number; plan: number; plans: number; query: string }>(
        `select calls::int, total_exec_time as exec, total_plan_time as plan, plans::int, regexp_replace(query, '\\s+', ' ', 'g') as query
           from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
            and query not like '%pg_stat%' order by total_exec_time desc limit 15`,
      );
      console.log('pg_stat_statements, µs a create: execution / planning, calls, statement');
      for (const r of statements.rows) {
        console.log(`${((r.exec / creates) * 1000).toFixed(1).padStart(8)} / ${((r.plan / creates) * 1000).toFixed(1).padStart(5)} ${String(r.calls).padStart(6)}  ${r.query.slice(0, 130)}`);
      }
    }
  } finally {
    await c.end();
  }
} finally {
  await scratch.drop();
  await server?.destroy();
}
