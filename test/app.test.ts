import { request } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { LISTEN_BACKLOG } from '../src/app.js';
import { startTestApp, tokenFor, type TestApp } from './support/test-app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.stop().catch(() => {});
  t = undefined;
});

const createArtifact = JSON.stringify({
  query: `mutation { createArtifact(input: { name: "over-http", spec: { containerGroups: [{ name: "default", containers: [
    { name: "app", imageUri: "nginx:1.25", primary: true, port: 8080 }] }] } }) { __typename } }`,
});

it('serves GraphQL over HTTP and GraphiQL to browsers', async () => {
  t = await startTestApp({ name: 'pglite' });
  const url = await t.app.start();
  const authorization = `Bearer ${await tokenFor({ sub: 'http-user' })}`;
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: createArtifact });
  expect(await res.json()).toEqual({ data: { createArtifact: { __typename: 'CreateArtifactPayload' } } });
  const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
  expect(page.headers.get('content-type')).toContain('text/html');
  expect(await page.text()).toContain('Workload API');
});

it('lets an in-flight request finish on stop, refuses new connections, and closes the database', async () => {
  t = await startTestApp({ name: 'pglite' });
  const url = new URL(await t.app.start());
  const authorization = `Bearer ${await tokenFor({ sub: 'http-user' })}`;
  // A request whose body is still arriving when the stop begins.
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', authorization, 'content-length': Buffer.byteLength(createArtifact) } },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.write(createArtifact.slice(0, 10));
    setTimeout(() => req.end(createArtifact.slice(10)), 300);
  });
  await new Promise((r) => setTimeout(r, 100));
  const stopped = t.app.stop();
  const afterStop = fetch(`${url.origin}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: createArtifact });
  await expect(afterStop).rejects.toThrow();
  const { status, body } = await response;
  expect(status).toBe(200);
  expect(JSON.parse(body)).toEqual({ data: { createArtifact: { __typename: 'CreateArtifactPayload' } } });
  await stopped;
  expect(await t.app.orm.isConnected()).toBe(false);
});

it('listens with a backlog that holds a burst of connections while the event loop is busy', async () => {
  t = await startTestApp({ name: 'pglite' });
  const url = new URL(await t.app.start());
  // `ss` reports a listening socket's backlog as its Send-Q: the kernel caps it at somaxconn.
  const { execFileSync } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const line = execFileSync('ss', ['-ltnH', `sport = :${url.port}`], { encoding: 'utf8' }).trim().split('\n')[0]!;
  const backlog = Number(line.split(/\s+/)[2]);
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  expect(backlog).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
  expect(backlog).toBeGreaterThan(511);
});
