import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  CreateArtifactDocument,
  CreateWorkloadDocument,
  UpdateArtifactDocument,
  UpdateWorkloadDocument,
} from './generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, containerInput, specInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const C = ['spec', 'containerGroups', '0', 'containers'];
const probe = (over: Record<string, unknown>) => specInput([containerInput({ readinessProbe: { path: '/ready', ...over } })]);

/** One bad artifact per row: what is wrong, the input, and the path the error must name. */
const badArtifacts: [string, Record<string, unknown>, string[]][] = [
  ['an empty name', { name: '' }, ['name']],
  ['a name of 256 characters', { name: 'x'.repeat(256) }, ['name']],
  ['a blank name', { name: '   ' }, ['name']],
  ['a name with a control character', { name: 'bad\u0007name' }, ['name']],
  ['a description over 10000 characters', { description: 'd'.repeat(10_001) }, ['description']],
  ['an image reference with spaces', { spec: specInput([containerInput({ imageUri: 'not an image' })]) }, [...C, '0', 'imageUri']],
  ['an image reference with an upper-case path', { spec: specInput([containerInput({ imageUri: 'registry.io/Team/app' })]) }, [...C, '0', 'imageUri']],
  ['an empty image reference', { spec: specInput([containerInput({ imageUri: '' })]) }, [...C, '0', 'imageUri']],
  ['a port below 1024', { spec: specInput([containerInput({ port: 80 })]) }, [...C, '0', 'port']],
  ['a port above 65535', { spec: specInput([containerInput({ port: 70_000 })]) }, [...C, '0', 'port']],
  ['no primary container', { spec: specInput([containerInput({ primary: false, port: null })]) }, [...C]],
  ['two primary containers', { spec: specInput([containerInput(), containerInput({ name: 'second', port: 8081 })]) }, [...C]],
  ['a primary container without a port', { spec: specInput([containerInput({ port: null })]) }, [...C, '0', 'port']],
  ['a port on a non-primary container', { spec: specInput([containerInput(), containerInput({ name: 'side', primary: false, port: 9000 })]) }, [...C, '1', 'port']],
  ['an environment variable name starting with a digit', { spec: specInput([containerInput({ environmentVars: [{ name: '1BAD', value: 'v' }] })]) }, [...C, '0', 'environmentVars', '0', 'name']],
  ['a duplicate environment variable', { spec: specInput([containerInput({ environmentVars: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] })]) }, [...C, '0', 'environmentVars', '1', 'name']],
  ['a container name that is not a DNS label', { spec: specInput([containerInput({ name: 'App_1' })]) }, [...C, '0', 'name']],
  ['duplicate container names', { spec: specInput([containerInput(), containerInput({ primary: false, port: null })]) }, [...C, '1', 'name']],
  ['a container group not named default', { spec: { containerGroups: [{ name: 'main', containers: [containerInput()] }] } }, ['spec', 'containerGroups', '0', 'name']],
  ['two container groups', { spec: { containerGroups: [specInput().containerGroups[0], specInput().containerGroups[0]] } }, ['spec', 'containerGroups']],
  ['a group with no container', { spec: specInput([]) }, [...C]],
  ['a probe path without a leading slash', { spec: probe({ path: 'ready' }) }, [...C, '0', 'readinessProbe', 'path']],
  ['a probe period of zero', { spec: probe({ periodSeconds: 0 }) }, [...C, '0', 'readinessProbe', 'periodSeconds']],
  ['a negative probe delay', { spec: probe({ initialDelaySeconds: -1 }) }, [...C, '0', 'readinessProbe', 'initialDelaySeconds']],
  ['a probe timeout of zero', { spec: probe({ timeoutSeconds: 0 }) }, [...C, '0', 'readinessProbe', 'timeoutSeconds']],
  ['a probe failure threshold of zero', { spec: probe({ failureThreshold: 0 }) }, [...C, '0', 'readinessProbe', 'failureThreshold']],
  ['a probe port below 1024', { spec: probe({ port: 22 }) }, [...C, '0', 'readinessProbe', 'port']],
  ['a CPU request that is not a quantity', { spec: specInput([containerInput({ resources: { cpu: 'lots' } })]) }, [...C, '0', 'resources', 'cpu']],
  ['a memory request of zero', { spec: specInput([containerInput({ resources: { memory: '0' } })]) }, [...C, '0', 'resources', 'memory']],
  ['a CPU request past 10^12 cores', { spec: specInput([containerInput({ resources: { cpu: '2T' } })]) }, [...C, '0', 'resources', 'cpu']],
  ['a CPU request whose exponent overflows', { spec: specInput([containerInput({ resources: { cpu: '1e999' } })]) }, [...C, '0', 'resources', 'cpu']],
  ['a memory request past 8Pi', { spec: specInput([containerInput({ resources: { memory: '9Pi' } })]) }, [...C, '0', 'resources', 'memory']],
];

/** One bad workload per row (created on an inline artifact unless the row says otherwise). */
const badWorkloads: [string, Record<string, unknown>, string[]][] = [
  ['an empty name', { name: '' }, ['name']],
  ['a name of 256 characters', { name: 'n'.repeat(256) }, ['name']],
  ['zero replicas', { runtime: { replicaCount: 0 } }, ['runtime', 'replicaCount']],
  ['more replicas than the configured maximum', { runtime: { replicaCount: 11 } }, ['runtime', 'replicaCount']],
  ['a resource override for a container the artifact lacks', { runtime: { replicaCount: 1, containerResources: [{ containerName: 'ghost', cpu: '1' }] } }, ['runtime', 'containerResources', '0', 'containerName']],
  ['a resource override past 8Pi of memory', { runtime: { replicaCount: 1, containerResources: [{ containerName: 'app', memory: '1e17' }] } }, ['runtime', 'containerResources', '0', 'memory']],
  ['a resource override that is not a quantity', { runtime: { replicaCount: 1, containerResources: [{ containerName: 'app', memory: 'much' }] } }, ['runtime', 'containerResources', '0', 'memory']],
  ['both an artifactId and an inline artifact', { artifactId: 'QXJ0aWZhY3Q6eA==' }, ['artifactId']],
  ['neither an artifactId nor an inline artifact', { artifact: null }, ['artifactId']],
  ['an invalid inline artifact', { artifact: artifactInput({ spec: specInput([containerInput({ port: 1 })]) }) }, ['artifact', ...C, '0', 'port']],
];

describeEachDatabase('input validation', (backend) => {
  let t: TestApp;
  let counts: () => Promise<Record<string, number>>;
  let before: Record<string, number>;

  beforeAll(async () => {
    t = await startTestApp(backend, { MAX_REPLICAS: '10' });
    counts = async () => {
      const [row] = await t.app.orm.em.fork().getConnection().execute<Record<string, number>[]>(
        `select (select count(*) from artifact)::int as artifacts, (select count(*) from artifact_repository)::int as repositories,
                (select count(*) from workload)::int as workloads, (select count(*) from workload_event)::int as events,
                (select count(*) from artifact_shared_role)::int + (select count(*) from workload_shared_role)::int as grants,
                (select coalesce(max(updated_at), 'epoch') from artifact)::text as artifact_change,
                (select coalesce(max(updated_at), 'epoch') from workload)::text as workload_change`,
      );
      if (!row) throw new Error('no counts');
      return row;
    };
  });
  afterAll(() => t?.stop());
  beforeEach(async () => {
    before = await counts();
  });

  it.each(badArtifacts)('refuses an artifact with %s, naming the field, and writes nothing', async (_what, overrides, path) => {
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: artifactInput(overrides) as never });
    expect(createArtifact.__typename).toBe('ValidationError');
    if (createArtifact.__typename !== 'ValidationError') return;
    expect(createArtifact.code).toBe('VALIDATION');
    expect(createArtifact.issues.map((i) => i.path)).toContainEqual(path);
    expect(createArtifact.message).toContain(path.join('.'));
    expect(await counts()).toEqual(before);
  });

  it.each(badWorkloads)('refuses a workload with %s, naming the field, and writes nothing', async (_what, overrides, path) => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: 'valid-name', artifact: artifactInput(), ...overrides } as never,
    });
    expect(createWorkload.__typename).toBe('ValidationError');
    if (createWorkload.__typename !== 'ValidationError') return;
    expect(createWorkload.issues.map((i) => i.path)).toContainEqual(path);
    expect(await counts()).toEqual(before);
  });

  it('reports every bad field of one input at once', async () => {
    const { createArtifact } = await t.exec(CreateArtifactDocument, {
      input: artifactInput({ name: '', spec: specInput([containerInput({ port: 1, imageUri: 'BAD IMAGE' })]) }) as never,
    });
    if (createArtifact.__typename !== 'ValidationError') throw new Error(createArtifact.__typename);
    expect(createArtifact.issues.map((i) => i.path.join('.')).sort()).toEqual(
      ['name', [...C, '0', 'imageUri'].join('.'), [...C, '0', 'port'].join('.')].sort(),
    );
    expect(await counts()).toEqual(before);
  });

  it('refuses bad changes to an artifact or a workload and leaves them as they were', async () => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'to-change', artifact: artifactInput() } as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const w = createWorkload.workload;
    before = await counts();
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id: w.id, name: '', description: 'x'.repeat(10_001) } });
    if (updateWorkload.__typename !== 'ValidationError') throw new Error(updateWorkload.__typename);
    expect(updateWorkload.issues.map((i) => i.path.join('.')).sort()).toEqual(['description', 'name']);
    const { updateArtifact } = await t.exec(UpdateArtifactDocument, {
      input: { id: w.artifact.id, spec: specInput([containerInput({ primary: false, port: null })]) as never },
    });
    if (updateArtifact.__typename !== 'ValidationError') throw new Error(updateArtifact.__typename);
    expect(updateArtifact.issues.map((i) => i.path)).toContainEqual([...C]);
    expect(await counts()).toEqual(before);
  });

  it('accepts the edges of every range', async () => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: {
        name: 'n'.repeat(255),
        artifact: artifactInput({
          name: 'a'.repeat(255),
          spec: specInput([
            containerInput({ port: 65_535, readinessProbe: { path: '/', port: 1024, initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 1 }, resources: { cpu: '0.001', memory: '1Ki' } }),
            containerInput({ name: 'b', primary: false, port: null, imageUri: `localhost:5000/a/b@sha256:${'a'.repeat(64)}` }),
          ]),
        }),
        runtime: { replicaCount: 10 },
      } as never,
    });
    expect(createWorkload.__typename).toBe('CreateWorkloadPayload');
  });
});
