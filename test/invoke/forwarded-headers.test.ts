import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { testEnvironment } from '../support/ports.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { bearer, createRunningWorkload, endpointOf, startInvokeApp, type Echo, type InvokeTestApp, type WorkloadView } from './support.js';

/** Invokes the workload with `headers` and returns what the replica received. */
async function echoed(t: InvokeTestApp, w: WorkloadView, headers: Record<string, string>): Promise<Echo> {
  const response = await fetch(`${endpointOf(t, w)}who`, { headers: { authorization: await bearer(), ...headers } });
  expect(response.status).toBe(200);
  return (await response.json()) as Echo;
}

const spoofed = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'for=203.0.113.7' };

describe('X-Forwarded-* through the invoke endpoint', () => {
  let t: InvokeTestApp;
  let w: WorkloadView;
  beforeAll(async () => {
    t = await startInvokeApp({ name: 'pglite' });
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  it('replaces a caller\'s X-Forwarded-For/-Host/-Proto and Forwarded with what the server saw', async () => {
    const { headers } = await echoed(t, w, spoofed);
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-host']).toBe(new URL(t.baseUrl).host);
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers.forwarded).toBeUndefined();
  });

  it('drops the headers a caller names in Connection, and the hop-by-hop ones', async () => {
    // fetch refuses to send a Connection header of its own: node:http does.
    const authorization = await bearer();
    const { headers } = await new Promise<Echo>((resolve, reject) => {
      const req = request(`${endpointOf(t, w)}who`, { headers: { authorization, connection: 'keep-alive, x-internal-secret', 'x-internal-secret': 'hunter2', 'x-kept': 'yes' } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => resolve(JSON.parse(body) as Echo));
      });
      req.on('error', reject);
      req.end();
    });
    expect(headers['x-internal-secret']).toBeUndefined();
    expect(headers['x-kept']).toBe('yes');
  });
});

describe('X-Forwarded-* from a trusted proxy', () => {
  let t: InvokeTestApp;
  let w: WorkloadView;
  beforeAll(async () => {
    t = await startInvokeApp({ name: 'pglite' }, { TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' });
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  it('keeps the proxy\'s X-Forwarded-Host/-Proto and appends the proxy to X-Forwarded-For', async () => {
    const { headers } = await echoed(t, w, spoofed);
    expect(headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(headers['x-forwarded-host']).toBe('evil.example');
    expect(headers['x-forwarded-proto']).toBe('https');
  });
});

describe('TRUSTED_PROXIES and CORS_ORIGINS', () => {
  it('are parsed as addresses or CIDR blocks, and as origins; anything else, and "*", is refused naming the value', () => {
    const config = loadConfig(testEnvironment({ TRUSTED_PROXIES: '10.0.0.0/8,::1', CORS_ORIGINS: 'https://app.example.com' }));
    expect(config.trustedProxies.isTrusted('10.1.2.3')).toBe(true);
    expect(config.trustedProxies.isTrusted('::ffff:10.1.2.3')).toBe(true);
    expect(config.trustedProxies.isTrusted('::1')).toBe(true);
    expect(config.trustedProxies.isTrusted('11.0.0.1')).toBe(false);
    expect(config.cors.origins).toEqual(['https://app.example.com']);
    expect(() => loadConfig(testEnvironment({ TRUSTED_PROXIES: '10.0.0.0/33' }))).toThrow(/TRUSTED_PROXIES: "10.0.0.0\/33" is not an IP address or CIDR block/);
    expect(() => loadConfig(testEnvironment({ CORS_ORIGINS: '*' }))).toThrow(/CORS_ORIGINS: "\*" is not an origin/);
    expect(() => loadConfig(testEnvironment({ CORS_ORIGINS: 'https://app.example.com/path' }))).toThrow(/CORS_ORIGINS/);
  });
});

/** A CORS preflight and a credentialed POST from `origin`; the Access-Control-Allow-* headers of each. */
async function corsFrom(url: string, origin: string) {
  const preflight = await fetch(`${url}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
  const post = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json', authorization: await bearer() },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  return {
    preflight: preflight.headers.get('access-control-allow-origin'),
    post: post.headers.get('access-control-allow-origin'),
    credentials: post.headers.get('access-control-allow-credentials'),
  };
}

describe('CORS over real HTTP', () => {
  const apps: TestApp[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.stop())));
  async function serve(env: Record<string, string>): Promise<string> {
    const t = await startTestApp({ name: 'pglite' }, env);
    apps.push(t);
    return t.app.start();
  }

  it('reflects no origin by default in production', async () => {
    const url = await serve({ NODE_ENV: 'production' });
    expect(await corsFrom(url, 'https://evil.example')).toEqual({ preflight: null, post: null, credentials: null });
    expect(await corsFrom(url, 'http://localhost:3000')).toEqual({ preflight: null, post: null, credentials: null });
  });

  it('allows exactly the configured origins, by name and never "*"', async () => {
    const url = await serve({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example.com' });
    expect(await corsFrom(url, 'https://app.example.com')).toEqual({ preflight: 'https://app.example.com', post: 'https://app.example.com', credentials: 'true' });
    expect(await corsFrom(url, 'https://evil.example')).toEqual({ preflight: null, post: null, credentials: null });
  });

  it('allows pages on this machine in development, and no other origin', async () => {
    const url = await serve({ NODE_ENV: 'development' });
    expect((await corsFrom(url, 'http://localhost:5173')).post).toBe('http://localhost:5173');
    expect((await corsFrom(url, 'https://evil.example')).post).toBeNull();
  });
});
