import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { CLOSE_CODES } from '../../src/domain/close-codes.js';
import { UpdateWorkloadSharedRolesDocument } from '../graphql/generated/graphql.js';
import { databaseBackends, describeEachDatabase } from '../support/backends.js';
import { sharedRedis } from '../support/live.js';
import { testEnvironment } from '../support/ports.js';
import { tokenFor, type TestApp, type TestSubject } from '../support/test-app.js';
import { bearer, createRunningWorkload, endpointOf, INVOKE_TEST_ENV, startInvokeApp, type InvokeTestApp, type WorkloadView } from './support.js';

const observer: TestSubject = { sub: 'olivia' };

/** Opens a WebSocket through the endpoint and waits for the replica's greeting. */
async function connect(url: string, authorization: string) {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: { authorization } });
  const messages: string[] = [];
  ws.on('message', (data) => messages.push(String(data)));
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
  );
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  await waitFor(() => messages.length > 0);
  return { ws, messages, closed };
}

async function waitFor(probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends a message and waits for its echo: the connection still works. */
async function echoes(c: { ws: WebSocket; messages: string[] }, text: string): Promise<boolean> {
  c.ws.send(text);
  await waitFor(() => c.messages.includes(text), 5000);
  return true;
}

async function share(t: TestApp, w: WorkloadView, observers: string[]): Promise<void> {
  const roles = [
    { subjectType: 'USER' as const, subjectId: 'developer', role: 'OWNER' as const },
    ...observers.map((subjectId) => ({ subjectType: 'USER' as const, subjectId, role: 'OBSERVER' as const })),
  ];
  const { updateWorkloadSharedRoles } = await t.exec(UpdateWorkloadSharedRolesDocument, { input: { id: w.id, roles } });
  if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
}

describeEachDatabase('WebSockets through the invoke endpoint, re-checked while open', (backend) => {
  let t: InvokeTestApp;
  let w: WorkloadView;

  beforeAll(async () => {
    // The access cache stays on (1 s, the default): revocation must not wait for it.
    t = await startInvokeApp(backend, { INVOKE_ACCESS_CACHE_MS: '1000' });
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  it('closes a caller\'s WebSockets with 4403 within a second of their role being removed, and keeps the others\'', async () => {
    await share(t, w, [observer.sub]);
    const observed = await connect(`${endpointOf(t, w)}chat`, await bearer(observer));
    const owned = await connect(`${endpointOf(t, w)}chat`, await bearer());
    expect(await echoes(observed, 'before')).toBe(true);
    const revokedAt = Date.now();
    await share(t, w, []);
    const closed = await observed.closed;
    expect(closed).toMatchObject({ code: CLOSE_CODES.forbidden, reason: 'Access revoked' });
    expect(closed.at - revokedAt).toBeLessThan(1000);
    expect(await echoes(owned, 'still here')).toBe(true);
    owned.ws.close();
  });

  it('closes a WebSocket with 4403 when the token it was opened with expires', async () => {
    const token = await tokenFor({ sub: 'developer' }, { expiresInSeconds: 2 });
    const expiresAt = (decodeJwt(token).exp ?? 0) * 1000;
    const c = await connect(`${endpointOf(t, w)}chat`, `Bearer ${token}`);
    const closed = await c.closed;
    expect(closed).toMatchObject({ code: CLOSE_CODES.forbidden, reason: 'Token expired' });
    expect(closed.at).toBeGreaterThanOrEqual(expiresAt);
    expect(closed.at - expiresAt).toBeLessThan(1000);
  });

  it('lets the replica\'s frame under way finish before its own close frame', async () => {
    await share(t, w, [observer.sub]);
    const c = await connect(`${endpointOf(t, w)}chat`, await bearer(observer));
    // A message of a few MB echoed back: the revocation lands while its frame is on the way.
    const big = 'x'.repeat(4 * 1024 * 1024);
    c.ws.send(big);
    await share(t, w, []);
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE_CODES.forbidden);
    // Whatever arrived is whole: the echo entirely or not at all, never a torn frame (ws would close 1002).
    for (const m of c.messages.slice(1)) expect(m.length).toBe(big.length);
  });
});

// Two replicas need one database both can reach (PostgreSQL) and Redis between them.
const postgres = databaseBackends().find((b) => b.name === 'postgres');
const redis = sharedRedis();
describe.skipIf(Boolean(postgres?.missing || redis.missing))('WebSockets through the invoke endpoint of another replica', () => {
  let a: InvokeTestApp;
  let b: App;
  let w: WorkloadView;

  beforeAll(async () => {
    const prefix = `ws-access-${randomBytes(4).toString('hex')}:`;
    // Replica A: runs the controller and the simulated cluster; replica B only serves, on the same cluster.
    a = await startInvokeApp(postgres!, { REDIS_URL: redis.url!, REDIS_CHANNEL_PREFIX: prefix });
    w = await createRunningWorkload(a);
    b = await buildApp({
      config: loadConfig(testEnvironment({ ...INVOKE_TEST_ENV, INVOKE_ACCESS_CACHE_MS: '1000', REDIS_URL: redis.url!, REDIS_CHANNEL_PREFIX: prefix })),
      database: await databaseOf(a),
      runtime: a.app.runtime,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    await b.start();
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('closes the WebSocket on replica B within a second of a revoke made through replica A', async () => {
    await share(a, w, [observer.sub]);
    const c = await connect(`${b.url()}${new URL(endpointOf(a, w)).pathname}chat`, await bearer(observer));
    expect(await echoes(c, 'on b')).toBe(true);
    const revokedAt = Date.now();
    await share(a, w, []);
    const closed = await c.closed;
    expect(closed).toMatchObject({ code: CLOSE_CODES.forbidden, reason: 'Access revoked' });
    expect(closed.at - revokedAt).toBeLessThan(1000);
  });
});

/** The database an app was started on. */
async function databaseOf(t: TestApp) {
  const url = t.app.orm.config.get('clientUrl');
  if (typeof url !== 'string') throw new Error('no database URL');
  return { kind: 'postgres' as const, url, poolMax: 5 };
}
