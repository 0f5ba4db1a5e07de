import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/controller/decide.js';
import { deserializeLifecycle, type StoredLifecycle } from '../../../src/controller/lifecycle-store.js';
import { Reconciler } from '../../../src/controller/reconcile.js';
import { readPassView, recordFirstLifecycle, recordPass, recordRound } from '../../../src/controller/record.js';
import { workloadStatusChanged, type WorkloadEventData } from '../../../src/domain/events.js';
import type { ProtonStatusReport } from '../../../src/domain/proton-status.js';
import { ProtonEntity, WorkloadEntity } from '../../../src/store/entities/index.js';
import { readWorkloadEvents, type CommittedEvents } from '../../../src/store/events.js';
import type { V1Pod } from '@kubernetes/client-node';
import { LABELS } from '../../../src/runtime/conventions.js';
import { loadPod } from '../../fixtures/pods/index.js';
import { CreateWorkloadDocument } from '../../graphql/generated/graphql.js';
import { containerInput, specInput } from '../../support/fixtures.js';
import { TEST_POLICY } from '../../support/policy.js';
import { recordSql } from '../../support/sql-log.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';
import { FakeRuntime } from './fake-runtime.js';

/** A running, ready pod of the proton's current template. */
function runningPod(workloadId: string, protonId: string, revision: string): V1Pod {
  const p = loadPod('running-ready');
  return { ...p, metadata: { ...p.metadata, name: `${protonId}-0`, uid: `${protonId}-0`, labels: { ...p.metadata?.labels, [LABELS.workloadId]: workloadId, [LABELS.protonId]: protonId, [LABELS.revision]: revision } } };
}

const report = (status: ProtonStatusReport['status']): ProtonStatusReport => ({ status, affected: 1, total: 1, ready: 1, desiredReplicas: 1 });

describe('phase record', () => {
  let t: TestApp;
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp({ name: 'pglite' });
  });
  afterAll(() => t?.stop());

  /** A new workload (created through the API) on its own draft: its raw id and the create's answer. */
  async function created(prefix: string) {
    n += 1;
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: `${prefix}-${n}`, artifact: { name: `${prefix}-${n}`, spec: specInput([containerInput()]) as never } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    return { id: Buffer.from(createWorkload.workload.id, 'base64').toString().split(':')[1]!, workload: createWorkload.workload };
  }

  /** A workload after its first passes over a fake runtime: lifecycle stored, active proton submitted. */
  async function workload(): Promise<{ id: string; stored: StoredLifecycle; protonId: string }> {
    const { id } = await created('record');
    const runtime = new FakeRuntime();
    await new Reconciler({ orm: t.app.orm, runtime, clock: t.clock.read, policy: TEST_POLICY, published: () => undefined }).pass(id);
    expect(runtime.actions).toEqual([{ create: expect.any(String), replicas: 1 }, { route: id, to: expect.any(String) }]);
    const row = await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id });
    const stored = deserializeLifecycle(row.lifecycle!);
    return { id, stored, protonId: stored.state.active!.protonId! };
  }

  async function events(id: string): Promise<WorkloadEventData[]> {
    const rows = await t.app.orm.em.fork().getConnection().execute<{ data: WorkloadEventData }[]>(
      'select data from workload_event where workload_id = ? and type = ? order by sequence',
      [id, 'statusChanged'],
    );
    return rows.map((r) => r.data);
  }

  it('writes the new status, the proton statuses and a statusChanged for each, in one transaction', async () => {
    const { id, stored, protonId } = await workload();
    const decision: Decision = {
      next: { ...stored, state: { ...stored.state, status: 'running', active: { ...stored.state.active!, status: 'running' } } },
      events: [workloadStatusChanged('submitted', 'running')],
      finishedDeleting: false,
    };
    const sequence = await recordPass(t.app.orm, id, stored, decision, new Map([[protonId, report('running')]]), t.clock.read());
    expect(sequence).toBeGreaterThan(0);
    const em = t.app.orm.em.fork();
    expect(await em.findOneOrFail(WorkloadEntity, { id })).toMatchObject({ status: 'running' });
    expect(await em.findOneOrFail(ProtonEntity, { id: protonId })).toMatchObject({ status: 'running', role: 'active' });
    expect(await events(id)).toEqual([
      { type: 'statusChanged', subject: 'proton', protonId, role: 'active', from: 'submitted', to: 'running' },
      { type: 'statusChanged', subject: 'workload', from: 'submitted', to: 'running' },
    ]);
  });

  it('writes nothing when an operation changed the workload since the pass read it', async () => {
    const { id, stored, protonId } = await workload();
    const stale: StoredLifecycle = { ...stored, state: { ...stored.state, desiredState: 'stopped' } };
    const decision: Decision = { next: { ...stored, state: { ...stored.state, status: 'running' } }, events: [workloadStatusChanged('submitted', 'running')], finishedDeleting: false };
    expect(await recordPass(t.app.orm, id, stale, decision, new Map([[protonId, report('running')]]), t.clock.read())).toBeNull();
    expect(await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id })).toMatchObject({ status: 'submitted' });
    expect(await events(id)).toEqual([]);
  });

  it('marks a proton that left the state removed and terminated, with its transition', async () => {
    const { id, stored, protonId } = await workload();
    const { active: _a, ...withoutActive } = stored.state;
    const decision: Decision = { next: { ...stored, state: withoutActive }, events: [], finishedDeleting: false };
    await recordPass(t.app.orm, id, stored, decision, new Map(), t.clock.read());
    const proton = await t.app.orm.em.fork().findOneOrFail(ProtonEntity, { id: protonId });
    expect(proton.removedAt).not.toBeNull();
    expect(proton.status).toBe('terminated');
    expect(await events(id)).toEqual([{ type: 'statusChanged', subject: 'proton', protonId, role: 'active', from: 'submitted', to: 'terminated' }]);
  });

  it('deletes the workload for good once deletion finished, with a deleted event last', async () => {
    const { id, stored } = await workload();
    const next: StoredLifecycle = { ...stored, state: { ...stored.state, desiredState: 'deleted' } };
    const sequence = await recordPass(t.app.orm, id, stored, { next, events: [], finishedDeleting: true }, new Map(), t.clock.read());
    const em = t.app.orm.em.fork();
    expect((await em.findOneOrFail(WorkloadEntity, { id })).deletedAt).not.toBeNull();
    const last = await em.getConnection().execute<{ type: string; sequence: number }[]>('select type, sequence from workload_event where workload_id = ? order by sequence desc limit 1', [id]);
    expect(last[0]).toEqual({ type: 'deleted', sequence });
  });

  it('reads a pass in one statement and records a round in one: the lock that checks the lifecycle, the writes and the events in one call', async () => {
    const { id, stored, protonId } = await workload();
    const log = recordSql(t.app.orm);
    const view = (await readPassView(t.app.orm, id))!;
    expect(log.statements).toHaveLength(1);
    expect(view.rows.map((r) => ({ id: r.id, role: r.role, status: r.status }))).toEqual([{ id: protonId, role: 'active', status: 'submitted' }]);
    log.statements.length = 0;
    const decision: Decision = {
      next: { ...stored, state: { ...stored.state, status: 'running', active: { ...stored.state.active!, status: 'running' } } },
      events: [workloadStatusChanged('submitted', 'running')],
      finishedDeleting: false,
    };
    const sequence = await recordRound(view, stored, decision, new Map([[protonId, report('running')]]), t.clock.read());
    log.stop();
    expect(log.statements).toEqual([expect.stringMatching(/^select workload_record_round\(/)]);
    expect(view.rows[0]).toMatchObject({ status: 'running' });
    expect(await events(id)).toHaveLength(2);
    expect(sequence).toBe((await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id })).lastEventSequence);
    // The view goes on from what it wrote: a second round on it is not stale.
    const again: Decision = { next: { ...decision.next, state: { ...decision.next.state, status: 'launching' } }, events: [workloadStatusChanged('running', 'launching')], finishedDeleting: false };
    expect(await recordRound(view, decision.next, again, new Map(), t.clock.read())).toBe((sequence as number) + 1);
  });

  it('tells what a round committed as the log holds it, for the live streams of this process; nothing when it is stale', async () => {
    const { id, stored, protonId } = await workload();
    const view = (await readPassView(t.app.orm, id))!;
    const after = view.workload.lastEventSequence;
    const decision: Decision = {
      next: { ...stored, state: { ...stored.state, status: 'running', active: { ...stored.state.active!, status: 'running' } } },
      events: [workloadStatusChanged('submitted', 'running', { reason: 'Ready' })],
      finishedDeleting: false,
    };
    const told: CommittedEvents[] = [];
    const sequence = await recordRound(view, stored, decision, new Map([[protonId, report('running')]]), t.clock.read(), (c) => told.push(c));
    const logged = await readWorkloadEvents(t.app.orm.em.fork(), id, { after, limit: 100, inverted: false });
    expect(logged).toHaveLength(2);
    expect(told).toEqual([{ after, events: logged, deletedAt: null }]);
    expect(logged.at(-1)!.sequence).toBe(sequence);

    // The round that finishes deleting: the deletion as it left the row.
    const next: StoredLifecycle = { ...decision.next, state: { ...decision.next.state, desiredState: 'deleted' } };
    told.length = 0;
    const last = await recordRound(view, decision.next, { next, events: [], finishedDeleting: true }, new Map(), t.clock.read(), (c) => told.push(c));
    const deleted = await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id });
    expect(told).toEqual([{ after: sequence, events: await readWorkloadEvents(t.app.orm.em.fork(), id, { after: sequence as number, limit: 100, inverted: false }), deletedAt: deleted.deletedAt }]);
    expect(told[0]!.events.at(-1)).toMatchObject({ type: 'deleted', sequence: last });

    // A stale round writes nothing and tells nothing.
    const other = await workload();
    const staleView = (await readPassView(t.app.orm, other.id))!;
    await t.app.orm.em.fork().getConnection().execute(`update workload set lifecycle = jsonb_set(lifecycle, '{state,desiredState}', '"stopped"') where id = ?`, [other.id]);
    told.length = 0;
    expect(await recordRound(staleView, other.stored, { ...decision, next: { ...other.stored, state: { ...other.stored.state, status: 'running' } } }, new Map(), t.clock.read(), (c) => told.push(c))).toBe('stale');
    expect(told).toEqual([]);
  });

  it('finds a view stale once an operation wrote the workload after it was read, and writes nothing', async () => {
    const { id, stored, protonId } = await workload();
    const view = (await readPassView(t.app.orm, id))!;
    await t.app.orm.em.fork().getConnection().execute(`update workload set lifecycle = jsonb_set(lifecycle, '{state,desiredState}', '"stopped"') where id = ?`, [id]);
    const decision: Decision = { next: { ...stored, state: { ...stored.state, status: 'running' } }, events: [workloadStatusChanged('submitted', 'running')], finishedDeleting: false };
    expect(await recordRound(view, stored, decision, new Map([[protonId, report('running')]]), t.clock.read())).toBe('stale');
    expect(await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id })).toMatchObject({ status: 'submitted' });
    expect(await events(id)).toEqual([]);
  });

  it('finds a view stale once the workload got an event after it was read (a rename, a new importance), and writes nothing', async () => {
    const { id, stored, protonId } = await workload();
    const view = (await readPassView(t.app.orm, id))!;
    await t.app.orm.em.fork().getConnection().execute(
      `insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at) values (?, 0, 'updated', 'renamed', 'someone', '{}'::jsonb, now())`,
      [id],
    );
    const decision: Decision = { next: { ...stored, state: { ...stored.state, status: 'running' } }, events: [workloadStatusChanged('submitted', 'running')], finishedDeleting: false };
    expect(await recordRound(view, stored, decision, new Map([[protonId, report('running')]]), t.clock.read())).toBe('stale');
    expect(await t.app.orm.em.fork().findOneOrFail(WorkloadEntity, { id })).toMatchObject({ status: 'submitted' });
    expect(await events(id)).toEqual([]);
  });

  it('has a new workload created with its first lifecycle and active proton, as a first pass would record them', async () => {
    const { id, workload: createdWorkload } = await created('created');
    const em = t.app.orm.em.fork();
    const row = await em.findOneOrFail(WorkloadEntity, { id });
    const stored = deserializeLifecycle(row.lifecycle!);
    expect(stored.state).toMatchObject({ status: 'submitted', desiredState: 'running', active: { status: 'submitted', artifactId: row.artifact.id } });
    expect(stored.state.expiresAt?.getTime()).toBe(row.expiresAt?.getTime());
    const protons = await em.find(ProtonEntity, { workload: id });
    expect(protons.map((p) => ({ id: p.id, role: p.role, status: p.status, artifact: p.artifact.id, runtime: p.runtime }))).toEqual([
      { id: stored.state.active!.protonId, role: 'active', status: 'submitted', artifact: row.artifact.id, runtime: row.runtime },
    ]);
    // The answer to the create showed that proton without reading it back.
    expect(createdWorkload.protons).toEqual([{ id: expect.any(String), role: 'ACTIVE', status: 'SUBMITTED' }]);
    // What a first pass records for a workload without a lifecycle is the same, but for the proton's id.
    await forgetLifecycle(id);
    const view = (await readPassView(t.app.orm, id))!;
    expect(await recordFirstLifecycle(view, (at) => ({ ...TEST_POLICY, now: at }), t.clock.read())).toBe(true);
    const recorded = deserializeLifecycle((await em.fork().findOneOrFail(WorkloadEntity, { id })).lifecycle!);
    expect({ ...recorded.state, active: { ...recorded.state.active, protonId: 'p' } }).toEqual({ ...stored.state, active: { ...stored.state.active, protonId: 'p' } });
  });

  /** Makes a workload look as one created before creates wrote its first lifecycle and proton. */
  async function forgetLifecycle(id: string): Promise<void> {
    const sql = t.app.orm.em.fork().getConnection();
    await sql.execute(`delete from proton where workload_id = ?`, [id]);
    await sql.execute(`update workload set lifecycle = null where id = ?`, [id]);
  }

  it('records the first lifecycle and active proton of a workload that has none in one statement, once', async () => {
    const { id } = await created('first');
    await forgetLifecycle(id);
    const view = (await readPassView(t.app.orm, id))!;
    expect(view.workload.lifecycle).toBeNull();
    const log = recordSql(t.app.orm);
    const context = (at: Date) => ({ ...TEST_POLICY, now: at });
    expect(await recordFirstLifecycle(view, context, t.clock.read())).toBe(true);
    log.stop();
    expect(log.statements).toEqual([expect.stringMatching(/^with w as \(\s*update workload set lifecycle/)]);
    const em = t.app.orm.em.fork();
    const row = await em.findOneOrFail(WorkloadEntity, { id });
    const stored = deserializeLifecycle(row.lifecycle!);
    expect(stored.state).toMatchObject({ status: 'submitted', desiredState: 'running', active: { status: 'submitted' } });
    expect(stored.state.expiresAt?.getTime()).toBe(row.expiresAt?.getTime());
    const protons = await em.find(ProtonEntity, { workload: id });
    expect(protons.map((p) => ({ id: p.id, role: p.role, status: p.status, artifact: p.artifact.id, runtime: p.runtime }))).toEqual([
      { id: stored.state.active!.protonId, role: 'active', status: 'submitted', artifact: row.artifact.id, runtime: row.runtime },
    ]);
    // The view holds what was written, as a read of it now would: the pass goes on without one.
    expect(view).toEqual(await readPassView(t.app.orm, id));
    // A second pass over the same (now stale) view leaves what the first wrote alone.
    expect(await recordFirstLifecycle({ ...view, workload: { ...view.workload, lifecycle: null }, rows: [] }, context, t.clock.read())).toBe(false);
    expect(await em.fork().count(ProtonEntity, { workload: id })).toBe(1);
  });

  it('reads a new workload once in its first pass: the view, then its rounds', async () => {
    const { id } = await created('first-pass');
    const runtime = new FakeRuntime();
    const log = recordSql(t.app.orm);
    await new Reconciler({ orm: t.app.orm, runtime, clock: t.clock.read, policy: TEST_POLICY, published: () => undefined }).pass(id);
    log.stop();
    expect(runtime.actions).toEqual([{ create: expect.any(String), replicas: 1 }, { route: id, to: expect.any(String) }]);
    // Its first lifecycle came with the create: the view, then its rounds.
    expect(log.statements[0]).toMatch(/^select w\.id/);
    expect(log.statements.slice(1).length).toBeGreaterThan(0);
    for (const q of log.statements.slice(1)) expect(q).toMatch(/^select workload_record_round\(/);

    // One without a lifecycle (created before creates wrote it): the view, its first lifecycle, then its rounds.
    const { id: olderId } = await created('first-pass');
    await forgetLifecycle(olderId);
    const again = recordSql(t.app.orm);
    await new Reconciler({ orm: t.app.orm, runtime: new FakeRuntime(), clock: t.clock.read, policy: TEST_POLICY, published: () => undefined }).pass(olderId);
    again.stop();
    expect(again.statements[0]).toMatch(/^select w\.id/);
    expect(again.statements[1]).toMatch(/^with w as \(\s*update workload set lifecycle/);
    for (const q of again.statements.slice(2)) expect(q).toMatch(/^select workload_record_round\(/);
  });

  describe('views kept between passes', () => {
    const reconciler = (runtime: FakeRuntime, viewMaxAgeMs: number) =>
      new Reconciler({ orm: t.app.orm, runtime, clock: t.clock.read, policy: TEST_POLICY, published: () => undefined, viewMaxAgeMs });

    /** A workload whose first passes ran on `r`, and the proton it runs. */
    async function settled(r: Reconciler, runtime: FakeRuntime): Promise<string> {
      const { id } = await created('kept');
      await r.pass(id);
      expect(runtime.actions).toHaveLength(2);
      return id;
    }

    it('a pass that follows within the age and finds nothing new reads nothing; a forgotten or aged view is read again', async () => {
      const runtime = new FakeRuntime();
      const r = reconciler(runtime, 60_000);
      const id = await settled(r, runtime);
      const log = recordSql(t.app.orm);
      await r.pass(id);
      expect(log.statements).toEqual([]);
      r.forget(id);
      await r.pass(id);
      expect(log.statements).toHaveLength(1);
      log.statements.length = 0;
      await r.pass(id);
      expect(log.statements).toEqual([]);
      log.stop();

      const aged = reconciler(runtime, 0);
      const again = recordSql(t.app.orm);
      await aged.pass(id);
      await aged.pass(id);
      again.stop();
      expect(again.statements).toHaveLength(2);
    });

    it('the age is measured to what woke the pass: a pass woken within it that waited past it in the queue reads nothing', async () => {
      const runtime = new FakeRuntime();
      const r = reconciler(runtime, 200);
      const id = await settled(r, runtime);
      const wokenAt = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 300)); // the pass waits behind a backlog
      const log = recordSql(t.app.orm);
      await r.pass(id, wokenAt);
      expect(log.statements).toEqual([]);
      await r.pass(id); // woken now: the view was read longer ago than the age
      log.stop();
      expect(log.statements).toEqual([expect.stringMatching(/^select w\.id/)]);
    });

    it('a round on a kept view that a change made stale reads the workload again and goes on from there', async () => {
      const runtime = new FakeRuntime();
      const r = reconciler(runtime, 60_000);
      const id = await settled(r, runtime);
      // Another writer (an operation on another replica, unannounced yet) stops the workload.
      await t.app.orm.em.fork().getConnection().execute(
        `update workload set lifecycle = jsonb_set(lifecycle, '{state,desiredState}', '"stopped"'), desired_state = 'stopped' where id = ?`,
        [id],
      );
      const [protonId, proton] = [...runtime.protons.entries()][0]!;
      runtime.pods = [runningPod(id, protonId, proton.revision)];
      const log = recordSql(t.app.orm);
      await r.pass(id);
      log.stop();
      // The kept view's round was refused as stale, the workload read again, and the stop carried out.
      expect(log.statements.slice(0, 2)).toEqual([expect.stringMatching(/^select workload_record_round\(/), expect.stringMatching(/^select w\.id/)]);
      expect(log.statements.filter((q) => q.startsWith('select w.id'))).toHaveLength(1);
      expect(runtime.actions.at(-1)).toEqual({ update: protonId, replicas: 0, revision: expect.any(String) });
    });
  });
});

