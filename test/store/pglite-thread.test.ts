/**
 * The embedded database on its own thread: what crosses the thread comes back as PGlite gives it,
 * the ORM sees PostgreSQL's errors as before, a stopped thread fails what waits on it, and the API's
 * thread is not held while a statement runs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, violatedUniqueConstraint } from '../../src/store/errors.js';
import { openOrm, type Orm } from '../../src/store/orm.js';
import { pgliteModule } from '../../src/store/pglite-module.js';
import { EmbeddedDatabaseError, startEmbeddedDatabaseThread, type EmbeddedDatabase } from '../../src/store/pglite-thread.js';

describe('the embedded database thread', () => {
  let db: EmbeddedDatabase;
  beforeAll(async () => {
    db = startEmbeddedDatabaseThread({ wasmModule: (await pgliteModule()).module });
    await db.waitReady;
  });
  afterAll(async () => {
    await db?.close();
  });

  it('returns rows with their types: dates, JSON values, numbers, byte arrays and nulls', async () => {
    const result = await db.query(
      `select $1::timestamptz as at, $2::jsonb as doc, 42::int as n, '\\x0102'::bytea as bytes, null::text as nothing`,
      ['2026-12-04T10:00:00.000Z', JSON.stringify({ a: [1, 'b'] })],
    );
    expect(result.rows).toEqual([{ at: new Date('2026-12-04T10:00:00.000Z'), doc: { a: [1, 'b'] }, n: 42, bytes: new Uint8Array([1, 2]), nothing: null }]);
    expect(result.fields.map((f) => f.name)).toEqual(['at', 'doc', 'n', 'bytes', 'nothing']);
  });

  it("parses arrays of the built-in types, and keeps no parsers for arrays of the system catalogs' rows", async () => {
    const result = await db.query(
      `select array['a', 'b']::text[] as texts, array[1, 2]::int[] as ints, array[$1::timestamptz] as ats,
              array['{"a":1}'::jsonb] as docs, array['6f1c4a52-9d35-4c1e-8b8a-0c6a1f1f2b3e'::uuid] as ids,
              (select array[c] from pg_constraint c limit 1) as catalog_rows`,
      ['2026-12-06T10:00:00.000Z'],
    );
    const [row] = result.rows;
    expect(row).toMatchObject({
      texts: ['a', 'b'],
      ints: [1, 2],
      ats: [new Date('2026-12-06T10:00:00.000Z')],
      docs: [{ a: 1 }],
      ids: ['6f1c4a52-9d35-4c1e-8b8a-0c6a1f1f2b3e'],
    });
    // PGlite copies its parsers for every statement; those of the catalogs' row types are not
    // kept (no statement of the API returns them), so such an array comes back as PostgreSQL's text.
    expect(result.fields.find((f) => f.name === 'catalog_rows')!.dataTypeID).toBeGreaterThanOrEqual(10000);
    expect(typeof row!.catalog_rows).toBe('string');
    expect(row!.catalog_rows).toMatch(/^\{"\(/);
  });

  it('runs several statements in one exec, and reports rows affected', async () => {
    const results = await db.exec('create table t (id int primary key); insert into t values (1), (2);');
    expect(results).toHaveLength(2);
    expect((await db.query('update t set id = id + 10')).affectedRows).toBe(2);
  });

  it("rejects with PostgreSQL's fields on the error (code, constraint, detail)", async () => {
    await db.query('create table u (id int constraint u_pkey primary key)');
    await db.query('insert into u values (1)');
    const err = await db.query('insert into u values (1)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddedDatabaseError);
    expect(err).toMatchObject({ code: '23505', constraint: 'u_pkey', table: 'u', message: expect.stringContaining('duplicate key') });
    expect((err as EmbeddedDatabaseError).detail).toContain('(id)=(1)');
  });

  it("does not hold the caller's thread while a long statement runs", async () => {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const started = performance.now();
    await db.query('select count(*) from generate_series(1, 1000000)');
    const elapsed = performance.now() - started;
    delay.disable();
    // The statement takes hundreds of milliseconds of the database's thread; this one stays free.
    expect(elapsed).toBeGreaterThan(100);
    expect(delay.max / 1e6).toBeLessThan(elapsed / 2);
  });
});

describe('a stopped or closed database thread', () => {
  it('fails what was waiting, and what comes after, as unavailable when the thread dies', async () => {
    // A thread that runs out of heap is stopped by Node, as one whose PostgreSQL aborted would be.
    const db = startEmbeddedDatabaseThread({ wasmModule: (await pgliteModule()).module, resourceLimits: { maxOldGenerationSizeMb: 96 } });
    await db.waitReady;
    const err = await db.query(`select repeat('x', 1000000) as s from generate_series(1, 400)`).catch((e: unknown) => e);
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect((err as Error).message).toMatch(/the embedded database stopped/);
    const after = await db.query('select 1').catch((e: unknown) => e);
    expect(isDatabaseUnavailable(after)).toBe(true);
    await db.close();
  });

  it('refuses statements once closed, as unavailable', async () => {
    const db = startEmbeddedDatabaseThread({ wasmModule: (await pgliteModule()).module });
    await db.waitReady;
    expect((await db.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await db.close();
    const err = await db.query('select 1').catch((e: unknown) => e);
    expect(isDatabaseUnavailable(err)).toBe(true);
  });
});

describe('the ORM on the embedded database thread', () => {
  let orm: Orm;
  beforeAll(async () => {
    orm = await openOrm({ kind: 'pglite-memory' });
  });
  afterAll(async () => {
    await orm?.close(true);
  });

  it('converts a unique violation to the ORM exception that names the constraint', async () => {
    const em = orm.em.fork();
    await em.execute('create table v (id int constraint v_pkey primary key)');
    await em.execute('insert into v values (1)');
    const err = await em.execute('insert into v values (1)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UniqueConstraintViolationException);
    expect(violatedUniqueConstraint(err)).toBe('v_pkey');
  });

  it('closes the database with the ORM', async () => {
    const other = await openOrm({ kind: 'pglite-memory' });
    const conn = other.em.fork().getConnection();
    await other.close(true);
    const err = await conn.execute('select 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });
});
