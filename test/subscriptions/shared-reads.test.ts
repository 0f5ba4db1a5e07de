import { afterAll, beforeAll, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import { LiveService, SubscriptionEnded } from '../../src/service/live.service.js';
import {
  CreateWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadChangedDetailDocument,
  WorkloadEventsLiveDocument,
} from '../graphql/generated/graphql.js';
import { subscribeWs, wsClient } from '../support/live.js';
import { artifactInput } from '../support/fixtures.js';
import { isPassViewRead, startTestApp, type TestApp } from '../support/test-app.js';

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

it("checks a caller's own event stream again at each sharing change it delivers, with no query of the sharing history per event", async () => {
  const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'own-stream', artifact: artifactInput() as never } });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
  const globalId = createWorkload.workload.id;
  const id = Buffer.from(globalId, 'base64').toString().split(':')[1]!;
  const share = (roles: { subjectId: string; role: string }[]) =>
    t.exec(UpdateWorkloadSharedRolesDocument, { input: { id: globalId, roles: roles.map((r) => ({ subjectType: 'USER' as never, subjectId: r.subjectId, role: r.role as never })) } });
  await share([{ subjectId: 'developer', role: 'OWNER' }, { subjectId: 'olivia', role: 'OBSERVER' }]);
  const lastSequence = async () => (await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]))[0]!.n;
  const live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed: t.app.bus.feed, maxPendingEvents: 1000 });
  const stream = live.workloadEvents(userViewer('olivia'), id, 0)[Symbol.asyncIterator]();
  const backlog = await lastSequence();
  for (let i = 1; i <= backlog; i++) expect(((await stream.next()).value as { sequence: number }).sequence).toBe(i);

  // Admitted once: a later event is read and sent without asking whether sharing changed.
  const before = t.queries.length;
  await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance: 'HIGH' } });
  expect(((await stream.next()).value as { sequence: number }).sequence).toBe(backlog + 1);
  expect(t.queries.slice(before).filter((q) => q.includes('sharingChanged'))).toEqual([]);

  // Unshared: the sharing change is the stream's cue to ask again, and nothing from it on is sent.
  await share([{ subjectId: 'developer', role: 'OWNER' }]);
  const unshared = await lastSequence();
  await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance: 'LOW' } });
  const delivered: number[] = [];
  for (;;) {
    const { value, done } = await stream.next();
    if (done || value instanceof SubscriptionEnded) {
      expect(value).toMatchObject({ code: 'ACCESS_REVOKED' });
      break;
    }
    delivered.push((value as { sequence: number }).sequence);
  }
  expect(delivered.filter((sequence) => sequence >= unshared)).toEqual([]);
  await stream.return?.();
});

it('authorizes the payloads of many subscribers of one workload with the role their streams read, not a role query per payload', async () => {
  const url = await t.app.start();
  const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'watched-over-graphql', artifact: artifactInput() as never } });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
  const globalId = createWorkload.workload.id;
  const id = Buffer.from(globalId, 'base64').toString().split(':')[1]!;
  // Role reads are raw SQL, which the ORM's query log does not show: count them where knex runs them.
  let roleReads = 0;
  t.app.orm.em.getKnex().on('query', (q: { sql: string }) => {
    if (q.sql.includes('from workload_shared_role')) roleReads += 1;
  });

  const roleQueriesForOneEvent = async (subscribers: number, importance: 'HIGH' | 'LOW') => {
    const client = await wsClient(`${url.replace(/^http/, 'ws')}/graphql`, { sub: 'developer' });
    try {
      const backlog = (await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]))[0]!.n;
      const streams = Array.from({ length: subscribers }, () => subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: globalId, after: 0 }));
      await Promise.all(streams.map((s) => s.count(backlog)));
      const before = roleReads;
      await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance } });
      await Promise.all(streams.map((s) => s.count(backlog + 1)));
      for (const s of streams) expect(s.errors).toEqual([]);
      // The mutation's own role checks are the same in both rounds.
      return roleReads - before;
    } finally {
      await client.dispose();
    }
  };

  const few = await roleQueriesForOneEvent(2, 'HIGH');
  const many = await roleQueriesForOneEvent(30, 'LOW');
  // What must not happen is a role query per subscriber and payload.
  expect(many).toBeLessThanOrEqual(few + 2);
});

it('lets streams that fell out of step use the reads of the streams ahead of them, instead of reading again', async () => {
  const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'watched-out-of-step', artifact: artifactInput() as never } });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
  const globalId = createWorkload.workload.id;
  const id = Buffer.from(globalId, 'base64').toString().split(':')[1]!;
  // Reads are kept long enough for this machine's pace: what is under test is who uses them.
  const live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed: t.app.bus.feed, maxPendingEvents: 1000, readReuseMs: 60_000 });
  const streams = Array.from({ length: 10 }, () => live.workloadEvents(userViewer('developer'), id, 0)[Symbol.asyncIterator]());
  const backlog = (await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]))[0]!.n;
  for (const s of streams) for (let i = 0; i < backlog; i++) await s.next();
  const ahead = streams.slice(0, 5);
  const behind = streams.slice(5);
  // One change: every stream reads it; the streams behind do not take it yet, so they wait on it.
  await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance: 'HIGH' } });
  for (const s of ahead) expect(((await s.next()).value as { sequence: number }).sequence).toBe(backlog + 1);
  // A second change: the streams ahead read it now; those behind are still sending the first.
  await t.exec(UpdateWorkloadDocument, { input: { id: globalId, importance: 'LOW' } });
  for (const s of ahead) expect(((await s.next()).value as { sequence: number }).sequence).toBe(backlog + 2);
  // The streams behind now catch up, one after the other, so no read of theirs can be in flight
  // together: each thing they need (the workload row, a page of events) is read at most once for
  // all five, or was read by the streams ahead (reading each for itself took 10 queries).
  const before = t.queries.length;
  for (const s of behind) {
    expect(((await s.next()).value as { sequence: number }).sequence).toBe(backlog + 1);
    expect(((await s.next()).value as { sequence: number }).sequence).toBe(backlog + 2);
  }
  expect(t.queries.length - before).toBeLessThanOrEqual(3);
  await Promise.all(streams.map((s) => s.return?.()));
});

it('reads a workloadChanged payload with its artifact, protons and replacement in one statement: one moment', async () => {
  const url = await t.app.start();
  const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'watched-whole', artifact: artifactInput() as never } });
  if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
  const id = createWorkload.workload.id;
  const client = await wsClient(`${url.replace(/^http/, 'ws')}/graphql`, { sub: 'developer' });
  try {
    const stream = subscribeWs(client, WorkloadChangedDetailDocument, { id });
    await stream.count(1);
    t.queries.length = 0;
    // A mutation that reads nothing of the workload's relations itself, so that what does is the payload's.
    const updated = await t.execRaw(`mutation($input: UpdateWorkloadInput!) { updateWorkload(input: $input) { __typename } }`, { input: { id, importance: 'HIGH' } });
    expect(updated.data).toEqual({ updateWorkload: { __typename: 'UpdateWorkloadPayload' } });
    const [, second] = await stream.count(2);
    expect(stream.errors).toEqual([]);
    expect(second!.workloadChanged.workload).toMatchObject({ importance: 'HIGH', viewerRole: 'OWNER', replacement: null });
    expect(second!.workloadChanged.workload.protons).toHaveLength(1);
    const payload = t.queries.slice(t.queries.indexOf('[query] commit') + 1).filter((q) => !isPassViewRead(q));
    // The workload, its artifact, protons and replacements: one statement (the page of one), and
    // no read of any of them apart from it. The rest is authorization (the caller's roles).
    // (The page names the workload's columns; the ORM's reads take `*`.)
    const rows = payload.filter((q) => /^\[query\] select ((\w+\.|"\w+"\.)?\*|w\.id, w\.name, ).*? from "?(workload|proton|artifact|replacement)"? /.test(q));
    expect(rows, payload.join('\n')).toHaveLength(1);
    expect(rows[0]).toMatch(/^\[query\] select w\.id, w\.name, .* from proton p .* from replacement /);
  } finally {
    await client.dispose();
  }
});
