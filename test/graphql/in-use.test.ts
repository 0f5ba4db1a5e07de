import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { ExecutionResult } from 'graphql';
import { describeEachDatabase } from '../support/backends.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { OffsetClock } from '../support/offset-clock.js';
import { startTestApp, type TestApp, type TestCaller } from '../support/test-app.js';

/**
 * The in-use rule across workloads, replacements and artifacts (docs/adr/0012): a draft's one
 * live slot includes a replacement switching to it; an artifact in use cannot be deleted, nor
 * locked except by promote; history keeps what it refers to, and no field answers
 * INTERNAL_SERVER_ERROR because a rule let a reference go.
 */
describeEachDatabase('artifacts in use', (backend) => {
  let t: TestApp;
  let alice: TestCaller;
  let olga: TestCaller;
  const clock = new OffsetClock();
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp(
      backend,
      { SIMULATED_SPEED: '20', CONTROLLER_TICK_MS: '50', PROGRESS_DEADLINE_SECONDS: '30', REPLACEMENT_STEP_DEADLINE_SECONDS: '30', DRAFT_TTL_SECONDS: '86400' },
      { controller: true, clock: clock.read },
    );
    alice = t.as({ sub: 'alice' });
    olga = t.as({ sub: 'olga' });
  });
  afterAll(() => t?.stop());

  function data<T = Record<string, any>>(result: ExecutionResult): T {
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    return result.data as T;
  }

  async function artifact(env: { name: string; value: string }[] = []): Promise<string> {
    const r = await alice.execRaw(
      `mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { __typename ... on CreateArtifactPayload { artifact { id } } } }`,
      { input: { name: `art-${++n}`, spec: specInput([containerInput({ environmentVars: env })]) } },
    );
    return data(r).createArtifact.artifact.id;
  }
  const slow = () => artifact([{ name: 'SIMULATE_FAULT', value: 'slow-start:3s' }]);

  async function createWorkload(caller: TestCaller, artifactId: string, name = `w-${++n}`) {
    const r = await caller.execRaw(
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) {
         __typename ... on CreateWorkloadPayload { workload { id } }
         ... on ConflictError { message reason conflictingIds } ... on ForbiddenError { message requiredRole } ... on NotFoundError { message } } }`,
      { input: { name, artifactId } },
    );
    return data(r).createWorkload;
  }

  async function running(artifactId: string): Promise<string> {
    const created = await createWorkload(alice, artifactId);
    expect(created.__typename).toBe('CreateWorkloadPayload');
    await until(created.workload.id, (w) => w.status === 'RUNNING');
    return created.workload.id;
  }

  async function replace(id: string, artifactId: string, extra: Record<string, unknown> = {}) {
    const r = await alice.execRaw(
      `mutation($input: ReplaceWorkloadArtifactInput!) { replaceWorkloadArtifact(input: $input) {
         __typename ... on WorkloadOperationPayload { changed } ... on ConflictError { message reason } ... on Error { message } } }`,
      { input: { id, artifactId, ...extra } },
    );
    return data(r).replaceWorkloadArtifact;
  }

  const VIEW = `query($id: ID!) { workload(id: $id) { __typename ... on Workload {
      id status artifact { id deletedAt }
      replacement { status statusReason }
      protons { role status artifact { id deletedAt } }
      history { kind artifact { id } replacement { status fromArtifact { id deletedAt } toArtifact { id deletedAt } } }
      events(first: 100) { edges { node { type message } } } } } }`;

  async function view(id: string, caller: TestCaller = alice): Promise<Record<string, any>> {
    const r = await caller.execRaw(VIEW, { id });
    return data(r).workload;
  }

  async function until(id: string, predicate: (w: Record<string, any>) => boolean, timeout = 30_000) {
    return vi.waitFor(
      async () => {
        const w = await view(id);
        if (!predicate(w)) throw new Error(`still ${w.status}; replacement ${w.replacement?.status ?? '-'}`);
        return w;
      },
      { timeout, interval: 25 },
    );
  }

  async function share(workloadId: string, subject: string, role: string) {
    const r = await alice.execRaw(
      `mutation($input: UpdateSharedRolesInput!) { updateWorkloadSharedRoles(input: $input) { __typename } }`,
      { input: { id: workloadId, roles: [{ subjectType: 'USER', subjectId: 'alice', role: 'OWNER' }, { subjectType: 'USER', subjectId: subject, role }] } },
    );
    expect(data(r).updateWorkloadSharedRoles.__typename).toBe('UpdateWorkloadSharedRolesPayload');
  }

  async function deleteArtifact(id: string) {
    const r = await alice.execRaw(
      `mutation($id: ID!) { deleteArtifact(id: $id) { __typename ... on ConflictError { message reason conflictingIds } ... on DeleteArtifactPayload { artifact { id deletedAt } } } }`,
      { id },
    );
    return data(r).deleteArtifact;
  }

  async function lockArtifact(id: string) {
    const r = await alice.execRaw(
      `mutation($id: ID!) { lockArtifact(id: $id) { __typename ... on ConflictError { message reason conflictingIds } ... on LockArtifactPayload { artifact { status } } } }`,
      { id },
    );
    return data(r).lockArtifact;
  }

  it('refuses createWorkload on a draft that a replacement is switching to, naming that workload, and the replacement completes', async () => {
    const w1 = await running(await artifact());
    const d = await slow();
    expect(await replace(w1, d)).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });

    const second = await createWorkload(alice, d);
    expect(second).toMatchObject({ __typename: 'ConflictError', reason: 'DraftTaken' });
    expect(second.conflictingIds).toHaveLength(1);
    expect(second.message).toMatch(/w-\d+/);

    const done = await until(w1, (w) => w.replacement?.status === 'COMPLETED' && w.protons.length === 1);
    expect(done).toMatchObject({ status: 'RUNNING', artifact: { id: d } });
    // Only one workload runs D's protons.
    const list = data(await alice.execRaw(`query($id: ID!) { workloads(filter: { artifactId: $id }) { totalCount } }`, { id: d }));
    expect(list.workloads.totalCount).toBe(1);
  });

  it('refuses deleteArtifact of a draft a replacement is switching to, and every workload field keeps answering', async () => {
    const w1 = await running(await artifact());
    const d = await slow();
    await replace(w1, d);
    const refused = await deleteArtifact(d);
    expect(refused).toMatchObject({ __typename: 'ConflictError', reason: 'ArtifactInUse' });
    expect(refused.conflictingIds).toHaveLength(1);
    await until(w1, (w) => w.replacement?.status === 'COMPLETED' && w.protons.length === 1);
    expect((await alice.execRaw(VIEW, { id: w1 })).errors).toBeUndefined();
    const list = await alice.execRaw(`{ workloads(first: 100) { edges { node { id artifact { id } protons { artifact { id } } } } } }`);
    expect(list.errors).toBeUndefined();
  });

  it('refuses lockArtifact on the target of a draft-to-draft replacement mid-way; the switch completes on a draft', async () => {
    const w1 = await running(await artifact());
    const d = await slow();
    await replace(w1, d);
    expect(await lockArtifact(d)).toMatchObject({ __typename: 'ConflictError', reason: 'ArtifactInUse' });
    const done = await until(w1, (w) => w.replacement?.status === 'COMPLETED');
    const state = data(await alice.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { expiresAt promotedAt artifact { status } } } }`, { id: w1 }));
    expect(state.workload).toMatchObject({ promotedAt: null, artifact: { status: 'DRAFT' } });
    expect(state.workload.expiresAt).not.toBeNull();
    expect(done.artifact.id).toBe(d);
  });

  it('keeps a workload\'s history readable for its owner and observers after a draft it ran is deleted', async () => {
    const d1 = await artifact();
    const w = await running(d1);
    await share(w, 'olga', 'OBSERVER');
    const d2 = await artifact();
    await replace(w, d2, { keepOldVersionSeconds: 600 });
    const draining = await until(w, (x) => x.replacement?.status === 'DRAINING');
    // The kept old proton runs D1: D1 is in use, and every caller reads the protons' artifacts.
    expect(await deleteArtifact(d1)).toMatchObject({ __typename: 'ConflictError', reason: 'ArtifactInUse' });
    for (const caller of [alice, olga]) {
      const seen = await view(w, caller);
      expect(seen.protons.map((p: any) => p.artifact.id).sort()).toEqual([d1, d2].sort());
      expect(seen.history[0].replacement.fromArtifact).toEqual({ id: d1, deletedAt: null });
    }
    expect(draining.protons).toHaveLength(2);

    // Cut the keep-old wait short by moving the clock; the replacement completes and lets D1 go.
    clock.advance(601_000);
    await until(w, (x) => x.replacement?.status === 'COMPLETED' && x.protons.length === 1);
    const deleted = await deleteArtifact(d1);
    expect(deleted).toMatchObject({ __typename: 'DeleteArtifactPayload', artifact: { id: d1 } });
    expect(deleted.artifact.deletedAt).not.toBeNull();
    for (const caller of [alice, olga]) {
      const seen = await view(w, caller);
      expect(seen.history[0].replacement.fromArtifact).toMatchObject({ id: d1 });
      expect(seen.history[0].replacement.fromArtifact.deletedAt).not.toBeNull();
      expect(seen.history[0].replacement.toArtifact).toEqual({ id: d2, deletedAt: null });
    }
    // Lookups and lists leave the deleted artifact out.
    const lookup = data(await alice.execRaw(`query($id: ID!) { artifact(id: $id) { __typename } }`, { id: d1 }));
    expect(lookup.artifact.__typename).toBe('NotFoundError');
    // A deleted draft cannot be run.
    expect(await createWorkload(alice, d1)).toMatchObject({ __typename: 'NotFoundError' });
  });

  it('errors a replacement whose switch the database refuses, with StepRefused and an event, instead of retrying it', async () => {
    const w1 = await running(await artifact());
    const d = await slow();
    // What the controller's commits hand this process's live streams (ADR 0033 decision 7).
    const kept = vi.spyOn(t.app.bus.feed, 'keepCommitted');
    await replace(w1, d);
    // A workload that took D behind the rules' back (the trigger off for one insert): the switch must fail, typed.
    const sql = (q: string, params: unknown[] = []) => t.app.orm.em.fork().getConnection().execute(q, params);
    await sql(`alter table workload disable trigger workload_claim_artifact`);
    try {
      await sql(
        `insert into workload (id, name, owner_id, artifact_id, artifact_status, runtime, created_at, updated_at)
         values (gen_random_uuid(), ?, 'alice', ?, 'draft', '{"replicaCount":1}'::jsonb, now(), now())`,
        [`squatter-${++n}`, Buffer.from(d, 'base64').toString('utf8').split(':')[1]],
      );
    } finally {
      await sql(`alter table workload enable trigger workload_claim_artifact`);
    }
    // The replacement, the protons and the events are separate statements of one read (not one
    // snapshot): a read can land between the refusal's commit and an earlier statement of its own.
    // What must hold is that all three show the refusal, so the wait is for all three.
    const refusal = 'replacement switching -> errored: the target draft artifact is taken by another workload';
    const failed = await until(w1, (w) => w.replacement?.status === 'ERRORED' && w.protons.length === 1 && w.events.edges.some((e: any) => e.node.message === refusal));
    expect(failed).toMatchObject({ status: 'RUNNING', replacement: { statusReason: 'StepRefused' } });
    expect(failed.artifact.id).not.toBe(d);
    expect(failed.events.edges.map((e: any) => e.node.message)).toContain(refusal);
    // The refusal's commit reaches the live streams as the pass's other commits do, without a read back.
    const w1Id = Buffer.from(w1, 'base64').toString('utf8').split(':')[1];
    expect(kept.mock.calls.some(([id, committed]) => id === w1Id && committed.events.some((e) => e.message === refusal))).toBe(true);
    kept.mockRestore();
  });

  it('lets exactly one of createWorkload on D and a replacement onto D win when they race', async () => {
    for (let round = 0; round < 3; round++) {
      const w1 = await running(await artifact());
      const d = await artifact();
      const [created, replaced] = await Promise.all([createWorkload(alice, d), replace(w1, d)]);
      const wins = [created.__typename === 'CreateWorkloadPayload', replaced.__typename === 'WorkloadOperationPayload'];
      expect(wins.filter(Boolean), JSON.stringify({ created, replaced })).toHaveLength(1);
      expect(wins[0] ? replaced : created).toMatchObject({ __typename: 'ConflictError', reason: 'DraftTaken' });
      if (wins[1]) await until(w1, (w) => w.replacement?.status === 'COMPLETED' && w.protons.length === 1);
    }
  });

  it('never leaves a workload with a TTL on a locked artifact when lockArtifact and createWorkload race', async () => {
    for (let round = 0; round < 3; round++) {
      const d = await artifact();
      const [locked, created] = await Promise.all([lockArtifact(d), createWorkload(alice, d)]);
      if (created.__typename === 'CreateWorkloadPayload') {
        const w = data(await alice.execRaw(`query($id: ID!) { workload(id: $id) { ... on Workload { expiresAt artifact { status } } } }`, { id: created.workload.id })).workload;
        expect(w.artifact.status === 'LOCKED' ? w.expiresAt : 'draft has a TTL', JSON.stringify({ locked, w })).toBe(w.artifact.status === 'LOCKED' ? null : 'draft has a TTL');
        if (w.artifact.status === 'DRAFT') expect(w.expiresAt).not.toBeNull();
      } else {
        expect(created, JSON.stringify(locked)).toMatchObject({ __typename: 'ConflictError' });
      }
      if (locked.__typename !== 'LockArtifactPayload') expect(locked).toMatchObject({ __typename: 'ConflictError', reason: 'ArtifactInUse' });
    }
  });

  it('lets exactly one of deleteArtifact and createWorkload win when they race', async () => {
    for (let round = 0; round < 3; round++) {
      const d = await artifact();
      const [deleted, created] = await Promise.all([deleteArtifact(d), createWorkload(alice, d)]);
      const wins = [deleted.__typename === 'DeleteArtifactPayload', created.__typename === 'CreateWorkloadPayload'];
      expect(wins.filter(Boolean), JSON.stringify({ deleted, created })).toHaveLength(1);
      if (wins[0]) expect(created.__typename).toMatch(/NotFoundError|ConflictError/);
      else expect(deleted).toMatchObject({ __typename: 'ConflictError', reason: 'ArtifactInUse' });
      if (wins[1]) {
        const w = await view(created.workload.id);
        expect(w.artifact).toEqual({ id: d, deletedAt: null });
      }
    }
  });
});
