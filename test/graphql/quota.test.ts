import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import {
  CancelReplacementWithinQuotaDocument,
  CreateArtifactForQuotaDocument,
  CreateWorkloadWithinQuotaDocument,
  DeleteWorkloadWithinQuotaDocument,
  ReplaceWithinQuotaDocument,
  SetWorkloadImportanceDocument,
  StartWorkloadWithinQuotaDocument,
  StopWorkloadWithinQuotaDocument,
  UpdateRuntimeWithinQuotaDocument,
  ViewerQuotaDocument,
  WorkloadQuotaStateDocument,
  type CreateWorkloadInput,
} from './generated/graphql.js';
import { rawId } from '../../src/graphql/common/errors.type.js';
import { QUOTA_TURN_WIDTH } from '../../src/service/quota.js';
import { describeEachDatabase } from '../support/backends.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { recordSql } from '../support/sql-log.js';
import { startTestApp, type TestApp, type TestCaller, type TestSubject } from '../support/test-app.js';

/** Small limits, so that a few workloads reach them; organization "roomy" has no workload limit. */
const env = {
  SIMULATED_SPEED: '20',
  CONTROLLER_TICK_MS: '50',
  IMPORTANCE_HIGH_ROLES: 'ops',
  QUOTA_OWNER_WORKLOADS: '3',
  QUOTA_OWNER_REPLICAS: '4',
  QUOTA_OWNER_CPU: '1',
  QUOTA_OWNER_MEMORY: '2Gi',
  QUOTA_ORGANIZATION_WORKLOADS: '5',
  QUOTA_ORGANIZATION_OVERRIDES: '{"roomy": {"workloads": "unlimited"}}',
};

const MiB = 2 ** 20;
/** One container requesting 250m CPU and 256Mi per replica. */
const quarterSpec = () => specInput([containerInput({ resources: { cpu: '250m', memory: '256Mi' } })]);

describeEachDatabase('importance policy and quotas', (backend) => {
  let t: TestApp;
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp(backend, env, { controller: true });
  });
  afterAll(() => t?.stop());

  function input(overrides: Partial<CreateWorkloadInput> & { replicas?: number; spec?: unknown } = {}): CreateWorkloadInput {
    n += 1;
    const { replicas, spec, ...rest } = overrides;
    return {
      name: `quota-${n}`,
      ...(rest.artifactId ? {} : { artifact: { name: `quota-${n}`, spec: (spec ?? quarterSpec()) as never } }),
      runtime: { replicaCount: replicas ?? 1 },
      ...rest,
    };
  }

  async function create(caller: TestCaller, overrides: Parameters<typeof input>[0] = {}) {
    return (await caller.exec(CreateWorkloadWithinQuotaDocument, { input: input(overrides) })).createWorkload;
  }

  async function created(caller: TestCaller, overrides: Parameters<typeof input>[0] = {}): Promise<string> {
    const result = await create(caller, overrides);
    if (result.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(result));
    return result.workload.id;
  }

  async function quota(caller: TestCaller) {
    return (await caller.exec(ViewerQuotaDocument, {})).viewer;
  }

  async function until(caller: TestCaller, id: string, status: string) {
    await vi.waitFor(
      async () => {
        const { workload } = await caller.exec(WorkloadQuotaStateDocument, { id });
        if (workload.__typename !== 'Workload' || workload.status !== status) throw new Error(`still ${JSON.stringify(workload)}`);
      },
      { timeout: 30_000, interval: 20 },
    );
  }

  const user = (sub: string, extra: Omit<TestSubject, 'sub'> = {}) => t.as({ sub, ...extra });

  // --- importance ---

  it('refuses CRITICAL to a caller without the platform-admin role, on create and on update, naming the role', async () => {
    const alice = user('imp-alice');
    expect(await create(alice, { importance: 'CRITICAL' })).toMatchObject({
      __typename: 'ForbiddenError',
      code: 'FORBIDDEN',
      requiredRole: 'platform-admin',
      message: 'setting importance CRITICAL needs the platform-admin role',
    });
    expect((await quota(alice)).quota.workloads.used).toBe(0);
    const id = await created(alice);
    const { updateWorkload } = await alice.exec(SetWorkloadImportanceDocument, { input: { id, importance: 'CRITICAL' } });
    expect(updateWorkload).toMatchObject({ __typename: 'ForbiddenError', requiredRole: 'platform-admin' });
    const { workload } = await alice.exec(WorkloadQuotaStateDocument, { id });
    expect(workload).toMatchObject({ importance: 'LOW' });
  });

  it('lets a platform admin set CRITICAL, and the owner lower it again', async () => {
    const bob = user('imp-bob');
    const admin = user('imp-admin', { roles: ['platform-admin'] });
    expect(await create(admin, { importance: 'CRITICAL' })).toMatchObject({ __typename: 'CreateWorkloadPayload', workload: { importance: 'CRITICAL' } });
    const id = await created(bob);
    expect((await admin.exec(SetWorkloadImportanceDocument, { input: { id, importance: 'CRITICAL' } })).updateWorkload).toMatchObject({
      __typename: 'UpdateWorkloadPayload',
      workload: { importance: 'CRITICAL' },
    });
    // Renaming leaves the importance alone, so it needs no role.
    expect((await bob.exec(SetWorkloadImportanceDocument, { input: { id, name: `renamed-${id.slice(-6)}` } })).updateWorkload.__typename).toBe('UpdateWorkloadPayload');
    expect((await bob.exec(SetWorkloadImportanceDocument, { input: { id, importance: 'LOW' } })).updateWorkload).toMatchObject({
      __typename: 'UpdateWorkloadPayload',
      workload: { importance: 'LOW' },
    });
  });

  it('reserves HIGH to the configured platform roles (IMPORTANCE_HIGH_ROLES)', async () => {
    const plain = user('imp-plain');
    const ops = user('imp-ops', { roles: ['ops'] });
    expect(await create(plain, { importance: 'HIGH' })).toMatchObject({ __typename: 'ForbiddenError', requiredRole: 'ops' });
    expect(await create(plain, { importance: 'MODERATE' })).toMatchObject({ __typename: 'CreateWorkloadPayload' });
    expect(await create(ops, { importance: 'HIGH' })).toMatchObject({ __typename: 'CreateWorkloadPayload', workload: { importance: 'HIGH' } });
    expect(await create(ops, { importance: 'CRITICAL' })).toMatchObject({ __typename: 'ForbiddenError', requiredRole: 'platform-admin' });
    expect((await quota(plain)).allowedImportances).toEqual(['LOW', 'MODERATE']);
    expect((await quota(ops)).allowedImportances).toEqual(['LOW', 'MODERATE', 'HIGH']);
    expect((await quota(user('imp-admin2', { roles: ['platform-admin'] }))).allowedImportances).toEqual(['LOW', 'MODERATE', 'HIGH', 'CRITICAL']);
  });

  // --- quotas ---

  it('refuses a fourth workload of one owner with QUOTA_EXCEEDED naming the quota, limit, usage and request; a delete frees it', async () => {
    const carl = user('q-carl');
    const ids = [await created(carl), await created(carl), await created(carl)];
    expect(await create(carl)).toMatchObject({
      __typename: 'QuotaExceededError',
      code: 'QUOTA_EXCEEDED',
      scope: 'OWNER',
      subject: 'q-carl',
      resource: 'WORKLOADS',
      limit: 3,
      used: 3,
      requested: 1,
      message: 'the workloads quota of owner "q-carl" is 3 workloads: 3 workloads in use, and this needs 1 workload more',
    });
    expect((await quota(carl)).quota).toEqual({
      scope: 'OWNER',
      subject: 'q-carl',
      workloads: { used: 3, limit: 3 },
      replicas: { used: 3, limit: 4 },
      cpu: { used: 0.75, limit: 1 },
      memory: { used: 768 * MiB, limit: 2048 * MiB },
    });
    expect((await carl.exec(DeleteWorkloadWithinQuotaDocument, { id: ids[0]! })).deleteWorkload.__typename).toBe('WorkloadOperationPayload');
    expect(await create(carl)).toMatchObject({ __typename: 'CreateWorkloadPayload' });
  });

  it('counts replicas times each container\'s request, runtime overrides first, against CPU and memory', async () => {
    const dora = user('q-dora');
    await created(dora, { replicas: 2 });
    expect((await quota(dora)).quota).toMatchObject({ replicas: { used: 2 }, cpu: { used: 0.5 }, memory: { used: 512 * MiB } });
    expect(await create(dora, { runtime: { replicaCount: 1, containerResources: [{ containerName: 'app', cpu: '600m' }] } })).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'CPU',
      limit: 1,
      used: 0.5,
      requested: 0.6,
    });
    expect(await create(dora, { runtime: { replicaCount: 1, containerResources: [{ containerName: 'app', memory: '2Gi' }] } })).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'MEMORY',
      limit: 2048 * MiB,
      used: 512 * MiB,
      requested: 2048 * MiB,
    });
    // A container without a request is charged 100m and 128Mi.
    await created(dora, { spec: specInput([containerInput()]) });
    expect((await quota(dora)).quota).toMatchObject({ workloads: { used: 2 }, replicas: { used: 3 }, cpu: { used: 0.6 }, memory: { used: 640 * MiB } });
    // A live workload with an override counts the override, not its artifact's request.
    await created(dora, { runtime: { replicaCount: 1, containerResources: [{ containerName: 'app', cpu: '150m', memory: '1Gi' }] } });
    expect((await quota(dora)).quota).toMatchObject({ workloads: { used: 3 }, replicas: { used: 4 }, cpu: { used: 0.75 }, memory: { used: 1664 * MiB } });
  });

  it('refuses a bigger runtime and a start that would exceed, and always allows giving back', async () => {
    const erin = user('q-erin');
    const first = await created(erin, { replicas: 2 });
    const second = await created(erin, { replicas: 2 });
    await until(erin, first, 'RUNNING');
    await until(erin, second, 'RUNNING');
    expect((await erin.exec(UpdateRuntimeWithinQuotaDocument, { input: { id: first, runtime: { replicaCount: 3 } } })).updateWorkloadRuntime).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'REPLICAS',
      limit: 4,
      used: 4,
      requested: 1,
    });
    expect((await erin.exec(UpdateRuntimeWithinQuotaDocument, { input: { id: first, runtime: { replicaCount: 1 } } })).updateWorkloadRuntime.__typename).toBe('WorkloadOperationPayload');
    expect((await erin.exec(StopWorkloadWithinQuotaDocument, { id: second })).stopWorkload.__typename).toBe('WorkloadOperationPayload');
    // A stopped workload has no pods: its replicas are free for another.
    expect((await quota(erin)).quota).toMatchObject({ workloads: { used: 2 }, replicas: { used: 1 } });
    await created(erin, { replicas: 2 });
    await until(erin, second, 'STOPPED');
    expect((await erin.exec(StartWorkloadWithinQuotaDocument, { id: second })).startWorkload).toMatchObject({
      __typename: 'QuotaExceededError',
      resource: 'REPLICAS',
      used: 3,
      requested: 2,
    });
    // A runtime change of a stopped workload applies at the next start, which is checked then.
    expect((await erin.exec(UpdateRuntimeWithinQuotaDocument, { input: { id: second, runtime: { replicaCount: 1 } } })).updateWorkloadRuntime.__typename).toBe('WorkloadOperationPayload');
    expect((await erin.exec(StartWorkloadWithinQuotaDocument, { id: second })).startWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    expect((await quota(erin)).quota).toMatchObject({ replicas: { used: 4 } });
  });

  it('checks a draft\'s spec edit against the quotas of the workload running it: more is refused and nothing changes; less, or a stopped workload, always passes', async () => {
    const hal = user('q-hal');
    const id = await created(hal, { replicas: 2 });
    const read = async () =>
      ((await hal.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id spec { containerGroups { containers { resources { cpu } } } } } } } }`, { id })).data as any).workload.artifact;
    const artifactId: string = (await read()).id;
    const edit = async (cpu: string) => {
      const result = await hal.execRaw(
        `mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename ... on QuotaExceededError { scope resource limit used requested } } }`,
        { input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu, memory: '256Mi' } })]) } },
      );
      expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
      return (result.data as any).updateArtifact;
    };
    expect(await edit('600m')).toEqual({ __typename: 'QuotaExceededError', scope: 'OWNER', resource: 'CPU', limit: 1, used: 0.5, requested: 0.7 });
    expect((await read()).spec.containerGroups[0].containers[0].resources.cpu).toBe('250m');
    expect(await edit('500m')).toEqual({ __typename: 'UpdateArtifactPayload' });
    expect((await quota(hal)).quota).toMatchObject({ cpu: { used: 1 } });
    expect(await edit('100m')).toEqual({ __typename: 'UpdateArtifactPayload' });
    await until(hal, id, 'RUNNING');
    expect((await hal.exec(StopWorkloadWithinQuotaDocument, { id })).stopWorkload.__typename).toBe('WorkloadOperationPayload');
    await until(hal, id, 'STOPPED');
    expect(await edit('2')).toEqual({ __typename: 'UpdateArtifactPayload' });
    expect((await quota(hal)).quota).toMatchObject({ workloads: { used: 1 }, cpu: { used: 0 } });
  });

  // PGlite has one connection: nothing else can hold the lock while the edit waits for it.
  it.skipIf(backend.name === 'pglite')('takes the owner\'s quota lock for a draft\'s edit even when its stopped workload adds nothing, so a start cannot read the old spec', async () => {
    const ivy = user('q-ivy');
    const id = await created(ivy);
    await until(ivy, id, 'RUNNING');
    expect((await ivy.exec(StopWorkloadWithinQuotaDocument, { id })).stopWorkload.__typename).toBe('WorkloadOperationPayload');
    await until(ivy, id, 'STOPPED');
    const artifactId = ((await ivy.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id } } } }`, { id })).data as any).workload.artifact.id;
    let edit: Promise<any> | undefined;
    await t.app.orm.em.fork().transactional(async (em) => {
      await em.getConnection().execute(`select pg_advisory_xact_lock(hashtextextended('quota:owner:q-ivy', 0))`, [], 'all', em.getTransactionContext());
      edit = ivy.execRaw(`mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename } }`, {
        input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '4', memory: '256Mi' } })]) },
      });
      await vi.waitFor(
        async () => {
          const [row] = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`);
          expect(row!.n).toBe(1);
        },
        { timeout: 10_000, interval: 10 },
      );
    });
    expect((await edit!).data).toEqual({ updateArtifact: { __typename: 'UpdateArtifactPayload' } });
    // And the start that follows reads the edited spec: 4 CPU is over the limit of 1.
    expect((await ivy.exec(StartWorkloadWithinQuotaDocument, { id })).startWorkload).toMatchObject({ __typename: 'QuotaExceededError', resource: 'CPU', requested: 4 });
  });

  /** Waits until a session of this test's database waits for a lock. */
  async function untilSomeoneWaits(): Promise<void> {
    await vi.waitFor(
      async () => {
        const [row] = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>(
          `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid where not l.granted and a.datname = current_database()`,
        );
        expect(row!.n).toBeGreaterThan(0);
      },
      { timeout: 10_000, interval: 10 },
    );
  }

  // PGlite has one connection: two writers never interleave there.
  it.skipIf(backend.name === 'pglite')('locks the workload running a draft before the quota locks when the draft is edited, as an operation does: an edit racing a start-like operation on it does not deadlock', async () => {
    const lee = user('q-lee');
    const id = await created(lee);
    await until(lee, id, 'RUNNING');
    const artifactId = ((await lee.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id } } } }`, { id })).data as any).workload.artifact.id;
    let edit: Promise<any> | undefined;
    // As an operation (a start, a replace) does: the workload's row, then the owner's quota lock.
    await t.app.orm.em.fork().transactional(async (em) => {
      const run = (sql: string, params: unknown[] = []) => em.getConnection().execute(sql, params, 'all', em.getTransactionContext());
      await run(`select id from workload where id = ? for update`, [rawId(id, 'Workload')]);
      edit = lee.execRaw(`mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename } }`, {
        input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '500m', memory: '256Mi' } })]) },
      });
      await untilSomeoneWaits();
      // Had the edit taken the quota lock before the workload's row, this would wait for it while it waits for us.
      await run(`select pg_advisory_xact_lock(hashtextextended('quota:owner:q-lee', 0))`);
      // And a round's write of the workload, which names its artifact.
      await run(`update workload set artifact_id = artifact_id, status_message = status_message where id = ?`, [rawId(id, 'Workload')]);
    });
    expect(await edit!).toEqual({ data: { updateArtifact: { __typename: 'UpdateArtifactPayload' } } });
    expect((await quota(lee)).quota).toMatchObject({ cpu: { used: 0.5 } });
  });

  it.skipIf(backend.name === 'pglite')('starts a draft\'s edit over when a workload began running the draft before the edit could lock it: the edit is checked for that workload, whose row it locks first', async () => {
    const ned = user('q-ned');
    const { createArtifact } = await ned.exec(CreateArtifactForQuotaDocument, { input: { name: 'ned-draft', spec: quarterSpec() as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    const artifactId = createArtifact.artifact.id;
    const log = recordSql(t.app.orm);
    let edit: Promise<any> | undefined;
    try {
      // A workload taking the draft (its in-use check holds the draft's row) while the edit, which found no workload on it, waits for that row.
      await t.app.orm.em.fork().transactional(async (em) => {
        await em.getConnection().execute(
          `insert into workload (id, name, owner_id, artifact_id, artifact_status, runtime, created_at, updated_at)
           values (gen_random_uuid(), 'ned-late', 'q-ned', ?, 'draft', '{"replicaCount":1}'::jsonb, now(), now())`,
          [rawId(artifactId, 'Artifact')],
          'all',
          em.getTransactionContext(),
        );
        edit = ned.execRaw(`mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename ... on QuotaExceededError { resource used requested } } }`, {
          input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '2', memory: '256Mi' } })]) },
        });
        await untilSomeoneWaits();
      });
      expect((await edit!).data).toEqual({ updateArtifact: { __typename: 'QuotaExceededError', resource: 'CPU', used: 0.25, requested: 1.75 } });
    } finally {
      log.stop();
    }
    // Started over, it locked the new workload's row before anything else (continuing would have locked it after the quota locks).
    expect(log.statements.filter((q) => /^select id from workload where id = any\(.*\) order by id for no key update$/.test(q))).toHaveLength(1);
  });

  it.skipIf(backend.name === 'pglite')('writes a workload that keeps its artifact without locking the artifact\'s row, so a round never waits for an edit of its draft', async () => {
    const mia = user('q-mia');
    const id = await created(mia);
    const artifactId = ((await mia.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id } } } }`, { id })).data as any).workload.artifact.id;
    const written = await t.app.orm.em.fork().transactional(async (em) => {
      // As an edit of the draft, or a create's in-use check, holds it.
      await em.getConnection().execute(`select id from artifact where id = ? for no key update`, [rawId(artifactId, 'Artifact')], 'all', em.getTransactionContext());
      return t.app.orm.em.fork().transactional(async (round) => {
        const run = (sql: string, params: unknown[] = []) => round.getConnection().execute(sql, params, 'all', round.getTransactionContext());
        await run(`set local lock_timeout = '2s'`);
        // What workload_record_round writes: every column, the artifact's among them.
        return run(`update workload set artifact_id = artifact_id, status_message = 'written' where id = ? returning status_message, artifact_status`, [rawId(id, 'Workload')]);
      });
    });
    expect(written).toEqual([{ status_message: 'written', artifact_status: 'draft' }]);
  });

  it('counts an EDITOR\'s edit of someone else\'s running draft against the quota of the workload\'s owner, not the editor\'s', async () => {
    const jon = user('q-jon');
    const kim = user('q-kim');
    const id = await created(jon, { replicas: 2 });
    const artifactId = ((await jon.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id } } } }`, { id })).data as any).workload.artifact.id;
    const shared = await jon.execRaw(`mutation($input: UpdateSharedRolesInput!) { updateArtifactSharedRoles(input: $input) { __typename } }`, {
      input: { id: artifactId, roles: [{ subjectType: 'USER', subjectId: 'q-jon', role: 'OWNER' }, { subjectType: 'USER', subjectId: 'q-kim', role: 'EDITOR' }] },
    });
    expect(shared.errors).toBeUndefined();
    const edit = await kim.execRaw(
      `mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename ... on QuotaExceededError { scope subject resource used requested } } }`,
      { input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '1', memory: '256Mi' } })]) } },
    );
    expect((edit.data as any).updateArtifact).toEqual({ __typename: 'QuotaExceededError', scope: 'OWNER', subject: 'q-jon', resource: 'CPU', used: 0.5, requested: 1.5 });
    expect((await quota(kim)).quota).toMatchObject({ workloads: { used: 0 }, cpu: { used: 0 } });
  });

  it('decides a draft\'s spec edit and a create racing for the same room one after the other: exactly one wins', async () => {
    const gil = user('q-gil');
    const id = await created(gil, { replicas: 2 });
    const artifactId = ((await gil.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { artifact { id } } } }`, { id })).data as any).workload.artifact.id;
    const [edited, other] = await Promise.all([
      gil.execRaw(`mutation($input: UpdateArtifactInput!) { updateArtifact(input: $input) { __typename } }`, {
        input: { id: artifactId, spec: specInput([containerInput({ resources: { cpu: '500m', memory: '256Mi' } })]) },
      }),
      create(gil, { replicas: 2 }),
    ]);
    const winners = [(edited.data as any).updateArtifact.__typename === 'UpdateArtifactPayload', other.__typename === 'CreateWorkloadPayload'];
    expect(winners.filter(Boolean)).toHaveLength(1);
    expect((await quota(gil)).quota).toMatchObject({ cpu: { used: 1 } });
  });

  it('counts a replacement\'s candidate while the replacement runs, and frees it when cancelled', async () => {
    const fay = user('q-fay');
    const id = await created(fay, { replicas: 2 });
    await until(fay, id, 'RUNNING');
    const { createArtifact } = await fay.exec(CreateArtifactForQuotaDocument, { input: { name: `next-${id.slice(-6)}`, spec: quarterSpec() as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    const artifactId = createArtifact.artifact.id;
    expect(
      (await fay.exec(ReplaceWithinQuotaDocument, { input: { id, artifactId, runtime: { replicaCount: 3 }, warmupSeconds: 3600 } })).replaceWorkloadArtifact,
    ).toMatchObject({ __typename: 'QuotaExceededError', resource: 'REPLICAS', used: 2, requested: 3 });
    expect(
      (await fay.exec(ReplaceWithinQuotaDocument, { input: { id, artifactId, runtime: { replicaCount: 2 }, warmupSeconds: 3600 } })).replaceWorkloadArtifact,
    ).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    expect((await quota(fay)).quota).toMatchObject({ workloads: { used: 1 }, replicas: { used: 4 }, cpu: { used: 1 } });
    expect(await create(fay)).toMatchObject({ __typename: 'QuotaExceededError', resource: 'REPLICAS', used: 4, requested: 1 });
    expect((await fay.exec(CancelReplacementWithinQuotaDocument, { id })).cancelReplacement.__typename).toBe('WorkloadOperationPayload');
    await vi.waitFor(async () => expect((await quota(fay)).quota.replicas.used).toBe(2), { timeout: 30_000, interval: 20 });
    expect(await create(fay)).toMatchObject({ __typename: 'CreateWorkloadPayload' });
  });

  it('adds up an organization\'s workloads across its members, with per-organization overrides', async () => {
    const members = ['q-acme-1', 'q-acme-2', 'q-acme-3'].map((sub) => user(sub, { org: 'q-acme' }));
    for (const member of members.slice(0, 2)) {
      await created(member);
      await created(member);
    }
    await created(members[2]!);
    expect(await create(members[2]!)).toMatchObject({
      __typename: 'QuotaExceededError',
      scope: 'ORGANIZATION',
      subject: 'q-acme',
      resource: 'WORKLOADS',
      limit: 5,
      used: 5,
      requested: 1,
    });
    const view = await quota(members[2]!);
    expect(view.quota.workloads).toEqual({ used: 1, limit: 3 });
    expect(view.organizationQuota).toMatchObject({ scope: 'ORGANIZATION', subject: 'q-acme', workloads: { used: 5, limit: 5 } });
    expect((await quota(user('q-loner'))).organizationQuota).toBeNull();

    const roomy = ['q-roomy-1', 'q-roomy-2'].map((sub) => user(sub, { org: 'roomy' }));
    for (const member of roomy) for (let i = 0; i < 3; i++) await created(member);
    expect((await quota(roomy[0]!)).organizationQuota).toMatchObject({ workloads: { used: 6, limit: null }, replicas: { used: 6, limit: 10_000 } });
  });

  it('decides concurrent creates of one owner one at a time: of ten at once, exactly three win', async () => {
    const racer = user('q-racer');
    const results = await Promise.all(Array.from({ length: 10 }, () => create(racer)));
    const won = results.filter((r) => r.__typename === 'CreateWorkloadPayload');
    const refused = results.filter((r) => r.__typename === 'QuotaExceededError');
    expect(won).toHaveLength(3);
    expect(refused).toHaveLength(7);
    expect((await quota(racer)).quota.workloads.used).toBe(3);
  });

  it('decides concurrent creates of one owner across two API replicas by the database\'s lock: of ten at once, five through each, exactly three win', async () => {
    if (backend.name !== 'postgres') return; // the embedded database has one process and one connection
    const replica = await t.replica();
    try {
      const subject = { sub: 'q-two-replicas' };
      const here = t.as(subject);
      const there = replica.as(subject);
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? create(here) : create(there))));
      expect(results.filter((r) => r.__typename === 'CreateWorkloadPayload')).toHaveLength(3);
      expect(results.filter((r) => r.__typename === 'QuotaExceededError')).toHaveLength(7);
      expect((await quota(here)).quota.workloads.used).toBe(3);
    } finally {
      await replica.stop();
    }
  });

  it('keeps a burst of one owner\'s creates waiting in the process, at most one on the database\'s lock holding a connection', async () => {
    const racer = user('q-turns');
    let waiting = 0;
    let done = false;
    const watcher = (async () => {
      while (!done) {
        const [row] = await t.app.orm.em.fork().getConnection().execute<{ n: string }[]>(
          `select count(*) as n from pg_locks where locktype = 'advisory' and not granted`,
        );
        waiting = Math.max(waiting, Number(row?.n ?? 0));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const results = await Promise.all(Array.from({ length: 10 }, () => create(racer)));
    done = true;
    await watcher;
    expect(results.filter((r) => r.__typename === 'CreateWorkloadPayload')).toHaveLength(3);
    expect(waiting).toBeLessThanOrEqual(QUOTA_TURN_WIDTH - 1);
  });

  it('decides concurrent creates of an organization\'s members across two API replicas, several to a statement on each: of twenty-four, exactly five win and none fails otherwise', async () => {
    if (backend.name !== 'postgres') return; // the embedded database has one process and one connection
    const replica = await t.replica();
    try {
      // Each replica's statements hold several owners' creates, decided under the locks of the
      // database, which both replicas' statements take.
      const subs = ['q-two-1', 'q-two-2', 'q-two-3', 'q-two-4'];
      const results = await Promise.all(
        subs.flatMap((sub, i) => Array.from({ length: 6 }, (_, k) => create(((i + k) % 2 === 0 ? t : replica).as({ sub, org: 'q-race-two' })))),
      );
      expect(results.filter((r) => r.__typename === 'CreateWorkloadPayload')).toHaveLength(5);
      expect(results.filter((r) => r.__typename === 'QuotaExceededError')).toHaveLength(19);
    } finally {
      await replica.stop();
    }
  });

  it('takes a statement\'s quota locks in the order a single create takes them: waiting for an owner\'s, it holds no organization\'s', async () => {
    if (backend.name !== 'postgres') return; // sessions holding locks beside the API's: the embedded database has one
    const org = 'q-order';
    const creates = t.app.services.workloads.creates;
    const advisory = (key: string) => `select pg_advisory_xact_lock(hashtextextended('quota:${key}', 0))`;
    const notGranted = async () =>
      (await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>(`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`))[0]!.n;
    // `table` keeps the first statement from finishing; `single` holds the second owner's lock, as
    // a single create of that owner on another replica does before it takes the organization's.
    const table = t.app.orm.em.fork();
    const single = t.app.orm.em.fork();
    await table.begin();
    await single.begin();
    try {
      await table.execute('lock table workload in exclusive mode');
      await single.execute(advisory('owner:q-order-2'));
      const first = create(user('q-order-3', { org }));
      await vi.waitFor(() => expect(creates.writing).toBe(1), { timeout: 10_000, interval: 5 });
      const together = [create(user('q-order-1', { org })), create(user('q-order-2', { org }))];
      await vi.waitFor(() => expect(creates.waiting).toBe(2), { timeout: 10_000, interval: 5 });
      await table.commit();
      expect((await first).__typename).toBe('CreateWorkloadPayload');
      // The statement of the two waits for the second owner's lock.
      await vi.waitFor(async () => expect(await notGranted()).toBe(1), { timeout: 10_000, interval: 10 });
      // The single create goes on to the organization's lock: free, since the waiting statement
      // took none yet. (Taken item by item, the first item would hold it: a deadlock, which the
      // database breaks only after deadlock_timeout, 1 s, failing one of the two.)
      const organization = single.execute(advisory(`organization:${org}`)).then(() => 'granted' as const);
      organization.catch(() => {});
      expect(await Promise.race([organization, new Promise((r) => setTimeout(() => r('waiting'), 500))])).toBe('granted');
      await single.commit();
      expect((await Promise.all(together)).map((r) => r.__typename)).toEqual(['CreateWorkloadPayload', 'CreateWorkloadPayload']);
    } finally {
      for (const em of [table, single]) if (em.isInTransaction()) await em.rollback().catch(() => {});
    }
  });

  it('decides concurrent creates across an organization one at a time: of twelve by four members, exactly five win', async () => {
    const members = ['q-race-1', 'q-race-2', 'q-race-3', 'q-race-4'].map((sub) => user(sub, { org: 'q-race' }));
    const results = await Promise.all(members.flatMap((m) => [create(m), create(m), create(m)]));
    expect(results.filter((r) => r.__typename === 'CreateWorkloadPayload')).toHaveLength(5);
    expect(results.filter((r) => r.__typename === 'QuotaExceededError').every((r) => 'scope' in r && r.scope === 'ORGANIZATION')).toBe(true);
    expect((await quota(members[0]!)).organizationQuota?.workloads.used).toBe(5);
  });

  it('decides concurrent starts of one owner one at a time', async () => {
    const gus = user('q-gus');
    const ids = [await created(gus, { replicas: 2 }), await created(gus, { replicas: 2 })];
    for (const id of ids) await until(gus, id, 'RUNNING');
    for (const id of ids) await gus.exec(StopWorkloadWithinQuotaDocument, { id });
    for (const id of ids) await until(gus, id, 'STOPPED');
    await created(gus, { replicas: 1 });
    // Each start fits alone (1 + 2 <= 4); both together do not.
    const results = await Promise.all(ids.map((id) => gus.exec(StartWorkloadWithinQuotaDocument, { id })));
    expect(results.map((r) => r.startWorkload.__typename).sort()).toEqual(['QuotaExceededError', 'WorkloadOperationPayload']);
    expect((await quota(gus)).quota.replicas.used).toBe(3);
  });
});
