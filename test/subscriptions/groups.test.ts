import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import {
  CreateWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadEventsLiveDocument,
  WorkloadsChangedDocument,
} from '../graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, subscribeSse, subscribeWs, wsClient, type LiveApp, type Received } from '../support/live.js';
import { recordSql } from '../support/sql-log.js';
import type { TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };
const olivia: TestSubject = { sub: 'olivia' };
const oscar: TestSubject = { sub: 'oscar' };

type Role = 'OBSERVER' | 'EDITOR';
type Events = { workloadEvents: { sequence: number } };

describeEachDatabase('subscription groups: one source stream per group, frames written to each member', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database);
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  async function createWorkload(who: TestSubject = owner) {
    const { createWorkload } = await t.exec(who, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload;
  }
  async function update(id: string, patch: Record<string, unknown>, who: TestSubject = owner) {
    const { updateWorkload } = await t.exec(who, UpdateWorkloadDocument, { input: { id, ...patch } as never });
    if (updateWorkload.__typename !== 'UpdateWorkloadPayload') throw new Error(JSON.stringify(updateWorkload));
  }
  async function share(id: string, grants: [TestSubject, Role][]) {
    const roles = [{ subjectType: 'USER' as const, subjectId: owner.sub, role: 'OWNER' as const }, ...grants.map(([who, role]) => ({ subjectType: 'USER' as const, subjectId: who.sub, role }))];
    const { updateWorkloadSharedRoles } = await t.exec(owner, UpdateWorkloadSharedRolesDocument, { input: { id, roles } });
    if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
  }
  async function lastSequence(globalId: string): Promise<number> {
    const id = Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
    const rows = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]);
    return Number(rows[0]!.n);
  }
  const sequences = (s: Received<Events>) => s.data.map((d) => d.workloadEvents.sequence);
  const stats = () => t.app.fanOut.stats();

  it('keeps an SSE and a WebSocket subscriber of one group apart when one is revoked: the revoked one receives nothing after, the other every event', async () => {
    const w = await createWorkload();
    await share(w.id, [
      [olivia, 'OBSERVER'],
      [oscar, 'OBSERVER'],
    ]);
    const after = await lastSequence(w.id);
    const before = stats();
    const oscarClient = await wsClient(t.wsUrl, oscar);
    const revoked = subscribeSse(t.url, olivia, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    const kept = subscribeWs(oscarClient, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    await Promise.all([revoked.count(1), kept.count(1)]);
    // Two callers of one role on a workload-scoped document, over two transports: one group. (A
    // subscriber catches up from the event log before it joins: its first event can come first.)
    await vi.waitFor(() => expect(stats().members - before.members).toBe(2));
    expect(stats().groups - before.groups).toBe(1);
    const executions = stats().executions;
    await update(w.id, { importance: 'HIGH' });
    await Promise.all([revoked.count(2), kept.count(2)]);
    expect(stats().executions - executions).toBe(1);

    const lastShared = await lastSequence(w.id);
    await share(w.id, [[oscar, 'OBSERVER']]);
    await eventually(() => revoked.completed, 'the revoked SSE stream to end');
    expect(revoked.errors.map((e) => e.extensions?.code)).toEqual(['ACCESS_REVOKED']);
    await update(w.id, { description: 'after the revocation' });
    const newest = await lastSequence(w.id);
    await eventually(() => kept.data.at(-1)?.workloadEvents.sequence === newest, 'the other subscriber to keep receiving');
    expect(sequences(revoked)).toEqual([after, lastShared]);
    expect(sequences(kept)).toEqual(Array.from({ length: newest - after + 1 }, (_, i) => after + i));
    expect(kept.errors).toEqual([]);
    expect(stats().members - before.members).toBe(1);
    await oscarClient.dispose();
    await eventually(() => stats().members === before.members && stats().groups === before.groups, 'the group to close with its last member');
  });

  it('puts different roles in different groups, and moves a member whose role changes to its new role\'s group with no gap and no duplicate', async () => {
    const w = await createWorkload();
    await share(w.id, [
      [olivia, 'OBSERVER'],
      [oscar, 'EDITOR'],
    ]);
    const after = await lastSequence(w.id);
    const before = stats();
    const [oliviaClient, oscarClient] = await Promise.all([wsClient(t.wsUrl, olivia), wsClient(t.wsUrl, oscar)]);
    const observer = subscribeWs(oliviaClient, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    const editor = subscribeWs(oscarClient, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    await Promise.all([observer.count(1), editor.count(1)]);
    expect(stats().groups - before.groups).toBe(2);
    const executions = stats().executions;
    await update(w.id, { importance: 'HIGH' });
    await Promise.all([observer.count(2), editor.count(2)]);
    // One execution per role: the event reaches each through its own group.
    expect(stats().executions - executions).toBe(2);

    // Olivia becomes an editor: she joins Oscar's group.
    await share(w.id, [
      [olivia, 'EDITOR'],
      [oscar, 'EDITOR'],
    ]);
    await eventually(() => stats().groups - before.groups === 1, 'the observer group to close as its member moves');
    await update(w.id, { description: 'as an editor' });
    const newest = await lastSequence(w.id);
    await Promise.all([observer, editor].map((s) => eventually(() => s.data.at(-1)?.workloadEvents.sequence === newest, 'the newest event')));
    const all = Array.from({ length: newest - after + 1 }, (_, i) => after + i);
    expect(sequences(observer)).toEqual(all);
    expect(sequences(editor)).toEqual(all);
    await vi.waitFor(() => expect(stats().members - before.members).toBe(2));
    await oliviaClient.dispose();
    await oscarClient.dispose();
    // Gone before the next test counts members: a disposed client's members leave asynchronously.
    await eventually(() => stats().members === before.members && stats().groups === before.groups, 'the groups to close with their members');
  });

  it('takes out a member that completes or disconnects, and the others of its group keep receiving', async () => {
    const w = await createWorkload();
    const after = await lastSequence(w.id);
    const before = stats();
    const client = await wsClient(t.wsUrl, owner);
    const variables = { workloadId: w.id, after: after - 1 };
    const leaving = subscribeWs(client, WorkloadEventsLiveDocument, variables);
    const staying = subscribeWs(client, WorkloadEventsLiveDocument, variables);
    const sse = subscribeSse(t.url, owner, WorkloadEventsLiveDocument, variables);
    await Promise.all([leaving, staying, sse].map((s) => s.count(1)));
    expect(stats().members - before.members).toBe(3);
    leaving.stop();
    sse.stop();
    await eventually(() => stats().members - before.members === 1, 'the completed and the aborted members to leave');
    await update(w.id, { importance: 'HIGH' });
    await staying.count(2);
    expect(leaving.data).toHaveLength(1);
    expect(sse.data).toHaveLength(1);
    await client.dispose();
    await eventually(() => stats().groups === before.groups, 'the group to close');
  });

  it('reads one statement for an event, however many members its group has: the workload\'s newest sequence with the page of events', async () => {
    const w = await createWorkload();
    const id = Buffer.from(w.id, 'base64').toString().split(':')[1] ?? '';
    const after = await lastSequence(w.id);
    const client = await wsClient(t.wsUrl, owner);
    const members = Array.from({ length: 5 }, () => subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 }));
    await Promise.all(members.map((m) => m.count(1)));
    // An event appended and announced as a commit does, with no controller pass to make.
    const em = t.app.orm.em.fork();
    const [row] = await em.getConnection().execute<{ sequence: number }[]>(
      `insert into workload_event (workload_id, sequence, type, message, occurred_at) values (?, 0, 'updated', 'described', now()) returning sequence`,
      [id],
    );
    const sql = recordSql(t.app.orm);
    try {
      t.app.pubsub.publish('workload:changed', { workloadId: id, sequence: Number(row!.sequence), reconcile: false });
      await Promise.all(members.map((m) => m.count(2)));
      // The group's reads. The controller may still be bringing the new workload up meanwhile: its
      // writes, and its passes' reads of the workload's view (`readPassView`), are not the group's.
      const controllers = /^\s*(insert|update|delete|with)\b|^select w\.id, w\.importance, /i;
      const stream = sql.statements.filter((q) => !controllers.test(q) && (q.includes('workload_event') || q.includes('from workload w where')));
      expect(stream, JSON.stringify(sql.statements)).toHaveLength(1);
      expect(stream[0]).toMatch(/^select w\.last_event_sequence, w\.deleted_at, \(/);
      // Admitted once, the group reads no sharing history before a page: sharing changes are in the pages.
      expect(stream.filter((q) => q.includes('sharingchanged'))).toEqual([]);
    } finally {
      sql.stop();
      await client.dispose();
    }
  });

  it('delivers a backlog longer than a page, in order with no gap or duplicate: a live burst of 250 events, then a new subscriber from the start', async () => {
    const w = await createWorkload();
    const id = Buffer.from(w.id, 'base64').toString().split(':')[1] ?? '';
    const start = await lastSequence(w.id);
    const client = await wsClient(t.wsUrl, owner);
    const live = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: start - 1 });
    await live.count(1);
    // 250 events in one commit and one announcement: the stream reads the head with the first
    // page (100), then two further pages (100, 50).
    const [row] = await t.app.orm.em.fork().getConnection().execute<{ sequence: number }[]>(
      `insert into workload_event (workload_id, sequence, type, message, occurred_at)
         select ?, 0, 'updated', 'burst ' || n, now() from generate_series(1, 250) as n order by n
       returning sequence`,
      [id],
    );
    expect(row).toBeDefined();
    const newest = await lastSequence(w.id);
    expect(newest).toBe(start + 250);
    t.app.pubsub.publish('workload:changed', { workloadId: id, sequence: newest, reconcile: false });
    await live.count(251);
    const all = Array.from({ length: 251 }, (_, i) => start + i);
    expect(sequences(live)).toEqual(all);
    // A subscriber from before the first event reads the whole log, page by page, then goes live.
    const fresh = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await fresh.count(newest);
    expect(sequences(fresh)).toEqual(Array.from({ length: newest }, (_, i) => i + 1));
    await update(w.id, { description: 'after the backlog' });
    await Promise.all([live, fresh].map((s) => eventually(() => s.data.at(-1)?.workloadEvents.sequence === newest + 1, 'the next live event')));
    expect(sequences(live)).toEqual([...all, newest + 1]);
    expect(sequences(fresh).at(-1)).toBe(newest + 1);
    expect(new Set(sequences(fresh)).size).toBe(sequences(fresh).length);
    await client.dispose();
  });

  it('catches a late subscriber up from its own cursor before it joins the group', async () => {
    const w = await createWorkload();
    const start = await lastSequence(w.id);
    const client = await wsClient(t.wsUrl, owner);
    const early = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: start - 1 });
    await early.count(1);
    for (const importance of ['HIGH', 'LOW', 'MODERATE']) await update(w.id, { importance });
    const newest = await lastSequence(w.id);
    await eventually(() => early.data.at(-1)?.workloadEvents.sequence === newest, 'the early subscriber to be current');
    const groups = stats().groups;
    const late = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: start - 1 });
    await late.count(newest - start + 1);
    expect(stats().groups).toBe(groups);
    await update(w.id, { description: 'both live' });
    const last = await lastSequence(w.id);
    await Promise.all([early, late].map((s) => eventually(() => s.data.at(-1)?.workloadEvents.sequence === last, 'the live event')));
    const all = Array.from({ length: last - start + 1 }, (_, i) => start + i);
    expect(sequences(early)).toEqual(all);
    expect(sequences(late)).toEqual(all);
    await client.dispose();
  });

  it('groups workloadsChanged subscribers of one caller and filter: one execution per change; another caller has a group of its own', async () => {
    const w = await createWorkload();
    await share(w.id, [[olivia, 'OBSERVER']]);
    const before = stats();
    const [ownerClient, oliviaClient] = await Promise.all([wsClient(t.wsUrl, owner), wsClient(t.wsUrl, olivia)]);
    const mine = [subscribeWs(ownerClient, WorkloadsChangedDocument, {}), subscribeWs(ownerClient, WorkloadsChangedDocument, {}), subscribeSse(t.url, owner, WorkloadsChangedDocument, {})];
    const theirs = subscribeWs(oliviaClient, WorkloadsChangedDocument, {});
    await eventually(() => stats().members - before.members === 4, 'four members');
    expect(stats().groups - before.groups).toBe(2);
    // Published until received: there is no "registered" signal for the SSE stream's first read.
    let n = 0;
    await eventually(async () => {
      await update(w.id, { description: `change ${++n}` });
      return [...mine, theirs].every((s) => s.data.some((d) => d.workloadsChanged.workloadId === w.id));
    }, 'every subscriber to see a change');
    // From here, every change is executed once per group: the executions are what one owner's
    // subscriber and Olivia's received, not what all four did (per subscriber: 3x + 1x).
    const mark = { executions: stats().executions, mine: mine.map((s) => s.data.length), theirs: theirs.data.length };
    await update(w.id, { description: 'counted' });
    await eventually(() => {
      const received = mine.map((s, i) => s.data.length - mark.mine[i]!);
      const theirsReceived = theirs.data.length - mark.theirs;
      return (
        received.every((r) => r === received[0] && r > 0) &&
        theirsReceived > 0 &&
        stats().executions - mark.executions === received[0]! + theirsReceived
      );
    }, 'one execution per group for each change');
    const mineOnly = await createWorkload();
    await eventually(() => mine.every((s) => s.data.some((d) => d.workloadsChanged.workloadId === mineOnly.id)), 'the owner\'s new workload in the owner\'s lists');
    await update(w.id, { description: 'one more' });
    await eventually(() => theirs.data.filter((d) => d.workloadsChanged.workloadId === w.id).length >= 2, 'olivia to see the shared workload change again');
    // Olivia's group never read the owner's own workload.
    expect(theirs.data.some((d) => d.workloadsChanged.workloadId === mineOnly.id)).toBe(false);
    for (const s of [...mine, theirs]) expect(s.errors).toEqual([]);
    for (const s of mine) s.stop();
    await ownerClient.dispose();
    await oliviaClient.dispose();
  });
});
