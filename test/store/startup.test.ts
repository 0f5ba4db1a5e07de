import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsList } from '../../migrations/index.js';
import { openOrm, type Orm } from '../../src/store/orm.js';
import { EMBEDDED_SHARED_BUFFERS, pgliteModule, rewriteSharedBuffers } from '../../src/store/pglite-module.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';

describe('rewriteSharedBuffers', () => {
  const wasm = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));

  it('rewrites the built-in argument in place, NUL-padded to its length', () => {
    const out = rewriteSharedBuffers(wasm('\0-c\0shared_buffers=128MB\0wal_buffers=4MB\0'), '16MB');
    expect(Buffer.from(out!).toString('latin1')).toBe('\0-c\0shared_buffers=16MB\0\0wal_buffers=4MB\0');
  });

  it('leaves a binary without the argument, or with it twice, alone', () => {
    expect(rewriteSharedBuffers(wasm('shared_buffers=64MB'), '16MB')).toBeNull();
    expect(rewriteSharedBuffers(wasm('shared_buffers=128MB shared_buffers=128MB'), '16MB')).toBeNull();
  });

  it('refuses a value longer than the built-in one', () => {
    expect(() => rewriteSharedBuffers(wasm('shared_buffers=128MB'), '1024MB')).toThrow(RangeError);
  });
});

describe('the embedded database', () => {
  let orm: Orm;
  beforeAll(async () => {
    orm = await openOrm({ kind: 'pglite-memory' });
  });
  afterAll(async () => {
    await orm?.close(true);
  });

  it(`runs with shared_buffers = ${EMBEDDED_SHARED_BUFFERS}, not PGlite's built-in 128MB`, async () => {
    expect((await pgliteModule()).sharedBuffersTuned).toBe(true);
    const [row] = await orm.em.fork().getConnection().execute<{ shared_buffers: string }[]>('show shared_buffers');
    expect(row?.shared_buffers).toBe(EMBEDDED_SHARED_BUFFERS);
    expect(row?.shared_buffers).not.toBe('128MB');
  });
});

describeEachDatabase('opening a migrated database', (backend) => {
  let database: Awaited<ReturnType<typeof createDatabase>>;
  beforeAll(async () => {
    database = await createDatabase(backend, { persistent: true });
    await (await openOrm(database.database)).close(true);
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('checks the applied migrations in one query and leaves the migrator unused', async () => {
    const queries: string[] = [];
    const orm = await openOrm(database.database, { onQuery: (sql) => queries.push(sql) });
    try {
      expect(queries.filter((q) => q.includes('mikro_orm_migrations'))).toEqual([
        expect.stringContaining('select name from "mikro_orm_migrations" order by id'),
      ]);
      // The migrator's own check introspects the schema first.
      expect(queries.filter((q) => /information_schema|create table/i.test(q))).toEqual([]);
      const executed = await orm.getMigrator().getExecutedMigrations();
      expect(executed.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
    } finally {
      await orm.close(true);
    }
  });

  it('applies a migration the database lacks', async () => {
    const orm = await openOrm(database.database);
    const last = migrationsList[migrationsList.length - 1]!;
    try {
      // Roll the last migration back, as if this database predated it.
      await orm.getMigrator().down({ to: migrationsList[migrationsList.length - 2]!.name });
    } finally {
      await orm.close(true);
    }
    const reopened = await openOrm(database.database);
    try {
      const executed = await reopened.getMigrator().getExecutedMigrations();
      expect(executed.map((m) => m.name)).toContain(last.name);
    } finally {
      await reopened.close(true);
    }
  });
});
