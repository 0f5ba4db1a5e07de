/**
 * Events a commit of this process wrote reach the live streams here without being read back
 * (ADR 0033 decision 7): the feed keeps each workload's last commit for a moment, and a stream in
 * step with the log takes the events from it; a stream out of step, a commit not kept here (an
 * operation's, another replica's) or one kept too long ago is read from the log as before, and a
 * sharing change among kept events is authorized as one read from the log is.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { workloadStatusChanged } from '../../src/domain/events.js';
import { ChangeFeed, COMMITTED_KEPT_MAX, COMMITTED_KEPT_MS } from '../../src/pubsub/change-feed.js';
import { LiveService } from '../../src/service/live.service.js';
import type { WorkloadEvent } from '../../src/store/entities/index.js';
import { appendRecordedEvents, readWorkloadEvents, type CommittedEvents } from '../../src/store/events.js';
import { SubscriptionEnded } from '../../src/service/live.service.js';
import { CreateWorkloadDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput } from '../support/fixtures.js';
import { recordSql } from '../support/sql-log.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const event = (sequence: number): WorkloadEvent =>
  ({ workloadId: 'w', sequence, type: 'statusChanged', message: 'm', actor: null, data: {}, occurredAt: new Date(0) }) as WorkloadEvent;
const commit = (after: number, n: number): CommittedEvents => ({ after, events: Array.from({ length: n }, (_, i) => event(after + i + 1)), deletedAt: null });

describe('the feed keeps the last commit of each workload', () => {
  it('answers exactly the events one kept commit wrote, and nothing for any other range', () => {
    const feed = new ChangeFeed(() => 0);
    feed.keepCommitted('w', commit(4, 2));
    expect(feed.committed('w', 4, 6)?.events.map((e) => e.sequence)).toEqual([5, 6]);
    // A stream behind the commit, ahead of it, or knowing of less or more than it wrote reads the log.
    expect(feed.committed('w', 3, 6)).toBeUndefined();
    expect(feed.committed('w', 5, 6)).toBeUndefined();
    expect(feed.committed('w', 4, 5)).toBeUndefined();
    expect(feed.committed('w', 4, 7)).toBeUndefined();
    expect(feed.committed('other', 4, 6)).toBeUndefined();
    // The next commit replaces it.
    feed.keepCommitted('w', commit(6, 1));
    expect(feed.committed('w', 4, 6)).toBeUndefined();
    expect(feed.committed('w', 6, 7)?.events.map((e) => e.sequence)).toEqual([7]);
  });

  it('forgets a commit after a moment, and the oldest when too many workloads are kept', () => {
    let now = 0;
    const feed = new ChangeFeed(() => now);
    feed.keepCommitted('a', commit(0, 1));
    now = COMMITTED_KEPT_MS - 1;
    feed.keepCommitted('b', commit(0, 1));
    expect(feed.committed('a', 0, 1)).toBeDefined();
    now = COMMITTED_KEPT_MS;
    expect(feed.committed('a', 0, 1)).toBeUndefined();
    expect(feed.committed('b', 0, 1)).toBeDefined();

    const bounded = new ChangeFeed(() => 0);
    for (let i = 0; i <= COMMITTED_KEPT_MAX; i++) bounded.keepCommitted(`w${i}`, commit(0, 1));
    expect(bounded.committed('w0', 0, 1)).toBeUndefined();
    expect(bounded.committed('w1', 0, 1)).toBeDefined();
    expect(bounded.committed(`w${COMMITTED_KEPT_MAX}`, 0, 1)).toBeDefined();
  });
});

describe('a live event stream in step with the log', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ name: 'pglite' });
  });
  afterAll(() => t?.stop());

  /** A new workload (its raw id and newest sequence) and a group's stream on it, in step with its log, with the sequences it admitted at. */
  async function inStep(name: string) {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name, artifact: artifactInput({ name }) as never } });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const id = Buffer.from(createWorkload.workload.id, 'base64').toString().split(':')[1]!;
    const feed = t.app.bus.feed;
    const live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed, maxPendingEvents: 1000 });
    const admitted: number[] = [];
    const stream = live.groupEvents(id, 0, async (_id, at) => (admitted.push(at), true))[Symbol.asyncIterator]();
    const head = (await readWorkloadEvents(t.app.orm.em.fork(), id, { after: 0, limit: 100, inverted: false })).length;
    for (let i = 1; i <= head; i++) expect(((await stream.next()).value as WorkloadEvent).sequence).toBe(i);
    return { id, head, feed, stream, admitted };
  }

  /** Appends `n` events to the log as a commit of some writer would; their rows as the log holds them. */
  async function append(id: string, after: number, types: ('statusChanged' | 'sharingChanged')[]): Promise<CommittedEvents> {
    const em = t.app.orm.em.fork();
    const recorded = types.map((type, i) =>
      type === 'statusChanged'
        ? workloadStatusChanged('submitted', 'running', { reason: `step ${after + i + 1}` })
        : { data: { type: 'sharingChanged' as const }, message: 'shared' },
    );
    await em.transactional((tx) => appendRecordedEvents(tx as never, id, recorded as never, null, new Date()));
    const events = await readWorkloadEvents(t.app.orm.em.fork(), id, { after, limit: 100, inverted: false });
    return { after, events, deletedAt: null };
  }

  /** Announces `upTo`, takes `n` events from the stream, and the statements run meanwhile. */
  async function announceAndTake(feed: ChangeFeed, stream: AsyncIterator<unknown>, id: string, upTo: number, n: number) {
    const sql = recordSql(t.app.orm);
    try {
      feed.deliver(id, upTo);
      const taken: WorkloadEvent[] = [];
      for (let i = 0; i < n; i++) {
        const { value } = await stream.next();
        if (value instanceof SubscriptionEnded) throw value;
        taken.push(value as WorkloadEvent);
      }
      return { taken, statements: [...sql.statements] };
    } finally {
      sql.stop();
    }
  }

  it('takes the events of a commit kept here without a statement, and reads those of a commit that is not', async () => {
    const { id, head, feed, stream } = await inStep('kept-commit');
    const kept = await append(id, head, ['statusChanged', 'statusChanged']);
    feed.keepCommitted(id, kept);
    const fromMemory = await announceAndTake(feed, stream, id, head + 2, 2);
    expect(fromMemory.taken).toEqual(kept.events);
    expect(fromMemory.statements).toEqual([]);

    // A commit this process did not keep (another replica's, an operation's): read from the log.
    const other = await append(id, head + 2, ['statusChanged']);
    const fromLog = await announceAndTake(feed, stream, id, head + 3, 1);
    expect(fromLog.taken).toEqual(other.events);
    expect(fromLog.statements.some((s) => s.includes('from workload_event'))).toBe(true);
    await stream.return?.();
  });

  it('reads the log when the stream is not where the kept commit starts', async () => {
    const { id, head, feed, stream } = await inStep('out-of-step');
    const missed = await append(id, head, ['statusChanged']);
    const kept = await append(id, head + 1, ['statusChanged']);
    feed.keepCommitted(id, kept);
    // The stream never heard of head + 1: the kept commit starts past it.
    const read = await announceAndTake(feed, stream, id, head + 2, 2);
    expect(read.taken).toEqual([...missed.events, ...kept.events]);
    expect(read.statements.some((s) => s.includes('from workload_event'))).toBe(true);
    await stream.return?.();
  });

  it('admits the group again at a sharing change among kept events, before sending it', async () => {
    const { id, head, feed, stream, admitted } = await inStep('kept-sharing');
    const before = admitted.length;
    const kept = await append(id, head, ['statusChanged', 'sharingChanged']);
    feed.keepCommitted(id, kept);
    const { taken } = await announceAndTake(feed, stream, id, head + 2, 2);
    expect(taken.map((e) => e.type)).toEqual(['statusChanged', 'sharingChanged']);
    expect(admitted.length).toBe(before + 1);
    await stream.return?.();
  });
});

describeEachDatabase("the controller's rounds", (backend) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('keep what they committed in the feed before announcing it, as the log holds it', async () => {
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true });
    const app = t.app;
    const kept = vi.spyOn(app.bus.feed, 'keepCommitted');
    /** Each announcement of the workload, and whether the commit that ends at it was kept by then. */
    const announced: { sequence: number; kept: boolean }[] = [];
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'rounds', artifact: artifactInput({ name: 'rounds' }) as never, runtime: { replicaCount: 1 } } });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const id = Buffer.from(createWorkload.workload.id, 'base64').toString().split(':')[1]!;
    const unwatch = app.bus.feed.watch(id, {
      changed: (_id, sequence) => {
        const last = kept.mock.calls.filter(([w]) => w === id).at(-1)?.[1];
        announced.push({ sequence, kept: last !== undefined && app.bus.feed.committed(id, last.after, sequence) === last });
      },
      resync: () => undefined,
    });
    try {
      await vi.waitFor(async () => {
        const { data } = await t!.execRaw('query($id: ID!) { workload(id: $id) { ... on Workload { status } } }', { id: createWorkload.workload.id });
        expect(data).toEqual({ workload: { status: 'RUNNING' } });
      }, { timeout: 30_000, interval: 50 });
      await app.controller.idle();
    } finally {
      unwatch();
    }
    const commits = kept.mock.calls.filter(([w]) => w === id).map(([, c]) => c);
    expect(commits.length).toBeGreaterThanOrEqual(1);
    for (const c of commits) {
      const logged = await readWorkloadEvents(app.orm.em.fork(), id, { after: c.after, limit: c.events.length, inverted: false });
      expect(c.events).toEqual(logged);
      // Announced after it was kept: a stream woken by the announcement finds it.
      expect(announced).toContainEqual({ sequence: c.after + c.events.length, kept: true });
    }
  }, 60_000);
});
