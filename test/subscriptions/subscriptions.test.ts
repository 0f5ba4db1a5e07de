import { print } from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  CreateWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadChangedDocument,
  WorkloadChangedWithSpecDocument,
  WorkloadEventsLiveDocument,
  WorkloadsChangedDocument,
} from '../graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, containerInput, specInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, subscribeSse, subscribeWs, wsClient, type LiveApp } from '../support/live.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };
const observer: TestSubject = { sub: 'olivia' };
const stranger: TestSubject = { sub: 'stranger' };

describeEachDatabase('live subscriptions on one instance', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database, {
      SUBSCRIPTIONS_MAX_PER_CONNECTION: '3',
      SUBSCRIPTIONS_CONNECTION_INIT_TIMEOUT_MS: '300',
      SUBSCRIPTIONS_MAX_BUFFERED_BYTES: '65536',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  async function createWorkload(input: Record<string, unknown> = {}, who = owner) {
    const { createWorkload } = await t.exec(who, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput(), ...input }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload;
  }
  async function update(id: string, patch: Record<string, unknown>, who = owner) {
    const { updateWorkload } = await t.exec(who, UpdateWorkloadDocument, { input: { id, ...patch } as never });
    if (updateWorkload.__typename !== 'UpdateWorkloadPayload') throw new Error(JSON.stringify(updateWorkload));
    return updateWorkload.workload;
  }
  async function share(id: string, extra: { subjectType: 'USER'; subjectId: string; role: 'OBSERVER' | 'EDITOR' }[]) {
    const roles = [{ subjectType: 'USER' as const, subjectId: owner.sub, role: 'OWNER' as const }, ...extra];
    const { updateWorkloadSharedRoles } = await t.exec(owner, UpdateWorkloadSharedRolesDocument, { input: { id, roles } });
    if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
  }
  /** Every event sequence of a workload, from the database. */
  async function loggedSequences(globalId: string): Promise<number[]> {
    const id = Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
    const em = t.app.orm.em.fork();
    const rows = await em.getConnection().execute<{ sequence: number }[]>('select sequence from workload_event where workload_id = ? order by sequence', [id]);
    return rows.map((r) => Number(r.sequence));
  }

  it('sends the workload as it is, then again after each change, over WebSocket', async () => {
    const w = await createWorkload();
    const client = await wsClient(t.wsUrl, owner);
    const sub = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const [first] = await sub.count(1);
    expect(first?.workloadChanged.workload).toMatchObject({ id: w.id, importance: 'LOW' });
    await update(w.id, { importance: 'HIGH' });
    await eventually(() => sub.data.some((d) => d.workloadChanged.workload.importance === 'HIGH'), 'the change');
    const sequences = sub.data.map((d) => d.workloadChanged.sequence);
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(new Set(sequences).size).toBe(sequences.length);
    sub.stop();
    await client.dispose();
  });

  it('sends the same over GraphQL over SSE, authenticated by the Authorization header', async () => {
    const w = await createWorkload();
    const sub = subscribeSse(t.url, owner, WorkloadChangedDocument, { id: w.id });
    await sub.count(1);
    await update(w.id, { name: `renamed-${Date.now()}` });
    await eventually(() => sub.data.some((d) => d.workloadChanged.workload.name.startsWith('renamed-')), 'the change over SSE');
    expect(await sub.status).toBe(200);
    sub.stop();
  });

  it('replays the event log after `after` from the database, then goes live, with no gap and no duplicate', async () => {
    const w = await createWorkload();
    for (const importance of ['MODERATE', 'LOW', 'HIGH'] as const) await update(w.id, { importance });
    const client = await wsClient(t.wsUrl, owner);
    const ws = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: 1 });
    const sse = subscribeSse(t.url, owner, WorkloadEventsLiveDocument, { workloadId: w.id, after: 1 });
    await ws.count(3);
    await sse.count(3);
    // Changes made while the replay may still be running land across the seam.
    await Promise.all([update(w.id, { importance: 'LOW' }), update(w.id, { description: 'live one' })]);
    await update(w.id, { importance: 'HIGH' });
    const logged = await loggedSequences(w.id);
    const expected = logged.filter((s) => s > 1);
    await eventually(() => ws.data.length >= expected.length && sse.data.length >= expected.length, 'every event on both transports');
    expect(ws.data.map((d) => d.workloadEvents.sequence)).toEqual(expected);
    expect(sse.data.map((d) => d.workloadEvents.sequence)).toEqual(expected);
    expect(ws.data[0]?.workloadEvents.type).toBe('importanceChanged');
    ws.stop();
    sse.stop();
    await client.dispose();
  });

  it('resumes after a disconnect with exactly the missed events, in order, then live ones', async () => {
    const w = await createWorkload();
    const first = await wsClient(t.wsUrl, owner);
    const before = subscribeWs(first, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await update(w.id, { importance: 'HIGH' });
    const seen = await eventually(() => {
      const logged = before.data.map((d) => d.workloadEvents.sequence);
      return logged.length >= 2 && logged;
    }, 'the first events');
    await first.dispose();
    await update(w.id, { importance: 'MODERATE' });
    await update(w.id, { description: 'while away' });
    const lastSeen = seen[seen.length - 1] ?? 0;
    const second = await wsClient(t.wsUrl, owner);
    const after = subscribeWs(second, WorkloadEventsLiveDocument, { workloadId: w.id, after: lastSeen });
    await update(w.id, { importance: 'HIGH' });
    const expected = (await loggedSequences(w.id)).filter((s) => s > lastSeen);
    await eventually(() => after.data.length >= expected.length, 'the missed and live events');
    expect([...seen, ...after.data.map((d) => d.workloadEvents.sequence)]).toEqual(await loggedSequences(w.id));
    after.stop();
    await second.dispose();
  });

  it('sends list changes only for workloads the subscriber may see and that match, and a null when one leaves the list', async () => {
    const w = await createWorkload({ importance: 'HIGH' });
    const ownerClient = await wsClient(t.wsUrl, owner);
    const strangerClient = await wsClient(t.wsUrl, stranger);
    const mine = subscribeWs(ownerClient, WorkloadsChangedDocument, { filter: { importance: ['HIGH'] } });
    const theirs = subscribeWs(strangerClient, WorkloadsChangedDocument, {});
    // No registration signal exists: publish until the subscriber hears, with a deadline.
    let n = 0;
    await eventually(async () => {
      await update(w.id, { description: `ping ${++n}` });
      return mine.data.length > 0;
    }, 'the list subscription to hear a change');
    const other = await createWorkload({ importance: 'LOW' });
    await update(other.id, { description: 'not in the filter' });
    await update(w.id, { importance: 'LOW' });
    await eventually(() => mine.data.some((d) => d.workloadsChanged.workload === null), 'the workload leaving the list');
    expect(mine.data.every((d) => d.workloadsChanged.workloadId === w.id)).toBe(true);
    expect(mine.data.at(-1)?.workloadsChanged).toMatchObject({ workloadId: w.id, workload: null });
    // The stranger's stream got nothing about the owner's workloads, though it was live all along.
    const own = await createWorkload({}, stranger);
    await eventually(() => theirs.data.length > 0, 'the stranger to see their own workload');
    expect(theirs.data.map((d) => d.workloadsChanged.workloadId)).toEqual([own.id]);
    mine.stop();
    theirs.stop();
    await ownerClient.dispose();
    await strangerClient.dispose();
  });

  it('answers a subscription to a workload the caller cannot see with NOT_FOUND and nothing else', async () => {
    const w = await createWorkload();
    const client = await wsClient(t.wsUrl, stranger);
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const events = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await eventually(() => changed.completed && events.completed, 'both streams to end');
    expect(changed.data).toEqual([]);
    expect(events.data).toEqual([]);
    expect([...changed.errors, ...events.errors].map((e) => e.extensions?.code)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    await client.dispose();
  });

  it('ends an observer\'s live subscriptions with ACCESS_REVOKED within one second of the role being removed', async () => {
    const w = await createWorkload();
    await share(w.id, [{ subjectType: 'USER', subjectId: observer.sub, role: 'OBSERVER' }]);
    const client = await wsClient(t.wsUrl, observer);
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const events = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    const sse = subscribeSse(t.url, observer, WorkloadChangedDocument, { id: w.id });
    await changed.count(1);
    await sse.count(1);
    await events.count(2);
    const revokedAt = Date.now();
    await share(w.id, []);
    await eventually(() => changed.completed && events.completed && sse.completed, 'every stream to end', 1000);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    for (const s of [changed, events, sse]) expect(s.errors.map((e) => e.extensions?.code)).toEqual(['ACCESS_REVOKED']);
    expect(changed.errors[0]?.message).toMatch(/access to workload .* was revoked/);
    // Nothing of what happened after the revocation reached the observer: only creation and the grant.
    expect(events.data.map((d) => d.workloadEvents.sequence)).toEqual([1, 2]);
    await client.dispose();
  });

  it('refuses a WebSocket connection without a valid token with close code 4401, and SSE without one with 401', async () => {
    let closed: { code: number; reason: string } | undefined;
    const client = await wsClient(t.wsUrl, null, { onClosed: (code, reason) => (closed = { code, reason }) });
    const sub = subscribeWs(client, WorkloadChangedDocument, { id: 'x' });
    await eventually(() => closed, 'the connection to close');
    expect(closed).toMatchObject({ code: 4401 });
    expect(closed?.reason).toMatch(/no bearer token/);
    expect(sub.data).toEqual([]);
    await client.dispose();
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { workloadsChanged { workloadId } }' }),
    });
    expect(response.status).toBe(401);
    await response.body?.cancel();
  });

  it('refuses operations beyond the per-connection limit with SUBSCRIPTION_LIMIT and keeps the others', async () => {
    const w = await createWorkload();
    const client = await wsClient(t.wsUrl, owner);
    const subs = [0, 1, 2].map(() => subscribeWs(client, WorkloadChangedDocument, { id: w.id }));
    await Promise.all(subs.map((s) => s.count(1)));
    const fourth = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    await eventually(() => fourth.errors.length > 0, 'the fourth to be refused');
    expect(fourth.errors[0]?.extensions?.code).toBe('SUBSCRIPTION_LIMIT');
    subs[0]?.stop();
    // The slot frees when an operation completes.
    await eventually(async () => {
      const again = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
      await eventually(() => again.data.length > 0 || again.errors.length > 0, 'an answer', 2000);
      again.stop();
      return again.data.length > 0;
    }, 'a freed slot');
    await update(w.id, { importance: 'HIGH' });
    await eventually(() => subs[1]?.data.some((d) => d.workloadChanged.workload.importance === 'HIGH'), 'the others to go on');
    await client.dispose();
  });

  it('closes a connection that sends no connection_init in time with 4408', async () => {
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const code = await new Promise<number>((resolve) => socket.once('close', (c) => resolve(c)));
    expect(code).toBe(4408);
  });

  it('closes a WebSocket consumer that stops reading with 4413 once its buffer passes the limit', async () => {
    const big = 'x'.repeat(30_000);
    const environmentVars = Array.from({ length: 20 }, (_, i) => ({ name: `BIG_${i}`, value: big }));
    const w = await createWorkload({ artifact: artifactInput({ spec: specInput([containerInput({ environmentVars })]) }) });
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (c) => resolve(c)));
    let payloads = 0;
    let acknowledged = false;
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'next') payloads += 1;
      if (message.type === 'connection_ack') acknowledged = true;
    });
    await new Promise((r) => socket.once('open', r));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await tokenFor(owner)}` } }));
    await eventually(() => acknowledged, 'connection_ack');
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: print(WorkloadChangedWithSpecDocument), variables: { id: w.id } } }));
    await eventually(() => payloads >= 1, 'the first payload');
    // Stop reading: TCP fills, then the server's buffer, until the limit is passed.
    const raw = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const closedBefore = t.app.websocket()?.stats().slowConsumersClosed ?? 0;
    let n = 0;
    await eventually(async () => {
      await update(w.id, { description: `change ${++n}` });
      return (t.app.websocket()?.stats().slowConsumersClosed ?? 0) > closedBefore;
    }, 'the server to give up on the consumer', 25_000);
    raw.resume();
    expect(await closed).toBe(4413);
  }, 60_000);
});
