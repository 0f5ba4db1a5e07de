import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { SPAWN_START_LIMIT_MS, startServer } from './support/spawned-server.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The development token of a sample subject, from the file the server wrote at start-up. */
async function devToken(dataDir: string, subject = 'alice'): Promise<string> {
  const file = JSON.parse(await readFile(path.join(dataDir, 'dev-auth.json'), 'utf8')) as { tokens: Record<string, string> };
  const token = file.tokens[subject];
  if (!token) throw new Error(`no development token for ${subject}`);
  return token;
}

let currentToken = '';
async function gql(url: string, query: string) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${currentToken}` },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

it('serves the API on the embedded database, keeps data across a restart, and exits cleanly on SIGTERM', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'workload-api-'));
  dirs.push(dataDir);
  const first = await startServer(dataDir, { SIMULATED_SPEED: '10' });
  currentToken = await devToken(dataDir);
  const unauthenticated = await fetch(`${first.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ workloads(first: 1) { totalCount } }"}' });
  expect(unauthenticated.status).toBe(401);
  const artifact = await gql(
    first.url,
    `mutation { createArtifact(input: { name: "hello", spec: { containerGroups: [{ name: "default", containers: [
      { name: "app", imageUri: "ghcr.io/example/hello:1.0", primary: true, port: 8080 }] }] } }) {
      ... on CreateArtifactPayload { artifact { id } } } }`,
  );
  const artifactId = artifact.data?.createArtifact.artifact.id as string;
  expect(artifactId).toBeTruthy();
  const created = await gql(first.url, `mutation { createWorkload(input: { name: "hello-workload", artifactId: "${artifactId}" }) { __typename ... on CreateWorkloadPayload { workload { id } } } }`);
  expect(created.data?.createWorkload.__typename).toBe('CreateWorkloadPayload');
  // The embedded default runs it on the simulated cluster: it reaches RUNNING by itself.
  const workloadId = created.data?.createWorkload.workload.id as string;
  await vi.waitFor(
    async () => {
      const w = await gql(first.url, `{ workload(id: "${workloadId}") { ... on Workload { status } } }`);
      expect(w.data?.workload.status).toBe('RUNNING');
    },
    { timeout: 30_000, interval: 100 },
  );
  first.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);

  const second = await startServer(dataDir, { SIMULATED_SPEED: '10' });
  const list = await gql(second.url, '{ workloads(first: 10) { totalCount edges { node { name status artifact { name } } } } }');
  // The simulated cluster is in memory: after a restart the controller starts the workload again.
  expect(list.data?.workloads).toMatchObject({ totalCount: 1, edges: [{ node: { name: 'hello-workload', artifact: { name: 'hello' } } }] });
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
}, 2 * SPAWN_START_LIMIT_MS + 60_000);

it('keeps committed data on the embedded database when the process is killed', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'workload-api-'));
  dirs.push(dataDir);
  const first = await startServer(dataDir, { SIMULATED_SPEED: '10' });
  currentToken = await devToken(dataDir);
  const created = await gql(
    first.url,
    `mutation { createWorkload(input: { name: "survivor", artifact: { name: "a", spec: { containerGroups: [{ name: "default", containers: [
      { name: "app", imageUri: "nginx:1.25", primary: true, port: 8080 }] }] } } }) { __typename } }`,
  );
  expect(created.data?.createWorkload.__typename).toBe('CreateWorkloadPayload');
  first.child.kill('SIGKILL');
  await first.exited;

  const second = await startServer(dataDir, { SIMULATED_SPEED: '10' });
  const list = await gql(second.url, '{ workloads(first: 10) { edges { node { name } } } }');
  expect(list.data?.workloads).toEqual({ edges: [{ node: { name: 'survivor' } }] });
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
}, 2 * SPAWN_START_LIMIT_MS + 60_000);
