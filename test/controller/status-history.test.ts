import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CreateArtifactDocument,
  CreateWorkloadDocument,
  ReplaceWorkloadArtifactDocument,
  RestartWorkloadDocument,
  StartWorkloadDocument,
  StopWorkloadDocument,
  UpdateWorkloadRuntimeDocument,
  WorkloadStateDocument,
  type WorkloadStateQuery,
} from '../graphql/generated/graphql.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

type WorkloadView = Extract<WorkloadStateQuery['workload'], { __typename: 'Workload' }>;
type EventNode = WorkloadView['events']['edges'][number]['node'];

describe('the event log as a complete status history', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ name: 'pglite' }, { SIMULATED_SPEED: '20', CONTROLLER_TICK_MS: '50' }, { controller: true });
  });
  afterAll(() => t?.stop());

  async function view(id: string): Promise<WorkloadView> {
    const { workload } = await t.exec(WorkloadStateDocument, { id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    return workload;
  }

  /** Waits for a settled state (the controller works in the background). */
  const until = (id: string, settled: (w: WorkloadView) => boolean) =>
    vi.waitFor(
      async () => {
        const w = await view(id);
        if (!settled(w)) throw new Error(`still ${w.status}`);
        return w;
      },
      { timeout: 30_000, interval: 20 },
    );
  const allRunning = (w: WorkloadView) =>
    w.status === 'RUNNING' && w.protons.length === 1 && w.protons[0]!.replicas.length > 0 && w.protons[0]!.replicas.every((r) => r.status === 'RUNNING' && r.ready);

  const changes = (events: readonly EventNode[], subject: 'WORKLOAD' | 'PROTON') =>
    events.filter((e) => e.type === 'statusChanged' && e.statusChange?.subject === subject);
  const arrows = (events: readonly EventNode[]) => events.map((e) => `${e.statusChange!.from}>${e.statusChange!.to}`.toLowerCase());

  it('records a statusChanged for every transition of the workload through create, update, restart, stop, start and replace', async () => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: 'history', artifact: { name: 'history', spec: specInput([containerInput()]) as never }, runtime: { replicaCount: 1 } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const id = createWorkload.workload.id;
    await until(id, allRunning);

    await t.exec(UpdateWorkloadRuntimeDocument, { input: { id, runtime: { replicaCount: 2 } } });
    await until(id, (w) => allRunning(w) && w.protons[0]!.replicas.length === 2);
    await t.exec(RestartWorkloadDocument, { id });
    await until(id, (w) => allRunning(w) && w.events.edges.some((e) => e.node.type === 'restartRequested') && changes(w.events.edges.map((e) => e.node), 'WORKLOAD').at(-1)?.statusChange?.to === 'RUNNING');
    await t.exec(StopWorkloadDocument, { id });
    await until(id, (w) => w.status === 'STOPPED');
    await t.exec(StartWorkloadDocument, { id });
    await until(id, allRunning);
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: 'history-next', spec: specInput([containerInput()]) as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: createArtifact.artifact.id, warmupSeconds: 0, keepOldVersionSeconds: 0 } });
    const done = await until(id, (w) => w.replacement?.status === 'COMPLETED' && allRunning(w));

    const events = done.events.edges.map((e) => e.node);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    // Each operation's own event comes first, then the transition it caused.
    const story = events
      .filter((e) => e.type !== 'statusChanged' || e.statusChange?.subject === 'WORKLOAD')
      .filter((e) => e.type !== 'replacementStep')
      .map((e) => (e.type === 'statusChanged' ? arrows([e])[0] : e.type));
    expect(story).toEqual([
      'created',
      'submitted>provisioning',
      'provisioning>launching',
      'launching>running',
      'runtimeUpdated',
      'running>launching',
      'launching>running',
      'restartRequested',
      'running>launching',
      'launching>running',
      'stopRequested',
      'running>stopping',
      'stopping>stopped',
      'startRequested',
      'stopped>submitted',
      'submitted>provisioning',
      'provisioning>launching',
      'launching>running',
      'replacementRequested',
    ]);
  });

  /** The workload's events as stored, each with the transaction that wrote it. */
  async function transactions(id: string): Promise<{ sequence: number; xid: string; data: Record<string, unknown> }[]> {
    const rows = await t.app.orm.em.fork().getConnection().execute<{ sequence: number; xid: string; data: unknown }[]>(
      'select sequence, xmin::text as xid, data from workload_event where workload_id = ? order by sequence',
      [decodeGlobalID(id).id],
    );
    return rows.map((r) => ({ sequence: r.sequence, xid: r.xid, data: typeof r.data === 'string' ? JSON.parse(r.data) : (r.data as Record<string, unknown>) }));
  }

  it.each([
    { step: 'warming', warmupSeconds: 3600, keepOldVersionSeconds: 0 },
    { step: 'draining', warmupSeconds: 0, keepOldVersionSeconds: 3600 },
  ])('records the step of a replacement to $step and the proton status it gives in one commit', async ({ step, warmupSeconds, keepOldVersionSeconds }) => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: `step-${step}`, artifact: { name: `step-${step}`, spec: specInput([containerInput()]) as never }, runtime: { replicaCount: 1 } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const id = createWorkload.workload.id;
    await until(id, allRunning);
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: `step-${step}-next`, spec: specInput([containerInput()]) as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: createArtifact.artifact.id, warmupSeconds, keepOldVersionSeconds } });
    await until(id, (w) => w.replacement?.status === step.toUpperCase());
    await vi.waitFor(async () => {
      const events = await transactions(id);
      const stepped = events.find((e) => e.data.type === 'replacementStep' && e.data.to === step);
      const proton = events.find((e) => e.data.type === 'statusChanged' && e.data.subject === 'proton' && e.data.to === step);
      // A read between two commits would show the step beside the proton's status of the step before.
      expect(proton, JSON.stringify(events.map((e) => [e.xid, e.data]))).toBeDefined();
      expect(proton!.xid).toBe(stepped!.xid);
    }, { timeout: 10_000, interval: 50 });
  });

  it('chains the transitions of every proton from submitted to the status it shows', async () => {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: 'history-2', artifact: { name: 'history-2', spec: specInput([containerInput()]) as never }, runtime: { replicaCount: 1 } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const id = createWorkload.workload.id;
    const first = await until(id, allRunning);
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: 'history-2-next', spec: specInput([containerInput()]) as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: createArtifact.artifact.id, warmupSeconds: 0, keepOldVersionSeconds: 0 } });
    const done = await until(id, (w) => w.replacement?.status === 'COMPLETED' && allRunning(w));

    const events = done.events.edges.map((e) => e.node);
    const byProton = new Map<string, EventNode[]>();
    for (const e of changes(events, 'PROTON')) byProton.set(e.statusChange!.protonId!, [...(byProton.get(e.statusChange!.protonId!) ?? []), e]);
    const oldId = first.protons[0]!.id;
    const newId = done.protons[0]!.id;
    expect([...byProton.keys()].sort()).toEqual([oldId, newId].sort());
    for (const [protonId, transitions] of byProton) {
      // A complete history: it starts where a proton starts, each step leaves where the last one arrived.
      expect(transitions[0]!.statusChange!.from).toBe('SUBMITTED');
      transitions.slice(1).forEach((e, i) => expect(e.statusChange!.from).toBe(transitions[i]!.statusChange!.to));
      const last = transitions.at(-1)!.statusChange!.to;
      expect(last).toBe(protonId === newId ? 'RUNNING' : 'TERMINATED');
    }
    // The old active drains, then goes; it never looks like a proton starting again.
    expect(arrows(byProton.get(oldId)!).slice(-2)).toEqual(['running>draining', 'draining>terminated']);
    expect(arrows(byProton.get(newId)!)).toEqual(['submitted>provisioning', 'provisioning>launching', 'launching>running']);
  });
});
