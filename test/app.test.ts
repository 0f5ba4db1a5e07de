import { request } from 'node:http';
import { afterEach, expect, it } from 'vitest';
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
