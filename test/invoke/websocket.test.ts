import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { StopWorkloadDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { bearer, createRunningWorkload, endpointOf, startInvokeApp, uuidOf, waitForWorkload, type InvokeTestApp, type WorkloadView } from './support.js';

/** Opens a WebSocket and collects its messages; resolves once open, rejects with the HTTP answer if refused. */
function open(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; messages: (string | Buffer)[]; next(): Promise<string | Buffer> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
    const messages: (string | Buffer)[] = [];
    const waiting: ((m: string | Buffer) => void)[] = [];
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? (data as Buffer) : String(data);
      const w = waiting.shift();
      if (w) w(m);
      else messages.push(m);
    });
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        next: () => (messages.length > 0 ? Promise.resolve(messages.shift()!) : new Promise((r) => waiting.push(r))),
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode, headers: res.headers, body })));
    });
    ws.once('error', (err) => reject(err));
  });
}

async function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  try {
    const { ws } = await open(url, headers);
    ws.close();
    throw new Error('the upgrade was accepted');
  } catch (err) {
    const e = err as { status?: number; headers: Record<string, string>; body: string };
    if (e.status === undefined) throw err;
    return { status: e.status, headers: e.headers, body: e.body };
  }
}

describeEachDatabase('WebSockets through the invoke endpoint', (backend) => {
  let t: InvokeTestApp;
  let w: WorkloadView;
  let auth: string;

  beforeAll(async () => {
    t = await startInvokeApp(backend, { INVOKE_RETRY_AFTER_SECONDS: '7' });
    auth = await bearer();
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  it('reach the active proton with the path remainder and query, without the caller\'s credentials, and carry text and binary both ways', async () => {
    const active = w.protons.find((p) => p.role === 'ACTIVE')!;
    const { ws, next } = await open(`${endpointOf(t, w)}chat/room-1?since=5`, { authorization: auth, 'x-custom': 'kept' });
    try {
      const hello = JSON.parse(String(await next())) as { workloadId: string; protonId: string; path: string; headers: Record<string, string> };
      expect(hello).toMatchObject({ workloadId: uuidOf(w.id), protonId: uuidOf(active.id), path: '/chat/room-1?since=5' });
      expect(hello.headers.authorization).toBeUndefined();
      expect(hello.headers['x-custom']).toBe('kept');
      expect(hello.headers['x-forwarded-prefix']).toBe(`/endpoints/workloads/${uuidOf(w.id)}`);
      ws.send('ping 1');
      expect(await next()).toBe('ping 1');
      const bytes = Buffer.from([0, 1, 2, 250, 255]);
      ws.send(bytes);
      expect(Buffer.compare((await next()) as Buffer, bytes)).toBe(0);
    } finally {
      ws.close();
    }
  });

  it('are refused as requests are: 401 without a token, 404 for an unknown or unshared workload, 503 with Retry-After when nothing runs', async () => {
    expect((await refusal(`${endpointOf(t, w)}chat`)).status).toBe(401);
    expect((await refusal(`${t.baseUrl}/endpoints/workloads/00000000-0000-4000-8000-000000000000/chat`, { authorization: auth })).status).toBe(404);
    const stranger = await bearer({ sub: 'stranger' });
    const hidden = await refusal(`${endpointOf(t, w)}chat`, { authorization: stranger });
    expect(hidden.status).toBe(404);
    expect(JSON.parse(hidden.body)).toMatchObject({ error: { code: 'NOT_FOUND' } });

    const other = await createRunningWorkload(t);
    await t.exec(StopWorkloadDocument, { id: other.id });
    await waitForWorkload(t, other.id, (x) => x.status === 'STOPPED');
    const stopped = await refusal(`${endpointOf(t, other)}chat`, { authorization: auth });
    expect(stopped.status).toBe(503);
    expect(stopped.headers['retry-after']).toBe('7');
    expect(JSON.parse(stopped.body)).toMatchObject({ error: { code: 'WORKLOAD_UNAVAILABLE', workloadStatus: 'STOPPED' } });
  });

  it('answers 404 to an upgrade anywhere else, and still serves GraphQL over WebSocket', async () => {
    expect((await refusal(`${t.baseUrl}/elsewhere`, { authorization: auth })).status).toBe(404);
    const ws = new WebSocket(`${t.baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(ws.protocol).toBe('graphql-transport-ws');
    ws.close();
  });

  it('are closed when the workload stops: the replica goes away with 1001', async () => {
    const other = await createRunningWorkload(t);
    const { ws, next } = await open(`${endpointOf(t, other)}chat`, { authorization: auth });
    await next();
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await t.exec(StopWorkloadDocument, { id: other.id });
    expect(await closed).toBe(1001);
  });
});
