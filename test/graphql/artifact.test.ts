import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CloneArtifactDocument,
  CreateArtifactDocument,
  CreateWorkloadDocument,
  DeleteArtifactDocument,
  GetArtifactDocument,
  ListArtifactsDocument,
  LockArtifactDocument,
  UpdateArtifactDocument,
} from './generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, containerInput, specInput, workloadInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describeEachDatabase('artifacts', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t?.stop());

  async function createArtifact(overrides: Record<string, unknown> = {}) {
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: artifactInput(overrides) as never });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(JSON.stringify(createArtifact));
    return createArtifact.artifact;
  }

  async function lock(id: string) {
    const { lockArtifact } = await t.exec(LockArtifactDocument, { id });
    if (lockArtifact.__typename !== 'LockArtifactPayload') throw new Error(JSON.stringify(lockArtifact));
    return lockArtifact.artifact;
  }

  it('creates a draft artifact with its spec, in a repository of its own', async () => {
    const spec = specInput([
      containerInput({
        environmentVars: [{ name: 'GREETING', value: 'hi' }],
        entrypoint: ['/bin/app', '--serve'],
        readinessProbe: { path: '/ready', initialDelaySeconds: 1, periodSeconds: 5, timeoutSeconds: 1, failureThreshold: 3 },
        resources: { cpu: '500m', memory: '256Mi' },
      }),
      containerInput({ name: 'sidecar', imageUri: 'busybox:1.36', primary: false, port: null }),
    ]);
    const a = await createArtifact({ spec });
    expect(a).toMatchObject({ name: 'hello', description: 'says hello', status: 'DRAFT', version: null, lockedAt: null });
    const [app, sidecar] = a.spec.containerGroups[0]!.containers;
    expect(app).toMatchObject({
      name: 'app',
      primary: true,
      port: 8080,
      entrypoint: ['/bin/app', '--serve'],
      environmentVars: [{ name: 'GREETING', value: 'hi' }],
      readinessProbe: { path: '/ready', port: null, periodSeconds: 5 },
      resources: { cpu: '500m', memory: '256Mi' },
    });
    expect(sidecar).toMatchObject({ name: 'sidecar', primary: false, port: null });
    const other = await createArtifact();
    expect(other.repositoryId).not.toBe(a.repositoryId);

    const { artifact } = await t.exec(GetArtifactDocument, { id: a.id });
    expect(artifact).toMatchObject({ __typename: 'Artifact', id: a.id, name: 'hello' });
  });

  it('updates a draft\'s name, description and spec', async () => {
    const a = await createArtifact();
    const { updateArtifact } = await t.exec(UpdateArtifactDocument, {
      input: { id: a.id, name: 'renamed', description: 'new', spec: specInput([containerInput({ port: 9090 })]) as never },
    });
    expect(updateArtifact).toMatchObject({ __typename: 'UpdateArtifactPayload', artifact: { name: 'renamed', description: 'new' } });
    if (updateArtifact.__typename === 'UpdateArtifactPayload') {
      expect(updateArtifact.artifact.spec.containerGroups[0]!.containers[0]!.port).toBe(9090);
    }
  });

  it('locks a draft one way, assigning its repository\'s next version; locking again changes nothing', async () => {
    const a = await createArtifact();
    const locked = await lock(a.id);
    expect(locked).toMatchObject({ status: 'LOCKED', version: 1 });
    expect(locked.lockedAt).toBeTruthy();
    const again = await lock(a.id);
    expect(again).toMatchObject({ status: 'LOCKED', version: 1, lockedAt: locked.lockedAt });

    const { cloneArtifact } = await t.exec(CloneArtifactDocument, { input: { id: a.id, name: 'v2' } });
    if (cloneArtifact.__typename !== 'CloneArtifactPayload') throw new Error(cloneArtifact.__typename);
    expect(cloneArtifact.artifact).toMatchObject({ name: 'v2', status: 'DRAFT', version: null, repositoryId: a.repositoryId });
    expect(cloneArtifact.artifact.spec).toEqual(a.spec);
    expect(await lock(cloneArtifact.artifact.id)).toMatchObject({ version: 2 });
  });

  it('assigns distinct versions when drafts of one repository are locked concurrently', async () => {
    const a = await createArtifact();
    const clones = await Promise.all(
      [1, 2, 3, 4].map(async () => {
        const { cloneArtifact } = await t.exec(CloneArtifactDocument, { input: { id: a.id } });
        if (cloneArtifact.__typename !== 'CloneArtifactPayload') throw new Error(cloneArtifact.__typename);
        return cloneArtifact.artifact.id;
      }),
    );
    const versions = (await Promise.all([a.id, ...clones].map(lock))).map((x) => x.version);
    expect([...versions].sort()).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses to change a locked artifact, and says to clone it', async () => {
    const a = await createArtifact();
    await lock(a.id);
    const { updateArtifact } = await t.exec(UpdateArtifactDocument, { input: { id: a.id, name: 'changed' } });
    expect(updateArtifact).toMatchObject({ __typename: 'InvalidTransitionError', code: 'INVALID_TRANSITION', currentState: 'locked' });
    if (updateArtifact.__typename === 'InvalidTransitionError') expect(updateArtifact.message).toMatch(/clone/);
    const { artifact } = await t.exec(GetArtifactDocument, { id: a.id });
    expect(artifact).toMatchObject({ name: 'hello' });
  });

  it('refuses to delete a locked artifact', async () => {
    const a = await createArtifact();
    await lock(a.id);
    const { deleteArtifact } = await t.exec(DeleteArtifactDocument, { id: a.id });
    expect(deleteArtifact).toMatchObject({ __typename: 'InvalidTransitionError', currentState: 'locked' });
  });

  it('refuses to delete a draft that a workload uses, naming the workload', async () => {
    const a = await createArtifact();
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: workloadInput({ name: 'user-of-draft', artifactId: a.id }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const { deleteArtifact } = await t.exec(DeleteArtifactDocument, { id: a.id });
    expect(deleteArtifact).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT', conflictingIds: [createWorkload.workload.id] });
    if (deleteArtifact.__typename === 'ConflictError') expect(deleteArtifact.message).toContain('user-of-draft');
  });

  it('refuses to lock a draft that a live workload runs, pointing at promote', async () => {
    const a = await createArtifact();
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: workloadInput({ artifactId: a.id }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const { lockArtifact } = await t.exec(LockArtifactDocument, { id: a.id });
    expect(lockArtifact).toMatchObject({ __typename: 'ConflictError', conflictingIds: [createWorkload.workload.id] });
    if (lockArtifact.__typename === 'ConflictError') expect(lockArtifact.message).toMatch(/promote/);
  });

  it('deletes an unused draft: it is gone from reads and lists', async () => {
    const a = await createArtifact({ name: 'short-lived' });
    const { deleteArtifact } = await t.exec(DeleteArtifactDocument, { id: a.id });
    expect(deleteArtifact).toMatchObject({ __typename: 'DeleteArtifactPayload', artifact: { id: a.id } });
    const { artifact } = await t.exec(GetArtifactDocument, { id: a.id });
    expect(artifact).toMatchObject({ __typename: 'NotFoundError', resourceType: 'Artifact', resourceId: a.id });
    const { artifacts } = await t.exec(ListArtifactsDocument, { filter: { search: 'short-lived' }, first: 10 });
    expect(artifacts.totalCount).toBe(0);
  });

  it('answers NotFound for ids that name nothing, whatever their form', async () => {
    for (const id of ['nonsense', Buffer.from('Workload:00000000-0000-4000-8000-000000000000').toString('base64'), Buffer.from('Artifact:00000000-0000-4000-8000-000000000000').toString('base64')]) {
      const { artifact } = await t.exec(GetArtifactDocument, { id });
      expect(artifact).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND', resourceType: 'Artifact' });
      const { lockArtifact } = await t.exec(LockArtifactDocument, { id });
      expect(lockArtifact.__typename).toBe('NotFoundError');
    }
  });

  it('lists artifacts filtered by status and text, newest first, in pages', async () => {
    const tag = `lst-${Date.now()}`;
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(await createArtifact({ name: `${tag}-${i}` }));
      t.clock.advance(1000);
    }
    await lock(made[1]!.id);
    const drafts = await t.exec(ListArtifactsDocument, { filter: { search: tag, status: 'DRAFT' }, first: 10 });
    expect(drafts.artifacts.totalCount).toBe(4);
    expect(drafts.artifacts.edges.map((e) => e.node.name)).toEqual([`${tag}-4`, `${tag}-3`, `${tag}-2`, `${tag}-0`]);

    const page1 = await t.exec(ListArtifactsDocument, { filter: { search: tag }, first: 2, orderBy: { field: 'NAME', direction: 'ASC' } });
    expect(page1.artifacts.edges.map((e) => e.node.name)).toEqual([`${tag}-0`, `${tag}-1`]);
    expect(page1.artifacts.pageInfo.hasNextPage).toBe(true);
    const page2 = await t.exec(ListArtifactsDocument, {
      filter: { search: tag },
      first: 10,
      after: page1.artifacts.pageInfo.endCursor,
      orderBy: { field: 'NAME', direction: 'ASC' },
    });
    expect(page2.artifacts.edges.map((e) => e.node.name)).toEqual([`${tag}-2`, `${tag}-3`, `${tag}-4`]);
    expect(page2.artifacts.pageInfo.hasNextPage).toBe(false);
  });
});
