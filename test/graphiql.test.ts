import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, validate } from 'graphql';
import { GRAPHIQL_DEFAULT_QUERY } from '../src/app.js';
import { buildSchema } from '../src/graphql/schema.js';
import { startTestApp, type TestApp } from './support/test-app.js';

/** This machine's first non-loopback IPv4 address: a client connecting to it is not on loopback. */
function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

const DEVELOPMENT = { AUTH_MODE: 'development', NODE_ENV: 'development', HOST: '0.0.0.0' };

async function graphiqlPage(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${url}/graphql`, { headers: { accept: 'text/html', ...headers } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  return res.text();
}

/** The sample subjects the console's sign-in page is offered (GET /console/development-subjects). */
async function developmentSubjects(url: string, headers: Record<string, string> = {}): Promise<string[]> {
  const res = await fetch(`${url}/console/development-subjects`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = (await res.json()) as { subjects: { name: string; token: string }[] };
  return body.subjects.map((s) => s.name);
}

describe('the GraphiQL page and the console\'s development subjects', () => {
  let dataDir: string;
  let t: TestApp | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'wl-graphiql-'));
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('loads nothing from another host: its scripts and styles are in the page, and it keeps the example operations', async () => {
    t = await startTestApp({ name: 'pglite' });
    const page = await graphiqlPage(await t.app.start());
    expect(page).toContain('Workload API');
    expect(page).toContain('mutation CreateArtifact');
    expect(page).not.toMatch(/<script[^>]+src=["']?https?:/i);
    expect(page).not.toMatch(/<link[^>]+href=["']?https?:/i);
    expect(page).not.toMatch(/unpkg\.com|jsdelivr|esm\.sh/);
  });

  it('opens with example operations that are valid against the schema', () => {
    expect(validate(buildSchema(), parse(GRAPHIQL_DEFAULT_QUERY)).map((e) => e.message)).toEqual([]);
  });

  it('carries a development token for a browser on this machine (socket on loopback)', async () => {
    t = await startTestApp({ name: 'pglite' }, { ...DEVELOPMENT, DATA_DIR: dataDir });
    const port = new URL(await t.app.start()).port;
    expect(await graphiqlPage(`http://127.0.0.1:${port}`)).toMatch(/Bearer ey[\w-]+\.[\w-]+\.[\w-]+/);
    expect(await developmentSubjects(`http://127.0.0.1:${port}`)).toEqual(['alice', 'bob', 'carol', 'admin']);
  });

  const external = externalAddress();
  it.skipIf(!external)('carries no token for a client on another address, whatever X-Forwarded-For says', async () => {
    t = await startTestApp({ name: 'pglite' }, { ...DEVELOPMENT, DATA_DIR: dataDir });
    const port = new URL(await t.app.start()).port;
    const spoof = { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1' };
    const page = await graphiqlPage(`http://${external}:${port}`, spoof);
    expect(page).toContain('Workload API');
    expect(page).not.toContain('Bearer ');
    expect(await developmentSubjects(`http://${external}:${port}`, spoof)).toEqual([]);
  });

  it('carries no token with NODE_ENV=production, even with development authentication forced on and a loopback client', async () => {
    t = await startTestApp({ name: 'pglite' }, { ...DEVELOPMENT, NODE_ENV: 'production', ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION: 'true', DATA_DIR: dataDir });
    const port = new URL(await t.app.start()).port;
    const page = await graphiqlPage(`http://127.0.0.1:${port}`);
    expect(page).toContain('Workload API');
    expect(page).not.toContain('Bearer ');
    expect(await developmentSubjects(`http://127.0.0.1:${port}`)).toEqual([]);
  });
});
