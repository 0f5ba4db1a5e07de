import { afterAll, beforeAll, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import { LiveService } from '../../src/service/live.service.js';
import { CreateWorkloadDocument, UpdateWorkloadDocument } from '../graphql/generated/graphql.js';
import { artifactInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ name: 'pglite' });
});
afterAll(() => t?.stop());

it('serves an event to many subscribers of one workload with a fixed number of queries, not one per subscriber', async () => {
  const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'watched', artifact: artifactInput() as never } });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
  const globalId = createWorkload.workload.id;
  const id = Buffer.from(globalId, 'base64').toString().split(':')[1]!;
  const live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed: t.app.bus.feed, maxPendingEvents: 1000 });

  const queriesForOneEvent = async (subscribers: number, importance: 'HIGH' | 'LOW') => {
    const streams = Array.from({ length: subscribers }, () => live.workloadEvents(userViewer('developer'), id, 0)[Symbol.asyncIterator]());
    // Drain the backlog so every stream is live and in step.
    const backlog = (await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]))[0]!.n;
    for (const s of streams) for (let i = 0; i < backlog; i++) await s.next();
    const before = t.queries.length;
    await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance } });
    const mutation = t.queries.length - before;
    const received = await Promise.all(streams.map((s) => s.next()));
    for (const r of received) expect((r.value as { sequence: number }).sequence).toBe(backlog + 1);
    const total = t.queries.length - before;
    await Promise.all(streams.map((s) => s.return?.()));
    return total - mutation;
  };

  const few = await queriesForOneEvent(5, 'HIGH');
  const many = await queriesForOneEvent(100, 'LOW');
  expect(many).toBeLessThanOrEqual(few + 2);
  expect(many).toBeLessThan(20);
});
