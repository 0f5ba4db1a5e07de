/**
 * A batch of creates written as sets (ADR 0005 decision 29, migration
 * Migration20261208000000_create_as_sets): `workload_create_all` writes every item's rows table by
 * table when all of them pass, and answers null, writing nothing, when any would be refused;
 * `workload_create_batch` then decides each in turn. The items are the ones the API hands the
 * batch, taken from a real create and given new ids, names and quota limits.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

type Item = { rows: Record<string, any>; quota?: { subjects: { scope: string; id: string; limits: Record<string, number> }[]; added: Record<string, number> } };
const TABLES = ['artifact_repository', 'artifact', 'artifact_shared_role', 'workload', 'workload_shared_role', 'proton', 'workload_event'];

describeEachDatabase('creates written as sets', (backend) => {
  let t: TestApp;
  let template: string;
  beforeAll(async () => {
    t = await startTestApp(backend);
    const creates = t.app.services.workloads.creates;
    const add = creates.add.bind(creates);
    let seen: string | undefined;
    creates.add = (item: string) => ((seen ??= item), add(item));
    const created = await t.as({ sub: 'sets-owner' }).execRaw(`mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename } }`, {
      input: workloadInput({ name: 'sets-template', artifact: artifactInput({ name: 'sets-template' }) }),
    });
    expect(created.data).toEqual({ createWorkload: { __typename: 'CreateWorkloadPayload' } });
    creates.add = add;
    template = seen!;
  });
  afterAll(() => t?.stop());

  const sql = <T>(query: string, params: unknown[] = []) => t.app.orm.em.fork().getConnection().execute<T[]>(query, params);
  const rowCount = async () =>
    Object.fromEntries(await Promise.all(TABLES.map(async (table) => [table, (await sql<{ n: number }>(`select count(*)::int as n from ${table}`))[0]!.n])));
  const usage = async (owner: string) =>
    (await sql<{ kept: number; counted: number }>(
      `select (select coalesce(max(workloads), 0)::int from quota_subject_usage where scope = 'owner' and subject_id = ?) as kept,
              (select count(*)::int from workload where owner_id = ? and deleted_at is null and status <> 'terminated' and desired_state <> 'deleted') as counted`,
      [owner, owner],
    ))[0]!;

  /** The template's item with new ids, the name `name`, the owner `owner`, and at most `workloads` live workloads for the owner. */
  const item = (name: string, owner: string, workloads = 1000): Item => {
    let text = template;
    for (const id of new Set(template.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g))) text = text.split(id).join(randomUUID());
    text = text.split('"sets-template"').join(JSON.stringify(name)).split('"sets-owner"').join(JSON.stringify(owner));
    const parsed = JSON.parse(text) as Item;
    expect(parsed.quota?.subjects).toEqual([expect.objectContaining({ scope: 'owner', id: owner })]);
    parsed.quota!.subjects[0]!.limits = { workloads };
    return parsed;
  };
  const call = async (fn: 'workload_create_all' | 'workload_create_batch', items: Item[]) =>
    (await sql<{ results: unknown }>(`select ${fn}(?::jsonb) as results`, [JSON.stringify(items)]))[0]!.results;

  it('writes every item of a batch that all pass, table by table, and answers each with its own created event', async () => {
    const owner = 'sets-all';
    const items = ['a', 'b', 'c'].map((n) => item(`sets-${n}`, owner));
    const before = await rowCount();
    expect(await call('workload_create_all', items)).toEqual([{ sequence: 1 }, { sequence: 1 }, { sequence: 1 }]);
    const after = await rowCount();
    for (const table of TABLES) expect({ table, added: after[table] - before[table] }).toEqual({ table, added: 3 });
    // Each workload has its own rows: its grant, its active proton on its own artifact, its created event.
    const written = await sql<{ name: string; grants: number; protons: number; events: string[] }>(
      `select w.name,
              (select count(*)::int from workload_shared_role g where g.workload_id = w.id and g.subject_id = w.owner_id) as grants,
              (select count(*)::int from proton p where p.workload_id = w.id and p.artifact_id = w.artifact_id and p.role = 'active') as protons,
              (select array_agg(e.sequence || ':' || e.type order by e.sequence) from workload_event e where e.workload_id = w.id) as events
         from workload w where w.owner_id = ? order by w.name`,
      [owner],
    );
    expect(written).toEqual(['a', 'b', 'c'].map((n) => ({ name: `sets-${n}`, grants: 1, protons: 1, events: ['1:created'] })));
    expect(await usage(owner)).toEqual({ kept: 3, counted: 3 });
  });

  it('is how the batch writes a statement whose creates all pass: no item is decided alone', async () => {
    const items = ['x', 'y'].map((n) => item(`sets-${n}`, 'sets-counted'));
    const calls = await t.app.orm.em.fork().transactional(async (em) => {
      const run = <T>(query: string, params: unknown[] = []) => em.getConnection().execute<T[]>(query, params, 'all', em.getTransactionContext());
      await run(`set local track_functions = 'pl'`);
      const [{ results }] = (await run<{ results: unknown }>(`select workload_create_batch(?::jsonb) as results`, [JSON.stringify(items)])) as [{ results: unknown }];
      const counts = await run<{ name: string; calls: number }>(
        `select f as name, coalesce(pg_stat_get_xact_function_calls(f::regproc::oid), 0)::int as calls
           from unnest(array['workload_create_all', 'workload_create_each', 'workload_create_admitted']) f`,
      );
      return { results, ...Object.fromEntries(counts.map((c) => [c.name, c.calls])) };
    });
    expect(calls).toEqual({ results: [{ sequence: 1 }, { sequence: 1 }], workload_create_all: 1, workload_create_each: 0, workload_create_admitted: 0 });
  });

  it('answers null and writes nothing when any item would be refused, and the batch then decides each in turn', async () => {
    const owner = 'sets-refused';
    const twice = [item('sets-first', owner), item('sets-twice', owner), item('sets-twice', owner)];
    const before = await rowCount();
    expect(await call('workload_create_all', twice)).toBeNull();
    expect(await rowCount()).toEqual(before);
    const results = (await call('workload_create_batch', twice)) as { sequence?: number; error?: { code: string; constraint: string } }[];
    expect(results.map((r) => r.sequence ?? r.error?.constraint)).toEqual([1, 1, 'workload_name_unique_per_owner']);
    expect(await usage(owner)).toEqual({ kept: 2, counted: 2 });
  });

  it("admits items up to a quota's limit exactly as one at a time would, counting the items before each", async () => {
    const owner = 'sets-quota';
    expect(await call('workload_create_all', [item('sets-q1', owner, 2), item('sets-q2', owner, 2)])).toEqual([{ sequence: 1 }, { sequence: 1 }]);
    // At the limit: the next two are refused, whichever way.
    const past = [item('sets-q3', owner, 3), item('sets-q4', owner, 3)];
    const before = await rowCount();
    expect(await call('workload_create_all', past)).toBeNull();
    expect(await rowCount()).toEqual(before);
    const results = (await call('workload_create_batch', past)) as { sequence?: number; breach?: { resource: string; limit: number; used: number } }[];
    expect(results).toEqual([{ sequence: 1 }, { breach: expect.objectContaining({ scope: 'owner', id: owner, resource: 'workloads', limit: 3, used: 3, requested: 1 }) }]);
    expect(await usage(owner)).toEqual({ kept: 3, counted: 3 });
  });

  it('decides one by one a batch whose limited sums hold a fraction, as the single check rounds them', async () => {
    const halves = ['h1', 'h2'].map((n) => {
      const fractional = item(`sets-${n}`, 'sets-fraction');
      fractional.quota!.subjects[0]!.limits = { cpu: 1e12 };
      fractional.quota!.added = { ...fractional.quota!.added, cpu: 0.5 };
      return fractional;
    });
    expect(await call('workload_create_all', halves)).toBeNull();
    expect(await call('workload_create_batch', halves)).toEqual([{ sequence: 1 }, { sequence: 1 }]);
  });

  it('writes a create alone the same way: its created event numbered with its row', async () => {
    expect(await call('workload_create_all', [item('sets-alone', 'sets-alone')])).toEqual([{ sequence: 1 }]);
    expect(await call('workload_create_all', [item('sets-alone', 'sets-alone')])).toBeNull();
    expect(await call('workload_create_batch', [item('sets-alone', 'sets-alone')])).toEqual([
      { error: expect.objectContaining({ constraint: 'workload_name_unique_per_owner' }) },
    ]);
    expect(await call('workload_create_all', [])).toEqual([]);
  });
});
