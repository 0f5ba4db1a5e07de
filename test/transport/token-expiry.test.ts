import { decodeJwt } from 'jose';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CreateWorkloadDocument, WorkloadChangedDocument, WorkloadEventsLiveDocument } from '../graphql/generated/graphql.js';
import { userViewer, whenCredentialsExpire } from '../../src/auth/viewer.js';
import { CLOSE_CODES } from '../../src/domain/close-codes.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, subscribeSse, subscribeWs, type LiveApp } from '../support/live.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };

/** A token that expires in about two seconds, and the moment it does (ms). */
async function shortLivedToken(): Promise<{ authorization: string; expiresAt: number }> {
  const token = await tokenFor(owner, { expiresInSeconds: 2 });
  return { authorization: `Bearer ${token}`, expiresAt: (decodeJwt(token).exp ?? 0) * 1000 };
}

describeEachDatabase('subscriptions whose bearer token expires', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  let workloadId: string;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database);
    const { createWorkload } = await t.exec(owner, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    workloadId = createWorkload.workload.id;
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('ends every operation of a WebSocket connection with TOKEN_EXPIRED when its token expires, then closes it with 4403', async () => {
    const { authorization, expiresAt } = await shortLivedToken();
    let closed: { code: number; reason: string; at: number } | undefined;
    const client = createClient({
      url: t.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization },
      on: { closed: (event) => {
        const e = event as { code: number; reason: string };
        closed = { code: e.code, reason: String(e.reason), at: Date.now() };
      } },
      onNonLazyError: () => {},
    });
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: workloadId });
    const events = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId, after: 0 });
    await changed.count(1);
    await events.count(1);
    await eventually(() => closed, 'the connection to close', 5000);
    expect(closed?.code).toBe(CLOSE_CODES.forbidden);
    expect(closed?.reason).toBe('Token expired');
    expect(closed!.at).toBeGreaterThanOrEqual(expiresAt);
    expect(closed!.at - expiresAt).toBeLessThan(1000);
    for (const s of [changed, events]) {
      expect(s.errors.map((e) => e.extensions?.code)).toEqual(['TOKEN_EXPIRED']);
      expect(s.errors[0]?.extensions?.requestId).toMatch(/^ws-/);
    }
    await client.dispose();
  });

  it('ends an SSE subscription with TOKEN_EXPIRED when its token expires', async () => {
    const { authorization, expiresAt } = await shortLivedToken();
    const sse = subscribeSse(t.url, { authorization }, WorkloadChangedDocument, { id: workloadId });
    await sse.count(1);
    await eventually(() => sse.completed, 'the stream to end', 5000);
    const endedAt = Date.now();
    expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(endedAt - expiresAt).toBeLessThan(1000);
    expect(sse.errors.map((e) => e.extensions?.code)).toEqual(['TOKEN_EXPIRED']);
    expect(sse.errors[0]?.message).toMatch(/token .* has expired/);
  });

  it('keeps a subscription whose token is valid for longer', async () => {
    const token = await tokenFor(owner, { expiresInSeconds: 3600 });
    const sse = subscribeSse(t.url, { authorization: `Bearer ${token}` }, WorkloadChangedDocument, { id: workloadId });
    await sse.count(1);
    // Past the moment the short-lived tokens above expire, it still runs.
    await new Promise((r) => setTimeout(r, 2500));
    expect(sse.completed).toBe(false);
    expect(sse.errors).toEqual([]);
    sse.stop();
  });
});

it('waits out a token that lives longer than a timer can hold, instead of firing at once', async () => {
  let fired = false;
  const cancel = whenCredentialsExpire({ ...userViewer('u'), expiresAt: Date.now() + 365 * 24 * 3600_000 }, () => (fired = true));
  await new Promise((r) => setTimeout(r, 50));
  expect(fired).toBe(false);
  cancel();
});
