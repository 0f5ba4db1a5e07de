/**
 * Quotas decided by PostgreSQL (ADR 0013, decision 11). What a replica requests, worked out by
 * PostgreSQL (`quantity_value`, `replica_requests`, the artifact's `request_cpu` and
 * `request_memory`) for the quota sums, against the same rule in TypeScript (`parseQuantity`,
 * `protonDemand`), which works out what a request adds. The two must agree on every spec the API
 * accepts, or a check would count usage one way and requests another. The generated cases are
 * new each run; a failure names its seed (`fc.sample(arbitrary, { numRuns, seed })` repeats it).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseQuantity, resourcesSchema, type ArtifactSpec, type WorkloadRuntime } from '../../src/domain/artifact-spec.js';
import { protonDemand } from '../../src/domain/quota.js';
import { describeEachDatabase } from '../support/backends.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const SUFFIXES = ['', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'e3', 'E+2', 'e-4', 'e0', 'E'];
const wellFormed = fc
  .tuple(fc.constantFrom('', '+'), fc.stringMatching(/^([0-9]{1,6}(\.[0-9]{0,4})?|\.[0-9]{1,4})$/), fc.constantFrom(...SUFFIXES))
  .map(([sign, number, suffix]) => `${sign}${number}${suffix}`);
const malformed = fc.constantFrom('lots', '1 Gi', '1GB', '-1', '1.2.3', 'Gi', '', '1e', '0x10');
const quantity = fc.oneof({ arbitrary: wellFormed, weight: 9 }, { arbitrary: malformed, weight: 1 });
/** A request the API would store: well-formed, positive, within the bounds. */
const accepted = (what: 'cpu' | 'memory') => wellFormed.filter((q) => resourcesSchema.safeParse({ [what]: q }).success);

const NAMES = ['app', 'sidecar', 'proxy'];
const resources = fc.record({ cpu: fc.option(accepted('cpu'), { nil: undefined }), memory: fc.option(accepted('memory'), { nil: undefined }) }, { requiredKeys: [] });
const spec: fc.Arbitrary<ArtifactSpec> = fc
  .uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 })
  .chain((names) => fc.tuple(...names.map((name, i) => fc.option(resources, { nil: undefined }).map((r) => containerInput({ name, primary: i === 0, ...(r && { resources: r }) })))))
  .map((containers) => specInput(containers) as ArtifactSpec);
/** Overrides may name a container twice (the last one counts) or one the spec lacks (ignored). */
const overrides = fc.array(fc.record({ containerName: fc.constantFrom(...NAMES, 'ghost'), cpu: fc.option(accepted('cpu'), { nil: null }), memory: fc.option(accepted('memory'), { nil: null }) }), { maxLength: 4 });

describeEachDatabase('what a replica requests, in PostgreSQL and in TypeScript', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t?.stop());

  const sql = <T>(query: string, params: unknown[]) => t.app.orm.em.fork().getConnection().execute<T[]>(query, params);

  it('reads every quantity as parseQuantity does, and a malformed one as null', async () => {
    const seed = Date.now();
    const samples = fc.sample(quantity, { numRuns: 2000, seed });
    const rows = await sql<{ i: string; value: number | null }>(
      `select e.i, quantity_value(e.q) as value from jsonb_array_elements_text(?::jsonb) with ordinality as e(q, i) order by e.i`,
      [JSON.stringify(samples)],
    );
    const mismatches = samples
      .map((q, i) => ({ q, sql: rows[i]!.value, ts: parseQuantity(q) ?? null }))
      .filter((m) => m.sql !== m.ts);
    expect({ seed, mismatches }).toEqual({ seed, mismatches: [] });
  });

  it('works out one replica\'s millicores and bytes as protonDemand does, overrides first, defaults for what a container leaves out', async () => {
    const seed = Date.now();
    const cases = fc.sample(fc.tuple(spec, overrides), { numRuns: 500, seed });
    const rows = await sql<{ cpu: number; memory: number }>(
      `select r.cpu, r.memory from jsonb_array_elements(?::jsonb) with ordinality as e(c, i), lateral replica_requests(e.c->'spec', e.c->'overrides') r order by e.i`,
      [JSON.stringify(cases.map(([s, o]) => ({ spec: s, overrides: o })))],
    );
    const mismatches = cases
      .map(([s, o], i) => {
        const { cpu, memory } = protonDemand(s, { replicaCount: 1, containerResources: o } as WorkloadRuntime);
        return { spec: s, overrides: o, sql: { cpu: rows[i]!.cpu, memory: rows[i]!.memory }, ts: { cpu, memory } };
      })
      .filter((m) => m.sql.cpu !== m.ts.cpu || m.sql.memory !== m.ts.memory);
    expect({ seed, mismatches }).toEqual({ seed, mismatches: [] });
  });

  it.each([
    ['fits exactly', { workloads: 1, replicas: 1, cpu: 100, memory: 0 }, null],
    ['one workload too many', { workloads: 2, replicas: 0, cpu: 0, memory: 0 }, { resource: 'workloads', limit: 1, used: 0, requested: 2 }],
    ['the first resource in order wins', { workloads: 0, replicas: 2, cpu: 200, memory: 0 }, { resource: 'replicas', limit: 1, used: 0, requested: 2 }],
    ['CPU over', { workloads: 0, replicas: 0, cpu: 101, memory: 0 }, { resource: 'cpu', limit: 100, used: 0, requested: 101 }],
    ['unlimited memory is never breached', { workloads: 0, replicas: 0, cpu: 0, memory: 2 ** 50 }, null],
  ] as const)('answers the first limit a request breaks (quota_admit): %s', async (_name, added, want) => {
    const subjects = [{ scope: 'owner', id: 'nobody-yet', limits: { workloads: 1, replicas: 1, cpu: 100, memory: null } }];
    const [row] = await sql<{ breach: unknown }>('select quota_admit(?::jsonb, ?::jsonb) as breach', [JSON.stringify(subjects), JSON.stringify(added)]);
    expect(row!.breach).toEqual(want && { scope: 'owner', id: 'nobody-yet', ...want });
  });

  it('checks only what a request adds, so asking nothing passes a limit already exceeded; the owner\'s breach is reported before the organization\'s', async () => {
    const zero = { workloads: 0, replicas: 0, cpu: 0, memory: 0 };
    const none = { scope: 'owner', id: 'nobody-yet', limits: zero };
    expect((await sql<{ breach: unknown }>('select quota_admit(?::jsonb, ?::jsonb) as breach', [JSON.stringify([none]), JSON.stringify(zero)]))[0]!.breach).toBeNull();
    const both = [{ scope: 'organization', id: 'acme', limits: zero }, none];
    const [row] = await sql<{ breach: unknown }>('select quota_admit(?::jsonb, ?::jsonb) as breach', [JSON.stringify(both), JSON.stringify({ ...zero, cpu: 1 })]);
    expect(row!.breach).toEqual({ scope: 'owner', id: 'nobody-yet', resource: 'cpu', limit: 0, used: 0, requested: 1 });
  });

  it('keeps an artifact\'s requests on its row from its insert and through every spec edit, and the quota follows a running draft\'s edit', async () => {
    const ada = t.as({ sub: 'requests-ada' });
    const created = await ada.execRaw(
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { artifact { id } } } ... on Error { code message } } }`,
      { input: { name: 'edited', artifact: { name: 'edited', spec: specInput([containerInput({ resources: { cpu: '250m', memory: '256Mi' } })]) }, runtime: { replicaCount: 2 } } },
    );
    expect(created.errors).toBeUndefined();
    const artifactId = (created.data as { createWorkload: { workload: { artifact: { id: string } } } }).createWorkload.workload.artifact.id;
    const requests = async () => (await sql<{ cpu: number; memory: number }>(`select request_cpu as cpu, request_memory as memory from artifact where name = ?`, ['edited']))[0];
    const used = async () =>
      ((await ada.execRaw(`{ viewer { quota { replicas { used } cpu { used } memory { used } } } }`)).data as { viewer: { quota: unknown } }).viewer.quota;
    expect(await requests()).toEqual({ cpu: 250, memory: 256 * 2 ** 20 });
    expect(await used()).toEqual({ replicas: { used: 2 }, cpu: { used: 0.5 }, memory: { used: 512 * 2 ** 20 } });

    const edited = await ada.execRaw(`mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename ... on Error { message } } }`, {
      input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '1' } }), containerInput({ name: 'sidecar', primary: false, port: undefined })]) },
    });
    expect(edited.data).toEqual({ updateArtifact: { __typename: 'UpdateArtifactPayload' } });
    expect(await requests()).toEqual({ cpu: 1100, memory: 2 * 128 * 2 ** 20 });
    expect(await used()).toEqual({ replicas: { used: 2 }, cpu: { used: 2.2 }, memory: { used: 512 * 2 ** 20 } });
  });

  it("keeps a workload's own demand on its row through create, runtime overrides, stop, and any write of its desired state or artifact", async () => {
    const bo = t.as({ sub: 'demand-bo' });
    const mutate = async (query: string, variables: Record<string, unknown>) => {
      const result = await bo.execRaw(query, variables);
      expect(result.errors).toBeUndefined();
      const data = result.data as Record<string, Record<string, unknown>>;
      expect(Object.values(data)[0]).toMatchObject({ __typename: expect.stringMatching(/Payload$/) });
      return data;
    };
    const created = await mutate(
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id } } } }`,
      { input: { name: 'demand', artifact: { name: 'demand', spec: specInput([containerInput({ resources: { cpu: '300m', memory: '1Gi' } })]) }, runtime: { replicaCount: 2 } } },
    );
    const id = (created.createWorkload as { workload: { id: string } }).workload.id;
    // The stored columns against the same rule worked out from the row's runtime and artifact now.
    const stored = async () =>
      (await sql<{ stored: number[]; worked: number[] }>(
        `select array[w.demand_replicas, w.demand_cpu, w.demand_memory] as stored,
                case when w.desired_state <> 'running' then array[0, 0, 0]::float8[] else
                  array[(w.runtime->>'replicaCount')::float8,
                        (w.runtime->>'replicaCount')::float8 * coalesce(case when jsonb_typeof(w.runtime->'containerResources') = 'array' and w.runtime->'containerResources' <> '[]' then (replica_requests(a.spec, w.runtime->'containerResources')).cpu end, a.request_cpu),
                        (w.runtime->>'replicaCount')::float8 * coalesce(case when jsonb_typeof(w.runtime->'containerResources') = 'array' and w.runtime->'containerResources' <> '[]' then (replica_requests(a.spec, w.runtime->'containerResources')).memory end, a.request_memory)]
                end as worked
           from workload w join artifact a on a.id = w.artifact_id where w.name = 'demand' and w.deleted_at is null`,
        [],
      ))[0]!;
    const expectDemand = async (replicas: number, cpu: number, memory: number) => {
      const row = await stored();
      expect(row.stored).toEqual([replicas, cpu, memory]);
      expect(row.stored).toEqual(row.worked);
    };
    await expectDemand(2, 600, 2 * 2 ** 30);

    const runtime = `mutation($input: UpdateWorkloadRuntimeInput!) { updateWorkloadRuntime(input: $input) { __typename ... on Error { message } } }`;
    await mutate(runtime, { input: { id, runtime: { replicaCount: 3, containerResources: [{ containerName: 'app', cpu: '1', memory: '512Mi' }] } } });
    await expectDemand(3, 3000, 3 * 512 * 2 ** 20);
    await mutate(runtime, { input: { id, runtime: { replicaCount: 1 } } });
    await expectDemand(1, 300, 2 ** 30);

    await mutate(`mutation($id: ID!) { stopWorkload(id: $id) { __typename ... on Error { message } } }`, { id });
    await expectDemand(0, 0, 0);
    // Whoever writes the row (here the statements a start and a replacement's switch make, without
    // a controller to get there): the trigger works the demand out again.
    await sql(`update workload set desired_state = 'running' where name = 'demand' and deleted_at is null`, []);
    await expectDemand(1, 300, 2 ** 30);
    await sql(`insert into artifact (id, repository_id, name, status, version, spec, owner_id, created_at, updated_at, locked_at)
               select gen_random_uuid(), repository_id, 'demand-next', 'locked', 7, ?::jsonb, owner_id, now(), now(), now() from artifact where name = 'demand'`,
      [JSON.stringify(specInput([containerInput({ resources: { cpu: '2', memory: '3Gi' } })]))]);
    await sql(`update workload set artifact_id = (select id from artifact where name = 'demand-next') where name = 'demand' and deleted_at is null`, []);
    await expectDemand(1, 2000, 3 * 2 ** 30);
  });

  it('keeps each subject\'s counters equal to the sum over its live workloads through any sequence of writes to their rows', async () => {
    // Workloads written directly (whoever writes the rows, the trigger keeps the counters): inserted
    // on a locked artifact, updated in every column the counters depend on, and deleted outright.
    await sql(`insert into artifact_repository (id, name, owner_id, last_version, created_at) values ('00000000-0000-4000-8000-00000000c0c0', 'counted', 'counter-x', 1, now())`, []);
    await sql(
      `insert into artifact (id, repository_id, name, status, version, spec, owner_id, created_at, updated_at, locked_at)
       values ('00000000-0000-4000-8000-00000000c0c1', '00000000-0000-4000-8000-00000000c0c0', 'counted', 'locked', 1, ?::jsonb, 'counter-x', now(), now(), now())`,
      [JSON.stringify(specInput([containerInput({ resources: { cpu: '150m', memory: '100Mi' } })]))],
    );
    const owners = ['counter-a', 'counter-b', 'counter-c'];
    const organizations = ['counter-acme', 'counter-beta', null];
    const runtime = fc.record({
      replicaCount: fc.integer({ min: 0, max: 3 }),
      containerResources: fc.option(fc.constant([{ containerName: 'app', cpu: '0.3', memory: '1e3' }]), { nil: undefined }),
    });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), owner: fc.constantFrom(...owners), organization: fc.constantFrom(...organizations), runtime }),
      // Several rows in one statement (a batch of creates written as a set): the trigger runs once over all of them.
      fc.record({
        kind: fc.constant('insert-many' as const),
        rows: fc.array(fc.record({ owner: fc.constantFrom(...owners), organization: fc.constantFrom(...organizations), runtime, status: fc.constantFrom('submitted', 'terminated') }), { minLength: 2, maxLength: 4 }),
      }),
      fc.record({ kind: fc.constant('desired' as const), pick: fc.nat(), to: fc.constantFrom('running', 'stopped', 'deleted') }),
      fc.record({ kind: fc.constant('status' as const), pick: fc.nat(), to: fc.constantFrom('running', 'terminated', 'pending' as never, 'errored') }),
      fc.record({ kind: fc.constant('runtime' as const), pick: fc.nat(), runtime }),
      fc.record({ kind: fc.constant('soft-delete' as const), pick: fc.nat(), undo: fc.boolean() }),
      fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), owner: fc.constantFrom(...owners), organization: fc.constantFrom(...organizations) }),
      fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
    );
    const seed = Date.now();
    const steps = fc.sample(step, { numRuns: 150, seed }).filter((s) => !(s.kind === 'status' && s.to === ('pending' as never)));
    const ids: string[] = [];
    let n = 0;
    const counted = async () => {
      const rows = await sql<{ scope: string; subject_id: string; kept: string[]; summed: string[] }>(
        `with summed as (
           select s.scope, s.subject_id, count(*)::numeric as workloads, sum(w.demand_replicas::numeric) as replicas,
                  sum(w.demand_cpu::numeric) as cpu, sum(w.demand_memory::numeric) as memory
             from workload w cross join lateral (values ('owner', w.owner_id), ('organization', w.organization)) s(scope, subject_id)
            where s.subject_id like 'counter-%' and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'
            group by s.scope, s.subject_id)
         select coalesce(u.scope, s.scope) as scope, coalesce(u.subject_id, s.subject_id) as subject_id,
                array[coalesce(u.workloads, 0)::text, coalesce(u.replicas, 0)::text, coalesce(u.cpu, 0)::text, coalesce(u.memory, 0)::text] as kept,
                array[coalesce(s.workloads, 0)::text, coalesce(s.replicas, 0)::text, coalesce(s.cpu, 0)::text, coalesce(s.memory, 0)::text] as summed
           from (select * from quota_subject_usage where subject_id like 'counter-%') u
           full join summed s on s.scope = u.scope and s.subject_id = u.subject_id`,
        [],
      );
      return rows.filter((r) => r.kept.map(Number).join() !== r.summed.map(Number).join());
    };
    for (const [i, s] of steps.entries()) {
      const id = ids.length > 0 && 'pick' in s ? ids[s.pick % ids.length]! : undefined;
      if (s.kind === 'insert') {
        const [{ id: inserted }] = (await sql<{ id: string }>(
          `insert into workload (id, name, owner_id, organization, artifact_id, artifact_status, runtime, created_at, updated_at)
           values (gen_random_uuid(), ?, ?, ?, '00000000-0000-4000-8000-00000000c0c1', 'locked', ?::jsonb, now(), now()) returning id`,
          [`counted-${n++}`, s.owner, s.organization, JSON.stringify(s.runtime)],
        )) as [{ id: string }];
        ids.push(inserted);
      } else if (s.kind === 'insert-many') {
        const inserted = await sql<{ id: string }>(
          `insert into workload (id, name, owner_id, organization, artifact_id, artifact_status, runtime, status, created_at, updated_at)
           values ${s.rows.map(() => `(gen_random_uuid(), ?, ?, ?, '00000000-0000-4000-8000-00000000c0c1', 'locked', ?::jsonb, ?, now(), now())`).join(', ')} returning id`,
          s.rows.flatMap((r) => [`counted-${n++}`, r.owner, r.organization, JSON.stringify(r.runtime), r.status]),
        );
        ids.push(...inserted.map((r) => r.id));
      } else if (!id) {
        continue;
      } else if (s.kind === 'desired') await sql(`update workload set desired_state = ? where id = ?`, [s.to, id]);
      else if (s.kind === 'status') await sql(`update workload set status = ? where id = ?`, [s.to, id]);
      else if (s.kind === 'runtime') await sql(`update workload set runtime = ?::jsonb where id = ?`, [JSON.stringify(s.runtime), id]);
      else if (s.kind === 'soft-delete') await sql(`update workload set deleted_at = ${s.undo ? 'null' : 'now()'}, name = name || '~' where id = ?`, [id]);
      else if (s.kind === 'move') await sql(`update workload set owner_id = ?, organization = ?, name = name || '^' where id = ?`, [s.owner, s.organization, id]);
      else {
        await sql(`delete from workload where id = ?`, [id]);
        ids.splice(ids.indexOf(id), 1);
      }
      if (i % 25 === 24 || i === steps.length - 1) expect({ seed, step: i, mismatches: await counted() }).toEqual({ seed, step: i, mismatches: [] });
    }
    // The counters are what a quota check reads.
    const [usage] = await sql<{ workloads: number; cpu: number }>(`select workloads, cpu from quota_usage(?::jsonb)`, [JSON.stringify([{ scope: 'owner', id: 'counter-a' }])]);
    const [direct] = await sql<{ workloads: number; cpu: number }>(
      `select count(*)::int as workloads, coalesce(sum(demand_cpu), 0)::float8 as cpu from workload
        where owner_id = 'counter-a' and deleted_at is null and status <> 'terminated' and desired_state <> 'deleted'`,
      [],
    );
    expect(usage).toEqual(direct);
  });

  it('loses no change to a subject\'s counters when writes of its workloads race: creates, stops and starts of one organization at once', async () => {
    const members = ['race-a', 'race-b', 'race-c'].map((sub) => t.as({ sub, org: 'race-org' }));
    const create = (who: ReturnType<TestApp['as']>, name: string) =>
      who.execRaw(`mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id } } } }`, {
        input: { name, artifact: { name, spec: specInput([containerInput({ resources: { cpu: '10m', memory: '1Mi' } })]) } },
      });
    const first = await Promise.all(members.flatMap((m, i) => [0, 1, 2].map((j) => create(m, `race-${i}-${j}`))));
    expect(first.every((r) => (r.data as { createWorkload: { __typename: string } }).createWorkload.__typename === 'CreateWorkloadPayload')).toBe(true);
    const ids = (await sql<{ id: string }>(`select id from workload where organization = 'race-org'`, [])).map((r) => r.id);
    // Stops and starts written straight to the rows from separate connections, beside more creates.
    await Promise.all([
      ...ids.flatMap((id, i) => [0, 1, 2].map((k) => sql(`update workload set desired_state = ? where id = ?`, [(i + k) % 2 === 0 ? 'stopped' : 'running', id]))),
      ...members.map((m, i) => create(m, `race-${i}-late`)),
    ]);
    const [kept] = await sql<{ workloads: string; replicas: string; cpu: string }>(
      `select workloads::text, replicas::text, cpu::text from quota_subject_usage where scope = 'organization' and subject_id = 'race-org'`, []);
    const [summed] = await sql<{ workloads: string; replicas: string; cpu: string }>(
      `select count(*)::text as workloads, sum(demand_replicas::numeric)::text as replicas, sum(demand_cpu::numeric)::text as cpu from workload
        where organization = 'race-org' and deleted_at is null and status <> 'terminated' and desired_state <> 'deleted'`, []);
    expect({ workloads: Number(kept!.workloads), replicas: Number(kept!.replicas), cpu: Number(kept!.cpu) })
      .toEqual({ workloads: 12, replicas: Number(summed!.replicas), cpu: Number(summed!.cpu) });
  });
});
