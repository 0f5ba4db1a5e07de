/**
 * Plain views of rows (ADR 0061 decision 8): what `rowReader` makes of a row, from the table's
 * own columns or from `to_jsonb` of the row (as a page's aggregates carry them), against the
 * entity the ORM makes of the same row, property by property; and what `rowColumns` writes of a
 * view (a create's new rows, ADR 0005 decision 28): the row's own columns again.
 */
import { defineEntity, p } from '@mikro-orm/core';
import { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ArtifactEntity, ProtonEntity, WorkloadEntity } from '../../src/store/entities/index.js';
import { rowColumns, rowReader, selectColumns } from '../../src/store/read-model.js';
import { queryRows } from '../../src/store/sql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describeEachDatabase('plain views of rows', (backend) => {
  let t: TestApp;
  let workloadId: string;
  beforeAll(async () => {
    t = await startTestApp(backend);
    const r = await t.execRaw(`mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { id } } } }`, {
      input: workloadInput({ name: 'viewed', artifact: artifactInput({ name: 'viewed' }), runtime: { replicaCount: 2 } }),
    });
    expect(r.errors).toBeUndefined();
    const sql = t.app.orm.em.fork().getConnection();
    workloadId = (await sql.execute<{ id: string }[]>(`select id from workload where name = 'viewed'`))[0]!.id;
    // Every kind of column set: text, nulls and non-nulls, JSON objects, dates, a reference.
    await sql.execute(
      `update workload set status_reason = 'CrashLoopBackOff', status_message = 'a;b "quoted"', promoted_at = now(),
         lifecycle = '{"state":{"active":{"protonId":"x"}},"n":[1,2]}'::jsonb where id = ?`,
      [workloadId],
    );
    await sql.execute(`update proton set restarted_at = now(), status_reason = 'Restarted' where workload_id = ?`, [workloadId]);
  });
  afterAll(() => t?.stop());

  const cases = [
    { entity: WorkloadEntity, table: 'workload', key: 'id' },
    { entity: ProtonEntity, table: 'proton', key: 'workload_id' },
    { entity: ArtifactEntity, table: 'artifact', key: 'id' },
  ] as const;

  for (const { entity, table, key } of cases) {
    it(`reads the ${table} row as the ORM's entity holds it, from its columns and from to_jsonb`, async () => {
      const em = t.app.orm.em.fork();
      const keyValue = table === 'artifact'
        ? (await queryRows<{ artifact_id: string }>(em, 'select artifact_id from workload where id = ?', [workloadId]))[0]!.artifact_id
        : workloadId;
      const [row] = await queryRows<Record<string, unknown>>(em, `select * from ${table} where ${key} = ?`, [keyValue]);
      const { j } = (await queryRows<{ j: Record<string, unknown> }>(em, `select to_jsonb(x) as j from ${table} x where ${key} = ?`, [keyValue]))[0]!;
      const managed = (await em.findOneOrFail(entity as typeof WorkloadEntity, { id: row!.id as string })) as unknown as Record<string, unknown>;
      const meta = em.getMetadata(entity as typeof WorkloadEntity);
      const expected: Record<string, unknown> = {};
      for (const prop of meta.props) {
        if (prop.kind === 'scalar') expected[prop.name] = managed[prop.name] ?? null;
        if (prop.kind === 'm:1') expected[prop.name] = { id: (managed[prop.name] as { id: string }).id };
      }
      // As a page carries a related row: JSON of the columns the reader takes, named.
      const { named } = (await queryRows<{ named: Record<string, unknown> }>(
        em, `select (select row_to_json(r) from (select ${selectColumns(em, entity as typeof WorkloadEntity, 'x')}) r) as named from ${table} x where ${key} = ?`, [keyValue],
      ))[0]!;
      const read = rowReader(em, entity as typeof WorkloadEntity);
      expect(read(row!)).toEqual(expected);
      expect(read(typeof j === 'string' ? JSON.parse(j) : j)).toEqual(expected);
      expect(read(typeof named === 'string' ? JSON.parse(named) : named)).toEqual(expected);
      // Every kind was exercised: a date, a JSON object and a reference are present on each.
      expect(Object.values(expected).some((v) => v instanceof Date)).toBe(true);
      expect(Object.values(expected).some((v) => v !== null && typeof v === 'object' && !(v instanceof Date) && !('id' in v))).toBe(true);
    });

    it(`writes a view of the ${table} row as the row's columns`, async () => {
      const em = t.app.orm.em.fork();
      const keyValue = table === 'artifact'
        ? (await queryRows<{ artifact_id: string }>(em, 'select artifact_id from workload where id = ?', [workloadId]))[0]!.artifact_id
        : workloadId;
      const [row] = await queryRows<Record<string, unknown>>(em, `select * from ${table} where ${key} = ?`, [keyValue]);
      const read = rowReader(em, entity as typeof WorkloadEntity);
      const view = read(row!);
      const columns = rowColumns(em.getMetadata(), entity as typeof WorkloadEntity)(view);
      // The table's columns (those the database maintains, as a workload's demand, are not the entity's)...
      expect(Object.keys(row!)).toEqual(expect.arrayContaining(Object.keys(columns)));
      // ...that read back as the same view, every property of it.
      expect(read(columns)).toEqual(view);
      // A managed entity's columns are the same (a create on an existing artifact refers to one).
      const managed = await em.findOneOrFail(entity as typeof WorkloadEntity, { id: row!.id as string });
      expect(rowColumns(em.getMetadata(), entity as typeof WorkloadEntity)(managed)).toEqual(columns);
    });
  }
});

it('refuses an entity with a property type it has no plain reading for, naming it', async () => {
  const Odd = defineEntity({ name: 'Odd', properties: { id: p.uuid().primary(), big: p.bigint() } });
  const orm = await MikroORM.init({ entities: [Odd], dbName: 'unused', connect: false, discovery: { warnWhenNoEntities: false } });
  expect(() => rowReader(orm.em as never, Odd)).toThrow('Odd.big: no plain reading for BigIntType');
  await orm.close();
});
