/**
 * Which announced changes make the controller pass over a workload (ADR 0005, decision 20): a
 * change to what the workload wants of the cluster does; a rename, a description or sharing
 * does not; an announcement without the `reconcile` field (from a replica that predates it) does;
 * a new spec of the draft it runs does, though no event of the workload records it (ADR 0013,
 * decision 12).
 */
import { afterEach, expect, it, vi } from 'vitest';
import { TOPICS } from '../../src/pubsub/topics.js';
import { CreateWorkloadDocument, UpdateArtifactDocument, UpdateWorkloadDocument, UpdateWorkloadSharedRolesDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, containerInput, specInput } from '../support/fixtures.js';
import { isPassViewRead, startTestApp, type TestApp } from '../support/test-app.js';

const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

/** Creates a workload on a draft of its own and waits until it is RUNNING; its global id and its artifact's. */
async function createRunning(t: TestApp, name: string): Promise<{ id: string; artifactId: string }> {
  const { createWorkload } = await t.exec(CreateWorkloadDocument, {
    input: { name, artifact: artifactInput({ name }) as never, runtime: { replicaCount: 1 } },
  });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
  const { id } = createWorkload.workload;
  await vi.waitFor(async () => {
    const { data } = await t.execRaw('query($id: ID!) { workload(id: $id) { ... on Workload { status } } }', { id });
    expect(data).toEqual({ workload: { status: 'RUNNING' } });
  }, { timeout: 30_000, interval: 50 });
  return { id, artifactId: createWorkload.workload.artifact.id };
}

describeEachDatabase('announced changes and controller passes', (backend) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('passes for a new importance and for an announcement that does not say, never for a rename, a description or sharing', async () => {
    // No tick: only announcements and pod events queue passes.
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true });
    const app = t.app;
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: 'announced', artifact: artifactInput({ name: 'announced' }) as never, runtime: { replicaCount: 1 } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    const globalId = createWorkload.workload.id;
    const id = rawId(globalId);
    const scheduled = vi.spyOn(app.controller, 'schedule');
    // A marker workload's announcement, published after each step: the controller reads
    // announcements in order, so once the marker is scheduled, the step's announcement was read.
    const marker = '00000000-0000-4000-8000-000000000000';
    let markers = 0;
    const settle = async () => {
      markers++;
      app.pubsub.publish('workload:changed', { workloadId: marker, sequence: 1_000_000 + markers });
      await vi.waitFor(() => expect(scheduled.mock.calls.filter(([w]) => w === marker)).toHaveLength(markers));
    };
    const passesFor = () => scheduled.mock.calls.filter(([w]) => w === id).length;
    // Up and quiet first: its pods' events queue passes while it comes up.
    await vi.waitFor(async () => {
      const { data } = await t!.execRaw('query($id: ID!) { workload(id: $id) { ... on Workload { status } } }', { id: globalId });
      expect(data).toEqual({ workload: { status: 'RUNNING' } });
    }, { timeout: 30_000, interval: 50 });
    await settle();
    scheduled.mockClear();
    markers = 0;

    expect((await t.exec(UpdateWorkloadDocument, { input: { id: globalId, name: 'renamed', description: 'now described' } })).updateWorkload.__typename).toBe(
      'UpdateWorkloadPayload',
    );
    const shared = await t.exec(UpdateWorkloadSharedRolesDocument, {
      input: {
        id: globalId,
        roles: [
          { subjectType: 'USER' as never, subjectId: 'developer', role: 'OWNER' as never },
          { subjectType: 'USER' as never, subjectId: 'someone', role: 'OBSERVER' as never },
        ],
      },
    });
    expect(shared.updateWorkloadSharedRoles.__typename).toBe('UpdateWorkloadSharedRolesPayload');
    await settle();
    expect(passesFor()).toBe(0);

    // A new importance: only the announcement can queue the pass that labels the pods (their
    // own events follow the labelling), and the pods carry the new importance.
    expect((await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance: 'HIGH' as never } })).updateWorkload.__typename).toBe('UpdateWorkloadPayload');
    await vi.waitFor(async () => expect((await app.runtime.listProtons({ workloadId: id })).map((p) => p.importance)).toEqual(['high']), {
      timeout: 30_000,
      interval: 50,
    });
    expect(passesFor()).toBeGreaterThanOrEqual(1);
    await settle();
    scheduled.mockClear();
    markers = 0;

    app.pubsub.publish('workload:changed', { workloadId: id, sequence: 1_000_000 });
    await settle();
    expect(passesFor()).toBe(1);
  }, 90_000);

  it('keeps a view across ticks until it is told of a change, and drops every view and looks at every workload when announcements may have been lost', async () => {
    // A short tick: a view used to be kept for one tick only.
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50' }, { controller: true });
    const app = t.app;
    const ids = [(await createRunning(t, 'kept-a')).id, (await createRunning(t, 'kept-b')).id];
    await app.controller.idle();
    const [a, b] = ids.map(rawId) as [string, string];
    // Many ticks later, a pass (a pod event, say) goes on from the view its last pass left.
    await new Promise((resolve) => setTimeout(resolve, 600));
    t.queries.length = 0;
    app.controller.schedule(a);
    await app.controller.idle();
    expect(t.queries.filter(isPassViewRead)).toHaveLength(0);

    // The broker was away: announcements may have been lost. Every workload gets a pass, which reads.
    const scheduled = vi.spyOn(app.controller, 'schedule');
    app.bus.feed.resync();
    await vi.waitFor(() => expect(new Set(scheduled.mock.calls.map(([w]) => w))).toEqual(new Set([a, b])));
    await app.controller.idle();
    expect(t.queries.filter(isPassViewRead).length).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('sees at its next tick a change whose announcement never reached it (a replica without the shared broker)', async () => {
    if (backend.name !== 'postgres') return; // the embedded database has one process: no other replica shares it
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50' }, { controller: true });
    const app = t.app;
    const { id: globalId } = await createRunning(t, 'unannounced');
    await app.controller.idle();
    // The test apps' replicas share the database, not a broker: the replace's announcement stays there.
    const other = await t.replica();
    try {
      const via = other.as({ sub: 'developer' });
      const next = await via.execRaw('mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { ... on CreateArtifactPayload { artifact { id } } } }', {
        input: artifactInput({ name: 'unannounced-v2' }),
      });
      const replaced = await via.execRaw('mutation($id: ID!, $a: ID!) { replaceWorkloadArtifact(input: { id: $id, artifactId: $a }) { __typename } }', {
        id: globalId,
        a: (next.data as any).createArtifact.artifact.id,
      });
      expect(replaced.errors).toBeUndefined();
      expect((replaced.data as any).replaceWorkloadArtifact.__typename).toBe('WorkloadOperationPayload');
      // Only the leader's passes move a replacement on; its tick finds the workload's newer event.
      await vi.waitFor(async () => {
        const { data } = await t!.execRaw('query($id: ID!) { workload(id: $id) { ... on Workload { replacement { status } } } }', { id: globalId });
        expect((data as any).workload.replacement?.status).toBe('COMPLETED');
      }, { timeout: 30_000, interval: 50 });
    } finally {
      await other.stop();
    }
  }, 90_000);

  it("rolls a settled workload's protons to its draft's edited spec, with nothing else to wake a pass", async () => {
    // No tick: only announcements and pod events queue passes, and a settled workload has no pod events.
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true });
    const app = t.app;
    const { id: globalId, artifactId } = await createRunning(t, 'on-draft');
    const id = rawId(globalId);
    await app.controller.idle();
    const [before] = await app.runtime.listProtons({ workloadId: id });
    const scheduled = vi.spyOn(app.controller, 'schedule');

    const edited = await t.exec(UpdateArtifactDocument, {
      input: { id: artifactId, spec: specInput([containerInput({ imageUri: 'registry.example.com/team/app:2.0' })]) as never },
    });
    expect(edited.updateArtifact.__typename).toBe('UpdateArtifactPayload');
    // The same proton rolls to the new revision; its pods follow.
    await vi.waitFor(async () => {
      const protons = await app.runtime.listProtons({ workloadId: id });
      expect(protons.map((p) => p.protonId)).toEqual([before!.protonId]);
      expect(protons[0]!.revision).not.toBe(before!.revision);
    }, { timeout: 30_000, interval: 50 });
    expect(scheduled.mock.calls.filter(([w]) => w === id).length).toBeGreaterThanOrEqual(1);

    // A rename of the draft changes nothing it runs: no announcement, no pass.
    await app.controller.idle();
    scheduled.mockClear();
    const renamed = await t.exec(UpdateArtifactDocument, { input: { id: artifactId, name: 'on-draft-renamed' } });
    expect(renamed.updateArtifact.__typename).toBe('UpdateArtifactPayload');
    const marker = '00000000-0000-4000-8000-000000000001';
    app.pubsub.publish('workload:changed', { workloadId: marker, sequence: 1 });
    await vi.waitFor(() => expect(scheduled.mock.calls.filter(([w]) => w === marker)).toHaveLength(1));
    expect(scheduled.mock.calls.filter(([w]) => w === id)).toHaveLength(0);
  }, 90_000);
});

it('coalesces two announcements of one workload into one that passes if either asked for a pass', () => {
  const { newest } = TOPICS['workload:changed'];
  const quiet = (sequence: number) => ({ workloadId: 'w', sequence, reconcile: false });
  expect(newest(quiet(1), quiet(2))).toEqual(quiet(2));
  expect(newest({ workloadId: 'w', sequence: 1 }, quiet(2))).toEqual({ workloadId: 'w', sequence: 2 });
  expect(newest(quiet(2), { workloadId: 'w', sequence: 1 })).toEqual({ workloadId: 'w', sequence: 2 });
  expect(newest({ workloadId: 'w', sequence: 3 }, { workloadId: 'w', sequence: 1 })).toEqual({ workloadId: 'w', sequence: 3 });
  // A new spec of what the workload runs survives the trip through Redis (its payload is parsed
  // there, and unknown fields dropped) and coalescing with a later, ordinary change.
  expect(TOPICS['workload:changed'].schema.parse({ workloadId: 'w', sequence: 3, specChanged: true })).toEqual({ workloadId: 'w', sequence: 3, specChanged: true });
  expect(newest({ workloadId: 'w', sequence: 3, specChanged: true }, { workloadId: 'w', sequence: 4 })).toEqual({ workloadId: 'w', sequence: 4, specChanged: true });
  expect(newest(quiet(4), { workloadId: 'w', sequence: 3, specChanged: true })).toEqual({ workloadId: 'w', sequence: 4, specChanged: true });
});
