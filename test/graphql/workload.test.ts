import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CreateArtifactDocument,
  CreateWorkloadDocument,
  GetNodeDocument,
  GetWorkloadDocument,
  ListWorkloadsDocument,
  ListWorkloadsWithRelationsDocument,
  LockArtifactDocument,
  UpdateWorkloadDocument,
  WorkloadEventsDocument,
} from './generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { recordSql } from '../support/sql-log.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const HOUR = 3600_000;

describeEachDatabase('workloads', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { PUBLIC_BASE_URL: 'https://api.example.com/' });
  });
  afterAll(() => t?.stop());

  async function artifact(locked = false) {
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: artifactInput() as never });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    if (!locked) return createArtifact.artifact;
    const { lockArtifact } = await t.exec(LockArtifactDocument, { id: createArtifact.artifact.id });
    if (lockArtifact.__typename !== 'LockArtifactPayload') throw new Error(lockArtifact.__typename);
    return lockArtifact.artifact;
  }

  it('answers a create from what it wrote: no statement after its commit for the workload\'s fields', async () => {
    const sql = recordSql(t.app.orm);
    const result = await t.execRaw(
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id name status importance } } } }`,
      { input: workloadInput({ artifact: artifactInput() }) },
    );
    sql.stop();
    expect(result.errors).toBeUndefined();
    expect((result.data as any).createWorkload).toMatchObject({ __typename: 'CreateWorkloadPayload', workload: { status: 'SUBMITTED', importance: 'LOW' } });
    // The write is its own statement (and its commit), or ends a transaction.
    const written = sql.statements.findLastIndex((q) => q === 'commit' || q.startsWith('select workload_create'));
    expect(written).toBeGreaterThanOrEqual(0);
    expect(sql.statements.slice(written + 1)).toEqual([]);
  });

  async function create(input: Record<string, unknown>) {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: input as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload;
  }

  it('creates a workload on an inline spec: a draft artifact, SUBMITTED, its active proton SUBMITTED, expiring after the draft TTL', async () => {
    const w = await create(workloadInput({ name: 'inline', artifact: artifactInput({ name: 'inline-artifact' }), runtime: { replicaCount: 2 } }));
    expect(w).toMatchObject({
      name: 'inline',
      status: 'SUBMITTED',
      importance: 'LOW',
      protons: [{ role: 'ACTIVE', status: 'SUBMITTED' }],
      runtime: { replicaCount: 2, containerResources: [] },
      artifact: { name: 'inline-artifact', status: 'DRAFT', version: null },
    });
    expect(new Date(w.expiresAt!).getTime() - new Date(w.createdAt).getTime()).toBe(8 * HOUR);
    const rawId = Buffer.from(w.id, 'base64').toString().split(':')[1];
    expect(w.endpoint).toBe(`https://api.example.com/endpoints/workloads/${rawId}/`);
  });

  it('creates a workload on a locked artifact with no TTL and the importance asked for', async () => {
    const a = await artifact(true);
    const w = await create(workloadInput({ artifactId: a.id, importance: 'HIGH', runtime: { replicaCount: 3, containerResources: [{ containerName: 'app', cpu: '2', memory: '1Gi' }] } }));
    expect(w).toMatchObject({ importance: 'HIGH', expiresAt: null, artifact: { id: a.id, status: 'LOCKED', version: 1 } });
    expect(w.runtime.containerResources).toEqual([{ containerName: 'app', cpu: '2', memory: '1Gi' }]);
  });

  it('records a created event numbered 1 with the acting subject', async () => {
    const w = await create(workloadInput({ artifact: artifactInput() }));
    const { workload } = await t.exec(GetWorkloadDocument, { id: w.id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    expect(workload.events.edges.map((e) => e.node)).toMatchObject([{ sequence: 1, type: 'created', actor: 'developer' }]);
  });

  it('refuses a second workload on a draft artifact, naming the one that holds it', async () => {
    const a = await artifact();
    const first = await create(workloadInput({ name: 'holder', artifactId: a.id }));
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: workloadInput({ artifactId: a.id }) as never });
    expect(createWorkload).toMatchObject({ __typename: 'ConflictError', conflictingIds: [first.id] });
    if (createWorkload.__typename === 'ConflictError') expect(createWorkload.message).toContain('"holder"');
  });

  it('lets exactly one of two concurrent creates on one draft artifact win; the other names the winner', async () => {
    const a = await artifact();
    const results = await Promise.all(
      [1, 2].map(() => t.exec(CreateWorkloadDocument, { input: workloadInput({ artifactId: a.id }) as never })),
    );
    const winners = results.filter((r) => r.createWorkload.__typename === 'CreateWorkloadPayload');
    const losers = results.filter((r) => r.createWorkload.__typename === 'ConflictError');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    const winner = winners[0]!.createWorkload;
    const loser = losers[0]!.createWorkload;
    if (winner.__typename !== 'CreateWorkloadPayload' || loser.__typename !== 'ConflictError') throw new Error('unreachable');
    expect(loser.conflictingIds).toEqual([winner.workload.id]);
    const { workloads } = await t.exec(ListWorkloadsDocument, { filter: { artifactId: a.id }, first: 10 });
    expect(workloads.totalCount).toBe(1);
  });

  it('allows many workloads on one locked artifact', async () => {
    const a = await artifact(true);
    await create(workloadInput({ artifactId: a.id }));
    await create(workloadInput({ artifactId: a.id }));
    const { workloads } = await t.exec(ListWorkloadsDocument, { filter: { artifactId: a.id }, first: 10 });
    expect(workloads.totalCount).toBe(2);
  });

  it('refuses a workload name the owner already uses', async () => {
    const first = await create(workloadInput({ name: 'taken', artifact: artifactInput() }));
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'taken', artifact: artifactInput() } as never });
    expect(createWorkload).toMatchObject({ __typename: 'ConflictError', conflictingIds: [first.id] });
    const other = await create(workloadInput({ name: 'other-name', artifact: artifactInput() }));
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id: other.id, name: 'taken' } });
    expect(updateWorkload).toMatchObject({ __typename: 'ConflictError', conflictingIds: [first.id] });
  });

  it('rolls back the inline artifact when the workload cannot be created', async () => {
    await create(workloadInput({ name: 'dup-inline', artifact: artifactInput() }));
    const before = (await t.execRaw('{ artifacts(first: 1) { totalCount } }')).data as { artifacts: { totalCount: number } };
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'dup-inline', artifact: artifactInput() } as never });
    expect(createWorkload.__typename).toBe('ConflictError');
    const after = (await t.execRaw('{ artifacts(first: 1) { totalCount } }')).data as { artifacts: { totalCount: number } };
    expect(after.artifacts.totalCount).toBe(before.artifacts.totalCount);
  });

  it('answers NotFound for an artifactId that names nothing', async () => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: workloadInput({ artifactId: 'bm9wZQ==' }) as never });
    expect(createWorkload).toMatchObject({ __typename: 'NotFoundError', resourceType: 'Artifact' });
  });

  it('updates name, description and importance without a restart, recording what changed', async () => {
    const w = await create(workloadInput({ artifact: artifactInput() }));
    t.clock.advance(1000);
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id: w.id, importance: 'HIGH', description: 'now important' } });
    expect(updateWorkload).toMatchObject({
      __typename: 'UpdateWorkloadPayload',
      workload: { id: w.id, importance: 'HIGH', description: 'now important', status: 'SUBMITTED', protons: w.protons, expiresAt: w.expiresAt },
    });
    if (updateWorkload.__typename === 'UpdateWorkloadPayload') expect(updateWorkload.workload.updatedAt).not.toBe(w.updatedAt);
    const { workload } = await t.exec(GetWorkloadDocument, { id: w.id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    expect(workload.events.edges.map((e) => e.node.type)).toEqual(['created', 'importanceChanged']);
    expect(workload.events.edges[1]!.node.message).toMatch(/importance changed from "low" to "high"/);

    // A change to nothing records nothing.
    await t.exec(UpdateWorkloadDocument, { input: { id: w.id, importance: 'HIGH' } });
    const again = await t.exec(GetWorkloadDocument, { id: w.id });
    if (again.workload.__typename !== 'Workload') throw new Error(again.workload.__typename);
    expect(again.workload.events.edges).toHaveLength(2);
  });

  it('records events for values holding semicolons and quotes (the embedded driver once split statements at ";")', async () => {
    const w = await create(workloadInput({ name: "semi'colon; one", artifact: artifactInput() }));
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id: w.id, name: "semi'colon; two; drop table workload;" } });
    expect(updateWorkload).toMatchObject({ __typename: 'UpdateWorkloadPayload', workload: { name: "semi'colon; two; drop table workload;" } });
    const { workload } = await t.exec(GetWorkloadDocument, { id: w.id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    expect(workload.events.edges.map((e) => e.node.sequence)).toEqual([1, 2]);
    expect(workload.events.edges[1]!.node.message).toContain('"semi\'colon; two; drop table workload;"');
  });

  it('answers NotFound for a workload id that names nothing', async () => {
    const { workload } = await t.exec(GetWorkloadDocument, { id: Buffer.from('Workload:4b1c8f02-6d0b-4a61-9f51-0b1f3e5d2a77').toString('base64') });
    expect(workload).toMatchObject({ __typename: 'NotFoundError', resourceType: 'Workload' });
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id: 'garbage', name: 'x' } });
    expect(updateWorkload).toMatchObject({ __typename: 'NotFoundError', resourceId: 'garbage' });
  });

  it('resolves workloads and artifacts through node(id), and null for ids that name nothing', async () => {
    const w = await create(workloadInput({ name: 'by-node', artifact: artifactInput({ name: 'node-artifact' }) }));
    expect((await t.exec(GetNodeDocument, { id: w.id })).node).toEqual({ __typename: 'Workload', id: w.id, name: 'by-node' });
    expect((await t.exec(GetNodeDocument, { id: w.artifact.id })).node).toEqual({ __typename: 'Artifact', id: w.artifact.id, name: 'node-artifact' });
    expect((await t.exec(GetNodeDocument, { id: Buffer.from('Workload:00000000-0000-4000-8000-000000000000').toString('base64') })).node).toBeNull();
    expect((await t.exec(GetNodeDocument, { id: Buffer.from('Nothing:1').toString('base64') })).node).toBeNull();
  });

  it('filters workloads by status, importance, artifact status, artifact and text', async () => {
    const tag = `flt${Date.now()}`;
    const locked = await artifact(true);
    const a = await create(workloadInput({ name: `${tag}-alpha`, artifactId: locked.id, importance: 'HIGH' }));
    const b = await create(workloadInput({ name: `${tag}-beta`, artifact: artifactInput(), description: 'the Beta one' }));
    const names = async (filter: Record<string, unknown>) =>
      (await t.exec(ListWorkloadsDocument, { filter: { search: tag, ...filter }, first: 100 })).workloads.edges.map((e) => e.node.name).sort();
    expect(await names({})).toEqual([a.name, b.name]);
    expect(await names({ importance: ['HIGH', 'CRITICAL'] })).toEqual([a.name]);
    expect(await names({ artifactStatus: 'LOCKED' })).toEqual([a.name]);
    expect(await names({ artifactStatus: 'DRAFT' })).toEqual([b.name]);
    expect(await names({ artifactId: locked.id })).toEqual([a.name]);
    expect(await names({ status: ['SUBMITTED'] })).toEqual([a.name, b.name]);
    expect(await names({ status: ['RUNNING', 'ERRORED'] })).toEqual([]);
    expect((await t.exec(ListWorkloadsDocument, { filter: { search: 'BETA ONE' }, first: 10 })).workloads.totalCount).toBe(1);
    // LIKE wildcards in a search match themselves only.
    expect((await t.exec(ListWorkloadsDocument, { filter: { search: `${tag}%` }, first: 10 })).workloads.totalCount).toBe(0);
  });

  it('pages through workloads forwards and backwards with stable cursors in any order', async () => {
    const tag = `pg${Date.now()}`;
    for (let i = 0; i < 7; i++) {
      await create(workloadInput({ name: `${tag}-${i}`, artifact: artifactInput() }));
      t.clock.advance(1000);
    }
    const collect = async (orderBy: { field: 'NAME' | 'CREATED_AT' | 'UPDATED_AT'; direction: 'ASC' | 'DESC' }) => {
      const seen: string[] = [];
      let after: string | null | undefined;
      for (;;) {
        const { workloads } = await t.exec(ListWorkloadsDocument, { filter: { search: tag }, orderBy, first: 3, after });
        expect(workloads.totalCount).toBe(7);
        seen.push(...workloads.edges.map((e) => e.node.name));
        if (!workloads.pageInfo.hasNextPage) break;
        after = workloads.pageInfo.endCursor;
      }
      return seen;
    };
    const ascending = [0, 1, 2, 3, 4, 5, 6].map((i) => `${tag}-${i}`);
    expect(await collect({ field: 'NAME', direction: 'ASC' })).toEqual(ascending);
    expect(await collect({ field: 'CREATED_AT', direction: 'DESC' })).toEqual([...ascending].reverse());
    expect(await collect({ field: 'UPDATED_AT', direction: 'ASC' })).toEqual(ascending);

    const last = await t.exec(ListWorkloadsDocument, { filter: { search: tag }, orderBy: { field: 'NAME', direction: 'ASC' }, last: 2 });
    expect(last.workloads.edges.map((e) => e.node.name)).toEqual([`${tag}-5`, `${tag}-6`]);
    expect(last.workloads.pageInfo.hasPreviousPage).toBe(true);
    const before = await t.exec(ListWorkloadsDocument, {
      filter: { search: tag },
      orderBy: { field: 'NAME', direction: 'ASC' },
      last: 2,
      before: last.workloads.pageInfo.startCursor,
    });
    expect(before.workloads.edges.map((e) => e.node.name)).toEqual([`${tag}-3`, `${tag}-4`]);
  });

  it('refuses page sizes outside 1..100 and cursors it did not make, naming the argument', async () => {
    for (const [args, argument, code] of [
      ['first: 0', 'first', 'VALIDATION'],
      ['first: 101', 'first', 'VALIDATION'],
      ['last: -1', 'last', 'VALIDATION'],
      ['first: 5, after: "bogus"', 'after', 'INVALID_CURSOR'],
    ] as const) {
      const result = await t.execRaw(`{ workloads(${args}) { totalCount } }`);
      expect(result.errors?.[0]).toMatchObject({ extensions: { code, argument } });
      expect(result.errors?.[0]?.message).toContain(`"${argument}"`);
    }
    const ok = await t.execRaw('{ workloads(first: 100) { totalCount } artifacts(first: 1) { totalCount } }');
    expect(ok.errors).toBeUndefined();
  });

  it('pages through a workload\'s events by sequence', async () => {
    const w = await create(workloadInput({ artifact: artifactInput() }));
    for (const importance of ['MODERATE', 'HIGH', 'MODERATE', 'LOW']) {
      await t.exec(UpdateWorkloadDocument, { input: { id: w.id, importance: importance as never } });
    }
    const first = await t.exec(WorkloadEventsDocument, { id: w.id, first: 2 });
    if (first.workload.__typename !== 'Workload') throw new Error(first.workload.__typename);
    expect(first.workload.events.edges.map((e) => e.node.sequence)).toEqual([1, 2]);
    const rest = await t.exec(WorkloadEventsDocument, { id: w.id, first: 10, after: first.workload.events.pageInfo.endCursor });
    if (rest.workload.__typename !== 'Workload') throw new Error(rest.workload.__typename);
    expect(rest.workload.events.edges.map((e) => e.node.sequence)).toEqual([3, 4, 5]);
    const newest = await t.exec(WorkloadEventsDocument, { id: w.id, last: 2 });
    if (newest.workload.__typename !== 'Workload') throw new Error(newest.workload.__typename);
    expect(newest.workload.events.edges.map((e) => e.node.sequence)).toEqual([4, 5]);
  });

  it('lists 100 workloads with their artifacts and protons in a small, fixed number of queries', async () => {
    for (let i = 0; i < 100; i++) await create(workloadInput({ artifact: artifactInput() }));
    // Every workload has its active proton from its create; give some a candidate as well.
    const em = t.app.orm.em.fork();
    const rows = await em.getConnection().execute<{ id: string; artifact_id: string }[]>('select id, artifact_id from workload limit 30');
    for (const row of rows) {
      await em.getConnection().execute(
        `insert into proton (id, workload_id, artifact_id, role, runtime, created_at, updated_at) values (gen_random_uuid(), ?, ?, 'candidate', '{"replicaCount":1}'::jsonb, now(), now())`,
        [row.id, row.artifact_id],
      );
    }
    const count = async (first: number) => {
      t.queries.length = 0;
      const { workloads } = await t.exec(ListWorkloadsWithRelationsDocument, { first });
      expect(workloads.edges).toHaveLength(first);
      return t.queries.length;
    };
    const small = await count(5);
    const large = await count(100);
    expect(large).toBe(small);
    // One statement: the page with its artifacts, protons and the caller's roles (the per-object
    // authorization checks read them from the loaders it primes); nothing per row (ADR 0061).
    expect(large).toBe(1);
  });
});
