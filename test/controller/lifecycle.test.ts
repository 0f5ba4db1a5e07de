import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CancelReplacementDocument,
  CreateArtifactDocument,
  CreateWorkloadDocument,
  DeleteWorkloadDocument,
  LockArtifactDocument,
  PromoteWorkloadDocument,
  ReplaceWorkloadArtifactDocument,
  RestartWorkloadDocument,
  StartWorkloadDocument,
  StopWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadRuntimeDocument,
  WorkloadStateDocument,
  type WorkloadStateQuery,
} from '../graphql/generated/graphql.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { OffsetClock } from '../support/offset-clock.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

type WorkloadView = Extract<WorkloadStateQuery['workload'], { __typename: 'Workload' }>;

const env = {
  SIMULATED_SPEED: '20',
  CONTROLLER_TICK_MS: '50',
  // Deadlines are the defaults (10 and 15 minutes): the tests that need one to pass move the clock,
  // so a loaded machine never fails a workload that is merely slow.
  DRAFT_TTL_SECONDS: '3600',
};

describe('workload lifecycle on the simulated cluster', () => {
  let t: TestApp;
  const clock = new OffsetClock();
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp({ name: 'pglite' }, env, { controller: true, clock: clock.read });
  });
  afterAll(() => t?.stop());

  const spec = (env: { name: string; value: string }[] = []) => specInput([containerInput({ environmentVars: env })]);

  async function create(input: { fault?: string; replicas?: number; locked?: boolean } = {}) {
    n += 1;
    const env = input.fault ? [{ name: 'SIMULATE_FAULT', value: input.fault }] : [];
    let artifactId: string | undefined;
    if (input.locked) artifactId = await artifact({ locked: true, fault: input.fault });
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: {
        name: `story-${n}`,
        ...(artifactId ? { artifactId } : { artifact: { name: `story-${n}`, spec: spec(env) as never } }),
        runtime: { replicaCount: input.replicas ?? 1 },
      },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload.id;
  }

  async function artifact(options: { locked?: boolean; fault?: string } = {}): Promise<string> {
    const env = options.fault ? [{ name: 'SIMULATE_FAULT', value: options.fault }] : [];
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: `art-${++n}`, spec: spec(env) as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    if (!options.locked) return createArtifact.artifact.id;
    const { lockArtifact } = await t.exec(LockArtifactDocument, { id: createArtifact.artifact.id });
    if (lockArtifact.__typename !== 'LockArtifactPayload') throw new Error(lockArtifact.__typename);
    return lockArtifact.artifact.id;
  }

  async function view(id: string): Promise<WorkloadView> {
    const { workload } = await t.exec(WorkloadStateDocument, { id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    return workload;
  }

  /** Waits until the workload satisfies `predicate` (the controller works in the background). */
  async function until(id: string, predicate: (w: WorkloadView) => boolean, timeout = 30_000): Promise<WorkloadView> {
    return vi.waitFor(
      async () => {
        const w = await view(id);
        if (!predicate(w)) throw new Error(`still ${w.status} (${w.statusReason ?? ''}); replacement ${w.replacement?.status ?? '-'}`);
        return w;
      },
      { timeout, interval: 20 },
    );
  }

  type EventNode = WorkloadView['events']['edges'][number]['node'];
  const transition = (e: EventNode) => `${e.statusChange!.from.toLowerCase()}>${e.statusChange!.to.toLowerCase()}`;
  const workloadChanges = (events: readonly EventNode[]) =>
    events.filter((e) => e.type === 'statusChanged' && e.statusChange?.subject === 'WORKLOAD').map(transition);
  const statusChanges = (w: WorkloadView) => workloadChanges(w.events.edges.map((e) => e.node));
  const replacementSteps = (w: WorkloadView) =>
    w.events.edges.filter((e) => e.node.type === 'replacementStep').map((e) => /replacement (\w+) -> (\w+)/.exec(e.node.message)?.slice(1, 3).join('>'));
  /** Waits until the event log holds what `predicate` looks for: events stay, transient states pass by. */
  const untilLogged = (id: string, predicate: (events: readonly EventNode[]) => boolean) =>
    until(id, (w) => predicate(w.events.edges.map((e) => e.node)));
  const protonChanges = (w: WorkloadView, protonId: string) =>
    w.events.edges.map((e) => e.node).filter((e) => e.statusChange?.subject === 'PROTON' && e.statusChange.protonId === protonId).map(transition);
  const gapFree = (w: WorkloadView) => expect(w.events.edges.map((e) => e.node.sequence)).toEqual(w.events.edges.map((_, i) => i + 1));

  it('creates a workload that goes submitted -> provisioning -> launching -> running, each step recorded', async () => {
    const id = await create({ replicas: 2 });
    const w = await until(id, (x) => x.status === 'RUNNING');
    expect(statusChanges(w)).toEqual(['submitted>provisioning', 'provisioning>launching', 'launching>running']);
    expect(w.protons).toHaveLength(1);
    expect(w.protons[0]).toMatchObject({ role: 'ACTIVE', status: 'RUNNING' });
    expect(w.protons[0]!.replicas.map((r) => r.status)).toEqual(['RUNNING', 'RUNNING']);
    gapFree(w);
  });

  it('stops (stopping -> stopped), says so when stopped again, then starts', async () => {
    const id = await create();
    await until(id, (x) => x.status === 'RUNNING');
    const { stopWorkload } = await t.exec(StopWorkloadDocument, { id });
    expect(stopWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true, message: 'workload stopping' });
    const stopped = await until(id, (x) => x.status === 'STOPPED');
    expect(stopped.protons[0]).toMatchObject({ role: 'ACTIVE', status: 'STOPPED', replicas: [] });
    const { stopWorkload: again } = await t.exec(StopWorkloadDocument, { id });
    expect(again).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: false, message: 'workload is already stopped' });

    const before = stopped.expiresAt!;
    clock.advance(60_000);
    const { startWorkload } = await t.exec(StartWorkloadDocument, { id });
    expect(startWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const running = await until(id, (x) => x.status === 'RUNNING');
    // Start resets the draft's clock; the proton, endpoint and identity are the same.
    expect(new Date(running.expiresAt!).getTime()).toBeGreaterThan(new Date(before).getTime());
    expect(running.protons.map((p) => p.id)).toEqual(stopped.protons.map((p) => p.id));
    expect(statusChanges(running)).toContain('stopping>stopped');
    gapFree(running);
  });

  it('refuses to start a workload while it is stopping', async () => {
    // A cluster whose pods take a minute to terminate keeps the workload stopping.
    const cluster = new SimulatedCluster({ timings: { ...acceleratedTimings(20), terminationMs: 60_000 } });
    const slow = await startTestApp({ name: 'pglite' }, env, { controller: true, runtime: new SimulatedProtonRuntime(cluster) });
    try {
      const { createWorkload } = await slow.exec(CreateWorkloadDocument, {
        input: { name: 'slow-stop', artifact: { name: 'slow-stop', spec: spec() as never } },
      });
      if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
      const id = createWorkload.workload.id;
      await vi.waitFor(async () => expect((await slow.exec(WorkloadStateDocument, { id })).workload).toMatchObject({ status: 'RUNNING' }), { timeout: 30_000 });
      await slow.exec(StopWorkloadDocument, { id });
      const { startWorkload } = await slow.exec(StartWorkloadDocument, { id });
      expect(startWorkload).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'WorkloadStopping', currentState: 'stopping' });
      const { stopWorkload: again } = await slow.exec(StopWorkloadDocument, { id });
      expect(again).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: false, message: 'workload is already stopping' });
    } finally {
      await slow.stop();
      cluster.shutdown();
    }
  });

  it('restarts in place: launching (initializing) then running, with new pods and a reset TTL', async () => {
    const id = await create({ replicas: 2 });
    const before = await until(id, (x) => x.status === 'RUNNING');
    clock.advance(60_000);
    const { restartWorkload } = await t.exec(RestartWorkloadDocument, { id });
    expect(restartWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true, workload: { status: 'LAUNCHING' } });
    const after = await until(id, (x) => x.status === 'RUNNING' && x.protons[0]!.replicas.every((r) => !before.protons[0]!.replicas.some((b) => b.name === r.name)));
    expect(new Date(after.expiresAt!).getTime()).toBeGreaterThan(new Date(before.expiresAt!).getTime());
    // The request leaves running (running -> launching); the only change after it is back to
    // running: the new pods' start-up shows as initializing (launching), never as submitted.
    const requested = after.events.edges.findIndex((e) => e.node.type === 'restartRequested');
    expect(workloadChanges(after.events.edges.slice(requested + 1).map((e) => e.node))).toEqual(['running>launching', 'launching>running']);
  });

  it('updates the runtime in place: a third replica comes up and the workload returns to running', async () => {
    const id = await create({ replicas: 2 });
    await until(id, (x) => x.status === 'RUNNING');
    const { updateWorkloadRuntime } = await t.exec(UpdateWorkloadRuntimeDocument, { input: { id, runtime: { replicaCount: 3 } } });
    expect(updateWorkloadRuntime).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const w = await until(id, (x) => x.status === 'RUNNING' && x.protons[0]!.replicas.length === 3 && x.protons[0]!.replicas.every((r) => r.status === 'RUNNING'));
    expect(w.runtime.replicaCount).toBe(3);
    const { updateWorkloadRuntime: invalid } = await t.exec(UpdateWorkloadRuntimeDocument, { input: { id, runtime: { replicaCount: 0 } } });
    expect(invalid).toMatchObject({ __typename: 'ValidationError' });
  });

  it('replaces blue/green: candidate beside the active, warm-up, switch, drain with keep-old, single active at the end', async () => {
    const id = await create();
    const before = await until(id, (x) => x.status === 'RUNNING');
    const next = await artifact();
    const { replaceWorkloadArtifact } = await t.exec(ReplaceWorkloadArtifactDocument, {
      input: { id, artifactId: next, warmupSeconds: 1, keepOldVersionSeconds: 1 },
    });
    expect(replaceWorkloadArtifact).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const done = await until(id, (x) => x.replacement?.status === 'COMPLETED' && x.protons.length === 1);
    // Warming and draining pass by; the event log keeps them: the candidate warmed beside the
    // serving active, the old active drained after the switch, and the workload never left running.
    const oldId = before.protons[0]!.id;
    const newId = done.protons[0]!.id;
    expect(protonChanges(done, newId)).toContain('warming>running');
    expect(protonChanges(done, oldId).slice(-2)).toEqual(['running>draining', 'draining>terminated']);
    const log = done.events.edges.map((e) => e.node);
    const warmed = log.findIndex((e) => e.statusChange?.protonId === newId && e.statusChange.to === 'WARMING');
    const drained = log.findIndex((e) => e.statusChange?.protonId === oldId && e.statusChange.to === 'DRAINING');
    const switched = log.findIndex((e) => e.type === 'replacementStep' && /switching -> draining/.test(e.message));
    expect(warmed).toBeGreaterThan(-1);
    expect(warmed).toBeLessThan(switched);
    expect(drained).toBeGreaterThan(warmed);
    expect(workloadChanges(log.slice(log.findIndex((e) => e.type === 'replacementRequested')))).toEqual([]);
    expect(done.status).toBe('RUNNING');
    expect(done.artifact.id).toBe(next);
    expect(done.protons[0]).toMatchObject({ role: 'ACTIVE', artifact: { id: next } });
    expect(done.protons[0]!.id).not.toBe(before.protons[0]!.id);
    expect(replacementSteps(done)).toEqual(['submitted>initializing', 'initializing>warming', 'warming>switching', 'switching>draining', 'draining>completed']);
    expect(done.history).toMatchObject([{ kind: 'REPLACEMENT', artifact: { id: next }, replacement: { status: 'COMPLETED' } }]);
    const route = await t.app.runtime.getRoute(Buffer.from(id, 'base64').toString().split(':')[1]!);
    expect(route?.protonId).toBe(Buffer.from(done.protons[0]!.id, 'base64').toString().split(':')[1]);
    gapFree(done);
  });

  it('refuses a replace across artifact statuses, of a locked artifact by itself, and while one is in progress', async () => {
    const id = await create();
    await until(id, (x) => x.status === 'RUNNING');
    const locked = await artifact({ locked: true });
    const { replaceWorkloadArtifact: mismatch } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: locked } });
    expect(mismatch).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'ArtifactStatusMismatch' });
    const slow = await artifact({ fault: 'slow-start' });
    const first = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: slow } });
    expect(first.replaceWorkloadArtifact.__typename).toBe('WorkloadOperationPayload');
    const { replaceWorkloadArtifact: second } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: await artifact() } });
    expect(second).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'ReplacementInProgress' });
    await t.exec(CancelReplacementDocument, { id });

    const onLocked = await create({ locked: true });
    const w = await until(onLocked, (x) => x.status === 'RUNNING');
    const { replaceWorkloadArtifact: itself } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id: onLocked, artifactId: w.artifact.id } });
    expect(itself).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'SameLockedArtifact' });
  });

  it('cancels a replacement before the switch: the candidate goes and the active keeps serving', async () => {
    const id = await create();
    const before = await until(id, (x) => x.status === 'RUNNING');
    const slow = await artifact({ fault: 'slow-start' });
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: slow } });
    await untilLogged(id, (log) => log.some((e) => e.type === 'replacementStep' && /submitted -> initializing/.test(e.message)));
    const { cancelReplacement } = await t.exec(CancelReplacementDocument, { id });
    expect(cancelReplacement).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const after = await until(id, (x) => x.protons.length === 1);
    expect(after).toMatchObject({ status: 'RUNNING', replacement: { status: 'CANCELLED' }, artifact: { id: before.artifact.id } });
    expect(after.protons[0]!.id).toBe(before.protons[0]!.id);
    const { cancelReplacement: nothing } = await t.exec(CancelReplacementDocument, { id });
    expect(nothing).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'NoReplacementInProgress' });
  });

  it('marks a replacement errored when its candidate crash-loops, and stays on the old proton', async () => {
    const id = await create();
    const before = await until(id, (x) => x.status === 'RUNNING');
    const broken = await artifact({ fault: 'crash-loop' });
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: broken } });
    const after = await until(id, (x) => x.replacement?.status === 'ERRORED' && x.protons.length === 1);
    expect(after.replacement).toMatchObject({ statusReason: 'CandidateFailed' });
    expect(after).toMatchObject({ status: 'RUNNING', artifact: { id: before.artifact.id } });
    expect(after.protons[0]!.id).toBe(before.protons[0]!.id);
  });

  it('promotes a running draft: artifact locked with a version, TTL gone, nothing restarted', async () => {
    const id = await create({ replicas: 2 });
    const before = await until(id, (x) => x.status === 'RUNNING');
    const { promoteWorkload } = await t.exec(PromoteWorkloadDocument, { id });
    expect(promoteWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true, workload: { expiresAt: null } });
    const after = await view(id);
    expect(after).toMatchObject({ status: 'RUNNING', expiresAt: null, artifact: { id: before.artifact.id, status: 'LOCKED', version: 1 } });
    expect(after.promotedAt).toBeTruthy();
    expect(after.protons[0]!.replicas.map((r) => r.name).sort()).toEqual(before.protons[0]!.replicas.map((r) => r.name).sort());
    expect(after.history[0]).toMatchObject({ kind: 'PROMOTION', artifact: { id: before.artifact.id } });
    const { promoteWorkload: again } = await t.exec(PromoteWorkloadDocument, { id });
    expect(again).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'ArtifactNotDraft' });
  });

  it('refuses to promote a workload that is not running', async () => {
    const id = await create({ fault: 'never-ready' });
    await until(id, (x) => x.status === 'LAUNCHING');
    const { promoteWorkload } = await t.exec(PromoteWorkloadDocument, { id });
    expect(promoteWorkload).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'NoRunningProton' });
  });

  it('deletes a workload: protons and route go, then the workload is gone; the artifact stays', async () => {
    const id = await create();
    const w = await until(id, (x) => x.status === 'RUNNING');
    const { deleteWorkload } = await t.exec(DeleteWorkloadDocument, { id });
    expect(deleteWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    await vi.waitFor(async () => {
      const { workload } = await t.exec(WorkloadStateDocument, { id });
      expect(workload.__typename).toBe('NotFoundError');
    }, { timeout: 30_000, interval: 20 });
    const raw = Buffer.from(id, 'base64').toString().split(':')[1]!;
    expect(await t.app.runtime.listProtons({ workloadId: raw })).toEqual([]);
    expect(await t.app.runtime.getRoute(raw)).toBeUndefined();
    const artifactView = await t.execRaw('query($id: ID!) { artifact(id: $id) { __typename } }', { id: w.artifact.id });
    expect(artifactView.data).toEqual({ artifact: { __typename: 'Artifact' } });
  });

  it('relabels running objects at once when importance changes, restarting nothing', async () => {
    const id = await create({ replicas: 2 });
    const before = await until(id, (x) => x.status === 'RUNNING');
    const raw = Buffer.from(id, 'base64').toString().split(':')[1]!;
    await t.exec(UpdateWorkloadDocument, { input: { id, importance: 'HIGH' } });
    await vi.waitFor(async () => {
      const [proton] = await t.app.runtime.listProtons({ workloadId: raw });
      expect(proton?.importance).toBe('high');
      const pods = await t.app.runtime.listPods({ workloadId: raw });
      expect(pods.map((p) => p.metadata?.labels?.['workload-api/importance'])).toEqual(['high', 'high']);
    }, { timeout: 30_000, interval: 20 });
    const after = await view(id);
    expect(after.protons[0]!.replicas.map((r) => r.name).sort()).toEqual(before.protons[0]!.replicas.map((r) => r.name).sort());
  });

  it('records an operation on a replica whose controller is not running, and leaves the runtime to the leader', async () => {
    const follower = await startTestApp({ name: 'pglite' }, env);
    try {
      const { createWorkload } = await follower.exec(CreateWorkloadDocument, {
        input: { name: 'on-follower', artifact: { name: 'on-follower', spec: spec() as never } },
      });
      if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
      const id = createWorkload.workload.id;
      const { stopWorkload } = await follower.exec(StopWorkloadDocument, { id });
      expect(stopWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
      expect(await follower.app.runtime.listProtons({})).toEqual([]);
    } finally {
      await follower.stop();
    }
  });

  it('shows ERRORED with CrashLoopBackOff for a crash-looping artifact', async () => {
    const id = await create({ fault: 'crash-loop' });
    const w = await until(id, (x) => x.status === 'ERRORED');
    expect(w.statusReason).toBe('CrashLoopBackOff');
    expect(w.protons[0]!.replicas[0]!.restartCount).toBeGreaterThan(0);
  });

  it('shows ERRORED with ImagePullBackOff after ErrImagePull', async () => {
    const id = await create({ fault: 'image-pull-failure' });
    const w = await until(id, (x) => x.status === 'ERRORED');
    expect(w.statusReason).toBe('ImagePullBackOff');
    expect(w.events.edges.some((e) => /provisioning/.test(e.node.message))).toBe(true);
  });

  it('fails a workload that never becomes ready with ProgressDeadlineExceeded', async () => {
    const id = await create({ fault: 'never-ready' });
    await until(id, (x) => x.status === 'LAUNCHING');
    clock.advance(601_000);
    const w = await until(id, (x) => x.status === 'ERRORED');
    expect(w.statusReason).toBe('ProgressDeadlineExceeded');
    expect(w.events.edges.some((e) => e.node.type === 'deadlineExceeded')).toBe(true);
  });

  it('shows INTERRUPTED with Evicted when a pod is evicted after being ready', async () => {
    const id = await create({ fault: 'evicted' });
    const w = await until(id, (x) => x.status === 'INTERRUPTED');
    expect(w.statusReason).toBe('Evicted');
    // Running may last only a moment before the eviction; the log says it came first.
    expect(statusChanges(w).slice(-2)).toEqual(['launching>running', 'running>interrupted']);
  });

  it('errors a replacement whose candidate misses its step deadline, keeping the workload on its old proton', async () => {
    const id = await create();
    const before = await until(id, (x) => x.status === 'RUNNING');
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: await artifact({ fault: 'never-ready' }) } });
    await until(id, (x) => x.replacement?.status === 'INITIALIZING');
    clock.advance(901_000);
    const after = await until(id, (x) => x.replacement?.status === 'ERRORED' && x.protons.length === 1);
    expect(after.replacement).toMatchObject({ statusReason: 'ProgressDeadlineExceeded' });
    expect(after).toMatchObject({ status: 'RUNNING', artifact: { id: before.artifact.id } });
    expect(after.protons[0]!.id).toBe(before.protons[0]!.id);
    expect(after.events.edges.some((e) => e.node.type === 'deadlineExceeded')).toBe(true);
  });

  it('terminates a draft workload when its TTL passes, and tears its protons down', async () => {
    const id = await create();
    await until(id, (x) => x.status === 'RUNNING');
    clock.advance(3601_000);
    const w = await until(id, (x) => x.status === 'TERMINATED');
    expect(w.statusReason).toBe('TTLExpired');
    expect(w.events.edges.some((e) => e.node.type === 'ttlExpired')).toBe(true);
    await vi.waitFor(async () => expect((await view(id)).protons.every((p) => p.replicas.length === 0)).toBe(true), { timeout: 30_000 });
    const { startWorkload } = await t.exec(StartWorkloadDocument, { id });
    expect(startWorkload).toMatchObject({ __typename: 'InvalidTransitionError', reason: 'WorkloadTerminated' });
  });

  it('serializes many operations fired at once on one workload, with no lost update', async () => {
    const id = await create();
    await until(id, (x) => x.status === 'RUNNING');
    const ops = Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? StopWorkloadDocument : StartWorkloadDocument));
    const results = await Promise.all(ops.map((doc) => t.exec(doc as typeof StopWorkloadDocument, { id })));
    const outcomes = results.map((r) => Object.values(r)[0] as { __typename: string });
    expect(outcomes.every((o) => o.__typename === 'WorkloadOperationPayload' || o.__typename === 'InvalidTransitionError')).toBe(true);
    const w = await until(id, (x) => x.status === 'RUNNING' || x.status === 'STOPPED');
    gapFree(w);
    // Every accepted operation left exactly one event.
    const accepted = outcomes.filter((o) => o.__typename === 'WorkloadOperationPayload' && (o as unknown as { changed: boolean }).changed).length;
    expect(w.events.edges.filter((e) => e.node.type === 'stopRequested' || e.node.type === 'startRequested')).toHaveLength(accepted);
  });

  it('brings 100 workloads up in parallel', async () => {
    const ids = await Promise.all(Array.from({ length: 100 }, () => create()));
    await vi.waitFor(
      async () => {
        const running = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>(
          `select count(*)::int as n from workload where status = 'running' and name like 'story-%' and id in (${ids.map(() => '?').join(',')})`,
          ids.map((g) => Buffer.from(g, 'base64').toString().split(':')[1]),
        );
        expect(running[0]!.n).toBe(100);
      },
      { timeout: 90_000, interval: 100 },
    );
  }, 120_000);
});
