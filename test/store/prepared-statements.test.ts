/**
 * Prepared statements (ADR 0061 decision 18): a list's statement is prepared once on each
 * PostgreSQL connection that runs it and then only bound and run; the texts that may be prepared
 * are bounded; a migration that adds a column does not break a statement prepared before it; and
 * `DATABASE_PREPARED_STATEMENTS=false` prepares nothing. The embedded database runs the same
 * statements unprepared.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../../src/domain/sharing.js';
import { PREPARED_STATEMENTS_LIMIT, queryRows } from '../../src/store/sql.js';
import { readWorkloadPage } from '../../src/store/workload-page.js';
import { openOrm, type Orm } from '../../src/store/orm.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const developer: Principal = { userId: 'developer', groups: [], organization: null, roles: [], isPlatformAdmin: false };
const newestFirst = { field: 'createdAt', direction: 'DESC' } as const;

/** The page's workload names (sorted: the test clock creates them in the same instant), read in `em`'s transaction. */
async function pageNames(em: EntityManager): Promise<string[]> {
  const page = await readWorkloadPage(em, developer, {}, newestFirst, { limit: 10, inverted: false });
  return page.workloads.map((w) => w.name).sort();
}

/** The statements prepared on the connection of `em`'s transaction. */
async function preparedOnConnection(em: EntityManager): Promise<{ name: string; statement: string; generic_plans: number; custom_plans: number }[]> {
  return queryRows(em, 'select name, statement, generic_plans::int, custom_plans::int from pg_prepared_statements order by name');
}

async function createWorkloads(t: TestApp, names: string[]): Promise<void> {
  for (const name of names) {
    const r = await t.execRaw(`mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename } }`, {
      input: workloadInput({ name, artifact: artifactInput({ name }) }),
    });
    expect(r.errors).toBeUndefined();
  }
}

describeEachDatabase('prepared statements', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
    await createWorkloads(t, ['first', 'second']);
  });
  afterAll(() => t?.stop());

  it('answers a list the same on every run', async () => {
    const em = t.app.orm.em.fork();
    for (let i = 0; i < 8; i++) expect(await pageNames(em)).toEqual(['first', 'second']);
  });

  it.runIf(backend.name === 'postgres')("keeps a list's statement prepared on its connection, planned once for every run after the first few", async () => {
    await t.app.orm.em.fork().transactional(async (em) => {
      for (let i = 0; i < 8; i++) expect(await pageNames(em)).toEqual(['first', 'second']);
      const pages = (await preparedOnConnection(em)).filter((s) => s.statement.startsWith('select w.id, w.name'));
      expect(pages).toHaveLength(1);
      // PostgreSQL plans a prepared statement's first five runs with their values, then once for all.
      expect(pages[0]!.generic_plans + pages[0]!.custom_plans).toBeGreaterThanOrEqual(8);
      expect(pages[0]!.generic_plans).toBeGreaterThan(0);
    });
  });

  it.runIf(backend.name === 'postgres')('prepares at most the limit of statement texts on a connection; the rest run unnamed', async () => {
    await t.app.orm.em.fork().transactional(async (em) => {
      const texts = Array.from({ length: PREPARED_STATEMENTS_LIMIT + 10 }, (_, i) => `select ${i}::int as n, ?::text as label`);
      for (const [i, sql] of texts.entries()) {
        expect(await queryRows(em, sql, [`text ${i}`], { prepared: true })).toEqual([{ n: i, label: `text ${i}` }]);
      }
      const prepared = await preparedOnConnection(em);
      expect(prepared.length).toBeLessThanOrEqual(PREPARED_STATEMENTS_LIMIT);
      expect(prepared.filter((s) => /^select \d+::int as n/.test(s.statement)).length).toBeGreaterThan(0);
      expect(prepared.some((s) => s.statement.startsWith(`select ${PREPARED_STATEMENTS_LIMIT + 9}::int`))).toBe(false);
    });
  });

  it.runIf(backend.name === 'postgres')('reads a list prepared before a migration added a column to its table', async () => {
    const em = t.app.orm.em.fork();
    // In a transaction rolled back, so that the column goes again.
    await em.begin();
    try {
      expect(await pageNames(em)).toEqual(['first', 'second']);
      await queryRows(em, `alter table workload add column added_later text not null default 'x'`);
      // A statement that took the table's columns by `*` fails here: "cached plan must not change result type".
      expect(await pageNames(em)).toEqual(['first', 'second']);
    } finally {
      await em.rollback();
    }
  });
});

describeEachDatabase('prepared statements turned off', (backend) => {
  let orm: Orm;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    orm = await openOrm(db.database.kind === 'postgres' ? { ...db.database, preparedStatements: false } : db.database, { maintenance: false });
  });
  afterAll(async () => {
    await orm?.close(true);
    await drop?.();
  });

  it('runs a list prepared on no connection (behind a pooler that moves sessions between clients)', async () => {
    await orm.em.fork().transactional(async (em) => {
      for (let i = 0; i < 3; i++) expect(await pageNames(em as EntityManager)).toEqual([]);
      if (backend.name === 'postgres') expect(await preparedOnConnection(em as EntityManager)).toEqual([]);
    });
  });
});
