import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsList } from '../../migrations/index.js';
import { openOrm } from '../../src/store/orm.js';
import { buildTemplate, currentTemplateKey, seedFromTemplate, templateFits, templateIsCurrent, type TemplateKey } from '../../src/store/pglite-template.js';

describe('templateFits', () => {
  const current: TemplateKey = { pglite: '0.3.16', migrations: ['a', 'b', 'c'] };
  it.each([
    ['the same version and migrations', { pglite: '0.3.16', migrations: ['a', 'b', 'c'] }, true],
    ['a prefix of the migrations (the migrator applies the rest)', { pglite: '0.3.16', migrations: ['a', 'b'] }, true],
    ['no migrations yet', { pglite: '0.3.16', migrations: [] }, true],
    ['another PGlite version', { pglite: '0.3.15', migrations: ['a', 'b', 'c'] }, false],
    ['a migration this code does not know', { pglite: '0.3.16', migrations: ['a', 'b', 'c', 'd'] }, false],
    ['migrations in another order', { pglite: '0.3.16', migrations: ['b', 'a'] }, false],
    ['a different migration in the middle', { pglite: '0.3.16', migrations: ['a', 'x', 'c'] }, false],
  ])('%s: %s', (_, template, fits) => {
    expect(templateFits(template, current)).toBe(fits);
  });
});

describe('the embedded database template', () => {
  let dir: string;
  let templateDir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'wl-template-'));
    templateDir = path.join(dir, 'template');
    await buildTemplate(templateDir, async (dataDir) => (await openOrm({ kind: 'pglite', dataDir })).close(true));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records the PGlite version and every migration', async () => {
    const key = JSON.parse(await readFile(path.join(templateDir, 'template.json'), 'utf8')) as TemplateKey;
    expect(key).toEqual(await currentTemplateKey());
    expect(key.migrations).toEqual(migrationsList.map((m) => m.name));
  });

  it('seeds a new data directory that opens migrated, without creating a database or migrating', async () => {
    const dataDir = path.join(dir, 'seeded');
    const queries: string[] = [];
    const orm = await openOrm({ kind: 'pglite', dataDir, templateDir }, { onQuery: (sql) => queries.push(sql) });
    try {
      expect(await stat(path.join(dataDir, 'pgdata', 'PG_VERSION'))).toBeTruthy();
      // Only the one-query check of the applied migrations: the migrator did not run.
      expect(queries.filter((q) => /create table|information_schema/i.test(q))).toEqual([]);
      const executed = await orm.getMigrator().getExecutedMigrations();
      expect(executed.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
      const [row] = await orm.em.fork().getConnection().execute<{ n: string }[]>('select count(*) as n from workload');
      expect(Number(row?.n)).toBe(0);
    } finally {
      await orm.close(true);
    }
  });

  it('leaves a data directory that holds a database alone', async () => {
    const pgdata = path.join(dir, 'existing', 'pgdata');
    await mkdir(pgdata, { recursive: true });
    await writeFile(path.join(pgdata, 'PG_VERSION'), '17\n');
    expect(await seedFromTemplate(pgdata, templateDir)).toBe(false);
    expect(await readFile(path.join(pgdata, 'PG_VERSION'), 'utf8')).toBe('17\n');
  });

  it('is not used by another PGlite version, and the database is created from scratch', async () => {
    const other = path.join(dir, 'other-version');
    await buildTemplate(other, async (dataDir) => {
      await mkdir(path.join(dataDir, 'pgdata'), { recursive: true });
      await writeFile(path.join(dataDir, 'pgdata', 'not-a-database'), '');
    });
    const key = JSON.parse(await readFile(path.join(other, 'template.json'), 'utf8')) as TemplateKey;
    await writeFile(path.join(other, 'template.json'), JSON.stringify({ ...key, pglite: '0.0.1' }));
    const dataDir = path.join(dir, 'fresh');
    expect(await seedFromTemplate(path.join(dataDir, 'pgdata'), other)).toBe(false);
    const orm = await openOrm({ kind: 'pglite', dataDir, templateDir: other });
    try {
      const executed = await orm.getMigrator().getExecutedMigrations();
      expect(executed.map((m) => m.name)).toEqual(migrationsList.map((m) => m.name));
      await expect(stat(path.join(dataDir, 'pgdata', 'not-a-database'))).rejects.toThrow();
    } finally {
      await orm.close(true);
    }
  });

  it('counts as current for seeding with a prefix of the migrations, but is rebuilt by install only with all of them', async () => {
    const earlier = path.join(dir, 'earlier');
    await buildTemplate(earlier, async (dataDir) => (await openOrm({ kind: 'pglite', dataDir })).close(true));
    expect(await templateIsCurrent(earlier, true)).toBe(true);
    const key = JSON.parse(await readFile(path.join(earlier, 'template.json'), 'utf8')) as TemplateKey;
    await writeFile(path.join(earlier, 'template.json'), JSON.stringify({ ...key, migrations: key.migrations.slice(0, -1) }));
    expect(await templateIsCurrent(earlier)).toBe(true);
    expect(await templateIsCurrent(earlier, true)).toBe(false);
  });

  it('is not used when missing', async () => {
    expect(await seedFromTemplate(path.join(dir, 'none', 'pgdata'), path.join(dir, 'no-template'))).toBe(false);
  });
});
