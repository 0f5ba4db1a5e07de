/**
 * The database's maintenance: tables are analyzed once their size moves, so the planner sees what
 * they hold (on a server too: autovacuum comes a minute late, or never where it is off), and the
 * embedded database's (PGlite has no autovacuum) vacuumed on a schedule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeChanged,
  EMBEDDED_MAINTENANCE,
  MAINTENANCE_TAG,
  SERVER_MAINTENANCE,
  startMaintenance,
  tablesToAnalyze,
  vacuumAll,
  type RunSql,
} from '../../src/store/embedded-maintenance.js';
import { openOrm, type Orm } from '../../src/store/orm.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { recordSql } from '../support/sql-log.js';

const SETTINGS = { checkMs: 20, vacuumMs: 60_000, growth: 0.2, minPages: 4 };

describe('embedded database maintenance', () => {
  let orm: Orm;
  let run: RunSql;
  const stats = async (table: string) =>
    (await run<{ reltuples: number; last_analyze: Date | null; last_vacuum: Date | null }>(
      `select c.reltuples, s.last_analyze, s.last_vacuum from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.relname = ?`,
      [table],
    ))[0]!;

  beforeAll(async () => {
    orm = await openOrm({ kind: 'pglite-memory' }, { maintenance: false });
    run = (sql, params) => orm.em.fork().getConnection().execute(sql, params ?? [], 'all');
    await run('create table grown (id int primary key, note text)');
    await run('create table unchanged (id int primary key)');
    await run('insert into unchanged select g from generate_series(1, 2000) g');
    await run('analyze unchanged');
  });
  afterAll(async () => {
    await orm?.close(true);
  });

  it('analyzes a table that grew, and leaves one that did not', async () => {
    await run(`insert into grown select g, repeat('x', 100) from generate_series(1, 5000) g`);
    expect((await stats('grown')).reltuples).toBeLessThan(0); // never analyzed: the planner guesses
    expect(await analyzeChanged(run, SETTINGS)).toEqual(['grown']);
    expect((await stats('grown')).reltuples).toBe(5000);
    expect(await tablesToAnalyze(run, SETTINGS)).toEqual([]);
  });

  it('does not analyze again for growth under the threshold, and does past it', async () => {
    await run(`insert into grown select g, repeat('x', 100) from generate_series(5001, 5100) g`);
    expect(await tablesToAnalyze(run, SETTINGS)).toEqual([]);
    await run(`insert into grown select g, repeat('x', 100) from generate_series(5101, 7000) g`);
    expect(await analyzeChanged(run, SETTINGS)).toEqual(['grown']);
    expect((await stats('grown')).reltuples).toBe(7000);
  });

  it("gives the planner a join order that fits the table's size once analyzed", async () => {
    await run('create table member (grown_id int, who text)');
    await run(`insert into member select g, 'someone' from generate_series(1, 7000) g`);
    const plan = async () =>
      (await run<{ 'QUERY PLAN': string }>(`explain select count(*) from grown g where g.id in (select m.grown_id from member m where m.who = 'someone')`))
        .map((r) => r['QUERY PLAN'])
        .join('\n');
    await analyzeChanged(run, SETTINGS);
    expect(await plan()).toMatch(/Hash (Semi )?Join|Hash Right Semi Join|Merge/);
    expect(await plan()).not.toMatch(/Materialize/);
  });

  it('vacuums every table of the schema', async () => {
    await run('update unchanged set id = id + 10000');
    await vacuumAll(run);
    expect((await stats('unchanged')).last_vacuum).toBeInstanceOf(Date);
    expect((await stats('grown')).last_vacuum).toBeInstanceOf(Date);
  });

  it('runs on its interval until stopped, and reports a failed run', async () => {
    await run(`insert into unchanged select g from generate_series(20001, 40000) g`);
    const errors: unknown[] = [];
    let failNext = true;
    const flaky: RunSql = (sql, params) => {
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('the database is restarting'));
      }
      return run(sql, params);
    };
    const maintenance = startMaintenance(flaky, SETTINGS, (err) => errors.push(err));
    await expect.poll(async () => (await stats('unchanged')).reltuples, { timeout: 5_000 }).toBeGreaterThan(20_000);
    await maintenance.stop();
    expect(errors).toEqual([new Error('the database is restarting')]);
  });
});

it('reports the first failure of an outage only, and the first of the next outage after a run that worked', async () => {
  const errors: unknown[] = [];
  let down = true;
  let runs = 0;
  const run: RunSql = async <T,>() => {
    runs++;
    if (down) throw new Error(`the database is down (run ${runs})`);
    return [] as T[];
  };
  const maintenance = startMaintenance(run, { ...SERVER_MAINTENANCE, checkMs: 5 }, (err) => errors.push(err));
  await expect.poll(() => runs, { timeout: 2_000 }).toBeGreaterThan(5);
  expect(errors).toEqual([new Error('the database is down (run 1)')]);
  down = false;
  const back = runs;
  await expect.poll(() => runs, { timeout: 2_000 }).toBeGreaterThan(back + 2);
  down = true;
  const again = runs;
  await expect.poll(() => runs, { timeout: 2_000 }).toBeGreaterThan(again + 3);
  await maintenance.stop();
  expect(errors).toHaveLength(2);
  expect(String(errors[1])).toMatch(/the database is down/);
});

it('checks sizes only after the API sent statements, and again after a check that failed', async () => {
  let checks = 0;
  let fail = false;
  const run: RunSql = async <T,>(sql: string) => {
    if (sql.includes('pg_class')) checks++;
    if (fail) throw new Error('the database is down');
    return [] as T[];
  };
  let sent = 0;
  const maintenance = startMaintenance(run, { ...SERVER_MAINTENANCE, checkMs: 5 }, () => {}, () => sent);
  await expect.poll(() => checks, { timeout: 2_000 }).toBe(1);
  await new Promise((r) => setTimeout(r, 60));
  expect(checks).toBe(1); // idle: nothing sent since
  sent += 3;
  await expect.poll(() => checks, { timeout: 2_000 }).toBe(2);
  await new Promise((r) => setTimeout(r, 60));
  expect(checks).toBe(2);
  fail = true;
  sent += 1;
  await expect.poll(() => checks, { timeout: 2_000 }).toBeGreaterThan(3); // a failed check is made again while idle
  fail = false;
  const recovered = checks;
  await new Promise((r) => setTimeout(r, 60));
  expect(checks).toBe(recovered + 1);
  await maintenance.stop();
});

/** A default check comes within this (its interval, 1 s, and the analysis). */
const CHECK_WITHIN_MS = 5_000;

describeEachDatabase('the database opened by the API', (backend) => {
  it('is analyzed once a table grows without being asked, apart from the statements requests send, and the maintenance stops with the database', async () => {
    const { database, drop } = await createDatabase(backend);
    const sent: string[] = [];
    // The defaults: the embedded database's, or a server's (analysis only), every second after activity.
    const orm = await openOrm(database, { onQuery: (sql) => sent.push(sql) });
    const log = recordSql(orm);
    try {
      const run: RunSql = (sql, params) => orm.em.fork().getConnection().execute(sql, params ?? [], 'all');
      await run('create table grows (id int)');
      await run('insert into grows select g from generate_series(1, 5000) g');
      await expect
        .poll(async () => (await run<{ reltuples: number }>(`select reltuples from pg_class where relname = 'grows'`))[0]!.reltuples, { timeout: CHECK_WITHIN_MS, interval: 200 })
        .toBe(5000);
      // Tests count what a request sends (onQuery, recordSql): the maintenance's catalog reads and analyses are not among it.
      expect(sent.filter((q) => /relpages|analyze "/i.test(q))).toEqual([]);
      expect(log.statements.filter((q) => /relpages|analyze /i.test(q))).toEqual([]);
      log.stop();
      // Idle, the API sends its database nothing: no check follows a second without statements.
      const checks: string[] = [];
      const client = orm.em.getKnex().client as unknown as { on(e: 'query', l: (q: { sql: string }) => void): void; off(e: 'query', l: (q: { sql: string }) => void): void };
      const listener = (q: { sql: string }) => {
        if (q.sql.startsWith(MAINTENANCE_TAG)) checks.push(q.sql);
      };
      await new Promise((r) => setTimeout(r, 1_500)); // the check after the statements above
      client.on('query', listener);
      await new Promise((r) => setTimeout(r, 2_500));
      client.off('query', listener);
      expect(checks).toEqual([]);
      if (backend.name === 'postgres') {
        // A server's autovacuum vacuums: the API only analyzes.
        const [row] = await run<{ last_vacuum: Date | null; last_analyze: Date | null }>(`select last_vacuum, last_analyze from pg_stat_user_tables where relname = 'grows'`);
        expect(row!.last_vacuum).toBeNull();
        expect(row!.last_analyze).not.toBeNull();
      }
    } finally {
      await orm.close(true);
      await drop();
    }
  }, 20_000);
});

it('a server never gets a vacuum from the API, however long it runs', async () => {
  const ran: string[] = [];
  const run: RunSql = async <T,>(sql: string) => {
    ran.push(sql.trim().split(/\s+/)[0]!.toLowerCase());
    return [] as T[];
  };
  const maintenance = startMaintenance(run, { ...SERVER_MAINTENANCE, checkMs: 5 }, () => {});
  await new Promise((r) => setTimeout(r, 60));
  await maintenance.stop();
  expect(ran.length).toBeGreaterThan(2);
  expect(new Set(ran)).toEqual(new Set(['select']));
});
