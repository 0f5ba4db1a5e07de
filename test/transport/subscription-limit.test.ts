import { print } from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CreateWorkloadDocument, WorkloadChangedDocument } from '../graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, type LiveApp } from '../support/live.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };

interface Message {
  id?: string;
  type: string;
  payload?: unknown;
}

/** A graphql-transport-ws connection spoken by hand, so that a test can send many messages in one go. */
async function rawConnection(wsUrl: string, authorization: string): Promise<{ socket: WebSocket; messages: Message[] }> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  const messages: Message[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Message));
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } }));
  await eventually(() => messages.some((m) => m.type === 'connection_ack'), 'connection_ack');
  return { socket, messages };
}

describeEachDatabase('the per-connection operation limit', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database, { SUBSCRIPTIONS_MAX_PER_CONNECTION: '100' });
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('accepts exactly 100 of a burst of 300 subscribe messages and refuses 200 with SUBSCRIPTION_LIMIT', async () => {
    const { createWorkload } = await t.exec(owner, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    const { socket, messages } = await rawConnection(t.wsUrl, `Bearer ${await tokenFor(owner)}`);
    const query = print(WorkloadChangedDocument);
    // All at once: the server reads them from one buffer, before any operation has finished starting.
    for (let i = 0; i < 300; i += 1) {
      socket.send(JSON.stringify({ id: `op-${i}`, type: 'subscribe', payload: { query, variables: { id: createWorkload.workload.id } } }));
    }
    const answered = () => new Set(messages.filter((m) => m.type === 'next' || m.type === 'error').map((m) => m.id)).size;
    await eventually(() => answered() === 300, 'an answer to every subscribe message', 20_000);
    const accepted = new Set(messages.filter((m) => m.type === 'next').map((m) => m.id));
    const refused = messages.filter((m) => m.type === 'error');
    expect(accepted.size).toBe(100);
    expect(refused).toHaveLength(200);
    for (const m of refused) {
      expect((m.payload as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe('SUBSCRIPTION_LIMIT');
      expect(accepted.has(m.id)).toBe(false);
    }
    // The refused ones hold no slot: completing one accepted operation frees exactly one.
    socket.send(JSON.stringify({ id: [...accepted][0], type: 'complete' }));
    const answerTo = async (id: string) => {
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: { id: createWorkload.workload.id } } }));
      const answer = await eventually(() => messages.find((m) => m.id === id && (m.type === 'next' || m.type === 'error')), `an answer to ${id}`);
      return answer.type;
    };
    let attempt = 0;
    // The slot frees once the completed operation has wound down (asynchronously).
    await eventually(async () => (await answerTo(`late-${(attempt += 1)}`)) === 'next', 'the freed slot to be taken');
    expect(await answerTo('one-too-many')).toBe('error');
    socket.close();
  }, 60_000);
});
