import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeEachDatabase, type Backend } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { recordSql } from '../support/sql-log.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** A create and what it answers with: the workload's fields, its artifact, the caller's roles. */
const CREATE = `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) {
  __typename
  ... on CreateWorkloadPayload { workload { id name status importance viewerRole artifact { id name status viewerRole } } }
  ... on Error { code message }
} }`;

const UNLIMITED = Object.fromEntries(
  ['OWNER', 'ORGANIZATION'].flatMap((scope) => ['WORKLOADS', 'REPLICAS', 'CPU', 'MEMORY'].map((r) => [`QUOTA_${scope}_${r}`, 'unlimited'])),
);

/** The rows a create leaves in the database, counted directly. */
async function rowCounts(t: TestApp): Promise<Record<string, number>> {
  const sql = t.app.orm.em.fork().getConnection();
  const counts: Record<string, number> = {};
  for (const table of ['artifact_repository', 'artifact', 'artifact_shared_role', 'workload', 'workload_shared_role', 'workload_event']) {
    const [row] = await sql.execute<{ n: number }[]>(`select count(*)::int as n from ${table}`);
    counts[table] = row!.n;
  }
  return counts;
}

/** A new draft of the caller's, by its global id. */
async function createArtifact(caller: Pick<TestApp, 'execRaw'>): Promise<string> {
  const created = await caller.execRaw(`mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { ... on CreateArtifactPayload { artifact { id } } } }`, {
    input: artifactInput(),
  });
  return (created.data as any).createArtifact.artifact.id;
}

/**
 * Sends `first` and keeps its statement from finishing while `meanwhile` runs (PostgreSQL's waits
 * for the workload table, the embedded database's for its one connection, which the transaction
 * here holds); answers what `first` answers, once `meanwhile` is done and the hold released.
 */
async function whileFirstStatementHeld(t: TestApp, backend: Backend, first: () => Promise<any>, meanwhile: () => Promise<void>): Promise<any> {
  let answer: Promise<any> | undefined;
  await t.app.orm.em.fork().transactional(async (em) => {
    if (backend.name === 'postgres') await em.getConnection().execute('lock table workload in exclusive mode', [], 'all', em.getTransactionContext());
    answer = first();
    await vi.waitFor(() => expect(t.app.services.workloads.creates.writing).toBe(1), { timeout: 10_000, interval: 5 });
    await meanwhile();
  });
  return answer!;
}

describeEachDatabase('a workload created in one statement', (backend) => {
  describe('when no quota bounds its owner or organization', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend, UNLIMITED);
    });
    afterAll(() => t?.stop());

    it('writes its inline artifact, grants and created event with one statement and no transaction around it, and answers from what it wrote', async () => {
      const before = await rowCounts(t);
      const sql = recordSql(t.app.orm);
      const result = await t.execRaw(CREATE, { input: workloadInput({ name: 'one-statement', artifact: artifactInput({ name: 'its-spec' }) }) });
      sql.stop();
      expect(result.errors).toBeUndefined();
      expect((result.data as any).createWorkload).toMatchObject({
        __typename: 'CreateWorkloadPayload',
        workload: { name: 'one-statement', status: 'SUBMITTED', importance: 'LOW', viewerRole: 'OWNER', artifact: { name: 'its-spec', status: 'DRAFT', viewerRole: 'OWNER' } },
      });
      expect(sql.statements).toHaveLength(1);
      expect(sql.statements[0]).toMatch(/^select workload_create_batch\(/);
      const after = await rowCounts(t);
      for (const [table, n] of Object.entries(after)) expect({ table, added: n - before[table]! }).toEqual({ table, added: 1 });
      const id = (result.data as any).createWorkload.workload.id;
      const read = await t.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { name events(first: 5) { edges { node { sequence type actor } } } } } }`, { id });
      expect((read.data as any).workload).toEqual({ name: 'one-statement', events: { edges: [{ node: { sequence: 1, type: 'created', actor: 'developer' } }] } });
    });

    it('writes nothing of a create the database refuses: a taken name leaves no artifact behind', async () => {
      const first = await t.execRaw(CREATE, { input: workloadInput({ name: 'taken-once', artifact: artifactInput() }) });
      expect((first.data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      const before = await rowCounts(t);
      const again = await t.execRaw(CREATE, { input: workloadInput({ name: 'taken-once', artifact: artifactInput() }) });
      expect((again.data as any).createWorkload).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
      expect((again.data as any).createWorkload.message).toContain('"taken-once" is taken');
      expect(await rowCounts(t)).toEqual(before);
      // Names are unique per owner: another user, in another organization, may take it.
      const other = await t.as({ sub: 'someone-else', org: 'elsewhere' }).execRaw(CREATE, { input: workloadInput({ name: 'taken-once', artifact: artifactInput() }) });
      expect((other.data as any).createWorkload).toMatchObject({ __typename: 'CreateWorkloadPayload', workload: { name: 'taken-once', viewerRole: 'OWNER' } });
    });

    it('lets one of many racing creates of one name win, and leaves nothing of the others', async () => {
      const before = await rowCounts(t);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => t.execRaw(CREATE, { input: workloadInput({ name: 'raced', artifact: artifactInput() }) })),
      );
      const kinds = results.map((r) => (r.data as any).createWorkload.__typename).sort();
      expect(kinds).toEqual(['ConflictError', 'ConflictError', 'ConflictError', 'ConflictError', 'ConflictError', 'ConflictError', 'ConflictError', 'CreateWorkloadPayload']);
      const after = await rowCounts(t);
      for (const [table, n] of Object.entries(after)) expect({ table, added: n - before[table]! }).toEqual({ table, added: 1 });
    });

    it('still checks an existing artifact in a transaction: its draft holder, under the artifact lock', async () => {
      const artifactId = await createArtifact(t);
      const sql = recordSql(t.app.orm);
      const first = await t.execRaw(CREATE, { input: workloadInput({ name: 'on-draft', artifactId }) });
      sql.stop();
      expect((first.data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      expect(sql.statements[0]).toBe('begin');
      expect(sql.statements.filter((s) => s.startsWith('select workload_create('))).toHaveLength(1);
      expect(sql.statements[sql.statements.findIndex((s) => s.startsWith('select workload_create(')) + 1]).toBe('commit');
      const second = await t.execRaw(CREATE, { input: workloadInput({ name: 'on-draft-too', artifactId }) });
      expect((second.data as any).createWorkload).toMatchObject({ __typename: 'ConflictError' });
    });
  });

  describe('when a quota bounds its owner', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend, { ...UNLIMITED, QUOTA_OWNER_WORKLOADS: '1' });
    });
    afterAll(() => t?.stop());

    it('checks the quota in the statement that writes, no transaction around it, and refuses past the limit writing nothing', async () => {
      const sql = recordSql(t.app.orm);
      const r = await t.execRaw(CREATE, { input: workloadInput({ name: 'q1', artifact: artifactInput() }) });
      sql.stop();
      expect((r.data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      expect(sql.statements.map((q) => q.split('(')[0])).toEqual(['select workload_create_batch']);
      const before = await rowCounts(t);
      const refused = await t.execRaw(CREATE, { input: workloadInput({ name: 'q2', artifact: artifactInput() }) });
      expect((refused.data as any).createWorkload).toMatchObject({
        __typename: 'QuotaExceededError',
        message: 'the workloads quota of owner "developer" is 1 workload: 1 workload in use, and this needs 1 workload more',
      });
      expect(await rowCounts(t)).toEqual(before);
    });

    it('on an existing artifact, takes the quota lock and checks in one statement of the transaction, before the write', async () => {
      const other = t.as({ sub: 'existing-artifact' });
      const artifactId = await createArtifact(other);
      const sql = recordSql(t.app.orm);
      const r = await other.execRaw(CREATE, { input: workloadInput({ name: 'on-existing', artifactId }) });
      sql.stop();
      expect((r.data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      const at = (prefix: string) => sql.statements.findIndex((q) => q.startsWith(prefix));
      expect(sql.statements[0]).toBe('begin');
      expect(sql.statements.filter((q) => q.includes('pg_advisory_xact_lock'))).toEqual([]);
      expect(at('select quota_admit(')).toBeGreaterThan(0);
      expect(at('select workload_create(')).toBeGreaterThan(at('select quota_admit('));
      // The draft's spec read again under its row lock (an edit since the check would be refused), then the commit.
      expect(sql.statements.slice(at('select workload_create(') + 1, at('select workload_create(') + 3)).toEqual([expect.stringMatching(/^select spec = /), 'commit']);
      const refused = await other.execRaw(CREATE, { input: workloadInput({ name: 'on-existing-too', artifact: artifactInput() }) });
      expect((refused.data as any).createWorkload).toMatchObject({ __typename: 'QuotaExceededError', message: expect.stringContaining('workloads quota of owner "existing-artifact"') });
    });
    // PGlite has one connection: nothing can hold the draft's row while a create waits for it.
    it.skipIf(backend.name === 'pglite')('refuses a create on a draft whose spec was edited after its quota check, writing nothing', async () => {
      const editor = t.as({ sub: 'edited-meanwhile' });
      const artifactId = await createArtifact(editor);
      const rowId = Buffer.from(artifactId, 'base64').toString().split(':')[1];
      const before = await rowCounts(t);
      let result: Promise<any> | undefined;
      await t.app.orm.em.fork().transactional(async (em) => {
        // Hold the draft's row, as an edit does: the create checks its quota, then waits to insert.
        await em.getConnection().execute('select id from artifact where id = ? for no key update', [rowId], 'all', em.getTransactionContext());
        result = editor.execRaw(CREATE, { input: workloadInput({ name: 'raced-edit', artifactId }) });
        await vi.waitFor(
          async () => {
            const [row] = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>(`select count(*)::int as n from pg_locks where not granted`);
            expect(row!.n).toBeGreaterThan(0);
          },
          { timeout: 10_000, interval: 10 },
        );
        await em.getConnection().execute(`update artifact set spec = jsonb_set(spec, '{containerGroups,0,containers,0,resources}', '{"cpu": "2"}') where id = ?`, [rowId], 'all', em.getTransactionContext());
      });
      const refused = await result!;
      expect((refused.data as any).createWorkload).toMatchObject({ __typename: 'ConflictError', message: expect.stringContaining('was edited while this workload was created on it') });
      expect(await rowCounts(t)).toEqual(before);
    });
  });

  describe('when quotas bound both its owner and its organization', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend, { ...UNLIMITED, QUOTA_OWNER_WORKLOADS: '10', QUOTA_ORGANIZATION_WORKLOADS: '3' });
    });
    afterAll(() => t?.stop());

    it('locks both, reads both usages and writes in one statement; the organization counts every member', async () => {
      const member = (sub: string) => t.as({ sub, org: 'acme' });
      const sql = recordSql(t.app.orm);
      const r = await member('m1').execRaw(CREATE, { input: workloadInput({ name: 'o1', artifact: artifactInput() }) });
      sql.stop();
      expect((r.data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      expect(sql.statements.map((q) => q.split('(')[0])).toEqual(['select workload_create_batch']);
      for (const [sub, name] of [['m2', 'o2'], ['m3', 'o3']] as const) {
        expect(((await member(sub).execRaw(CREATE, { input: workloadInput({ name, artifact: artifactInput() }) })).data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      }
      const refused = await member('m4').execRaw(CREATE, { input: workloadInput({ name: 'o4', artifact: artifactInput() }) });
      expect((refused.data as any).createWorkload).toMatchObject({ __typename: 'QuotaExceededError' });
      expect((refused.data as any).createWorkload.message).toContain('organization "acme" is 3 workloads: 3 workloads in use');
    });
  });

  describe('when a burst of creates arrives while one is being written', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend, { ...UNLIMITED, GRAPHQL_MUTATION_CONCURRENCY: '1' });
    });
    afterAll(() => t?.stop());

    it('lets creates give their admitted place back while two statements of them wait, and keeps the next one in its place, so the burst runs no further ahead of the database', async () => {
      const creates = t.app.services.workloads.creates;
      const perStatement = creates.maxPerStatement;
      const create = (name: string) => t.execRaw(CREATE, { input: workloadInput({ name, artifact: artifactInput() }) });
      const answers: Promise<any>[] = [];
      const first = await whileFirstStatementHeld(t, backend, () => create('held-0'), async () => {
        // With one place, each of these is admitted only once the one before gave its place back.
        for (let i = 1; i < 2 * perStatement; i++) answers.push(create(`given-back-${i}`));
        await vi.waitFor(() => expect(creates.pending).toBe(2 * perStatement), { timeout: 10_000, interval: 5 });
        expect(t.app.admission.active()).toBe(0);
        // Two statements' worth wait: the next create keeps its place while it waits, and the one after waits for it.
        answers.push(create('kept-place'));
        await vi.waitFor(() => expect(creates.pending).toBe(2 * perStatement + 1), { timeout: 10_000, interval: 5 });
        answers.push(create('waits-for-a-place'));
        await vi.waitFor(() => expect([t.app.admission.active(), t.app.admission.waiting()]).toEqual([1, 1]), { timeout: 10_000, interval: 5 });
        expect(creates.pending).toBe(2 * perStatement + 1);
      });
      const results = (await Promise.all([first, ...answers])).map((r) => (r.data as any).createWorkload.__typename);
      expect(results).toEqual(Array.from({ length: 2 * perStatement + 2 }, () => 'CreateWorkloadPayload'));
      expect([t.app.admission.active(), t.app.admission.waiting(), creates.pending]).toEqual([0, 0, 0]);
    });

    it(`writes at most ${backend.name === 'postgres' ? 32 : 16} waiting creates a statement on ${backend.name === 'postgres' ? 'a PostgreSQL server' : 'the embedded database'}`, async () => {
      const creates = t.app.services.workloads.creates;
      // A server's statement runs beside the reads on other connections; the embedded database's holds its one thread.
      expect(creates.maxPerStatement).toBe(backend.name === 'postgres' ? 32 : 16);
      const create = (name: string) => t.execRaw(CREATE, { input: workloadInput({ name, artifact: artifactInput() }) });
      const sql = recordSql(t.app.orm);
      const answers: Promise<any>[] = [];
      const first = await whileFirstStatementHeld(t, backend, () => create('bound-0'), async () => {
        for (let i = 1; i <= creates.maxPerStatement + 1; i++) answers.push(create(`bound-${i}`));
        await vi.waitFor(() => expect(creates.waiting).toBe(creates.maxPerStatement + 1), { timeout: 10_000, interval: 5 });
      });
      const results = (await Promise.all([first, ...answers])).map((r) => (r.data as any).createWorkload.__typename);
      sql.stop();
      expect(results).toEqual(Array.from({ length: creates.maxPerStatement + 2 }, () => 'CreateWorkloadPayload'));
      // The first alone, then a full statement, then the one left over.
      expect(sql.statements.filter((q) => q.startsWith('select workload_create_batch('))).toHaveLength(3);
    });
  });

  describe('when creates arrive while one is being written', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp(backend, { ...UNLIMITED, QUOTA_ORGANIZATION_WORKLOADS: '4' });
    });
    afterAll(() => t?.stop());

    it('writes those waiting in one statement, each decided as if alone: a taken name and a breached quota refuse only their own create', async () => {
      const member = (sub: string) => t.as({ sub, org: 'batched' });
      const create = (sub: string, name: string) => member(sub).execRaw(CREATE, { input: workloadInput({ name, artifact: artifactInput() }) });
      expect(((await create('m1', 'taken')).data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
      const creates = t.app.services.workloads.creates;
      const before = await rowCounts(t);
      const sql = recordSql(t.app.orm);
      const answers: Promise<any>[] = [];
      const first = await whileFirstStatementHeld(t, backend, () => create('m1', 'first'), async () => {
        // In this order: the organization has 2 of its 4 once the first is written.
        const waiting: [string, string][] = [['m1', 'taken'], ['m2', 'twice'], ['m2', 'twice'], ['m3', 'fits'], ['m3', 'past-quota'], ['m4', 'past-quota-too']];
        for (const [sub, name] of waiting) {
          answers.push(create(sub, name));
          const queued = answers.length;
          await vi.waitFor(() => expect(creates.waiting).toBe(queued), { timeout: 10_000, interval: 5 });
        }
      });
      const results = (await Promise.all([first, ...answers])).map((r) => (r.data as any).createWorkload);
      sql.stop();
      expect(sql.statements.filter((q) => q.startsWith('select workload_create_batch('))).toHaveLength(2);
      expect(results.map((r) => r.__typename)).toEqual([
        'CreateWorkloadPayload', 'ConflictError', 'CreateWorkloadPayload', 'ConflictError', 'CreateWorkloadPayload', 'QuotaExceededError', 'QuotaExceededError',
      ]);
      expect(results[1].message).toContain('"taken" is taken');
      expect(results[3].message).toContain('"twice" is taken');
      expect(results[5].message).toBe('the workloads quota of organization "batched" is 4 workloads: 4 workloads in use, and this needs 1 workload more');
      expect(results.filter((r) => r.workload).map((r) => r.workload.name)).toEqual(['first', 'twice', 'fits']);
      // Only the three written left rows: no inline artifact of a refused create stays behind.
      const after = await rowCounts(t);
      for (const [table, n] of Object.entries(after)) expect({ table, added: n - before[table]! }).toEqual({ table, added: 3 });
      // Each written workload's first event is its own created event.
      const owners = ['m1', 'm1', 'm2', 'm2', 'm3', 'm3', 'm4'];
      for (const [i, r] of results.entries()) {
        if (!r.workload) continue;
        const read = await member(owners[i]!).execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { events(first: 1) { edges { node { sequence type } } } } } }`, { id: r.workload.id });
        expect((read.data as any).workload.events.edges.map((e: any) => e.node)).toEqual([{ sequence: 1, type: 'created' }]);
      }
    });
  });
});
