import { afterEach, expect, it, vi } from 'vitest';
import { Reconciler } from '../../src/controller/reconcile.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import { readRoundRows, type RoundRows } from '../../src/store/workload-rounds.js';
import { describeEachDatabase } from '../support/backends.js';
import { isPassViewRead, startTestApp, type TestApp } from '../support/test-app.js';

const SPEC = { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] };

async function gql(t: TestApp, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const result = await t.execRaw(query, variables);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

async function untilRunning(t: TestApp, id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { workload } = await gql(t, `query($id: ID!) { workload(id: $id) { ... on Workload { status } } }`, { id });
    if (workload.status === 'RUNNING') return;
    if (Date.now() > deadline) throw new Error(`workload ${id} is ${workload.status} after 20 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeEachDatabase('the first pass over a workload created here', (backend) => {
  let t: TestApp;
  afterEach(async () => {
    vi.restoreAllMocks();
    await t?.stop();
  });

  it('goes on from the rows a create on its own spec wrote (what the database holds), and reads nothing', async () => {
    const runtime = new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) }));
    // A long tick: no view is dropped for its age while the workload comes up.
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true, runtime });
    const seeded: RoundRows[] = [];
    const created = t.app.controller.created.bind(t.app.controller);
    vi.spyOn(t.app.controller, 'created').mockImplementation((token, rows) => {
      seeded.push(rows);
      created(token, rows);
    });
    t.queries.length = 0;
    const { createWorkload } = await gql(
      t,
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { id } } } }`,
      { input: { name: 'seeded', artifact: { name: 'seeded', spec: SPEC }, runtime: { replicaCount: 1 } } },
    );
    const id = createWorkload.workload.id as string;
    expect(seeded).toHaveLength(1);
    const rawId = seeded[0]!.workload.id;
    // The rows the create reported are the rows a read finds (values, not only shape); this read
    // is the test's own, and the only one of its kind while the workload comes up.
    const read = await readRoundRows(t.app.orm.em.fork(), rawId);
    expect(seeded[0]).toEqual(read);
    await untilRunning(t, id);
    expect(t.queries.filter(isPassViewRead)).toHaveLength(1);
  });

  it('keeps nothing of a create when a pass began reading its workload before the hand-over, and the workload comes up once', async () => {
    // The interleaving a tick's resync can make: it finds the committed row and queues a pass,
    // which starts reading before the create hands its rows over.
    const runtime = new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) }));
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true, runtime });
    const controller = t.app.controller;
    const seeds: boolean[] = [];
    const seed = Reconciler.prototype.seed;
    vi.spyOn(Reconciler.prototype, 'seed').mockImplementation(function (this: Reconciler, token, rows) {
      const kept = seed.call(this, token, rows);
      seeds.push(kept);
      return kept;
    });
    const created = controller.created.bind(controller);
    let handedOver: Promise<void> | undefined;
    vi.spyOn(controller, 'created').mockImplementation((token, rows) => {
      controller.schedule(rows.workload.id);
      handedOver = (async () => {
        while (!t.queries.some(isPassViewRead)) await new Promise((r) => setTimeout(r, 1));
        created(token, rows);
      })();
    });
    t.queries.length = 0;
    const { createWorkload } = await gql(
      t,
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { id } } } }`,
      { input: { name: 'raced', artifact: { name: 'raced', spec: SPEC }, runtime: { replicaCount: 1 } } },
    );
    await handedOver;
    // The pass reading the workload holds it: the create's rows (maybe older than what the pass
    // records) are not kept.
    expect(seeds).toEqual([false]);
    const id = createWorkload.workload.id as string;
    await untilRunning(t, id);
    await controller.idle();
    const { workload } = await gql(t, `query($id: ID!) { workload(id: $id) { ... on Workload { status protons { status } } } }`, { id });
    expect(workload).toEqual({ status: 'RUNNING', protons: [{ status: 'RUNNING' }] });
    const events = await t.app.orm.em.fork().getConnection().execute<{ message: string }[]>(
      `select e.message from workload_event e join workload w on w.id = e.workload_id where w.name = 'raced' order by e.sequence`,
    );
    // Each step recorded once, in order: no second pass went on from the create's rows.
    expect(events.map((e) => e.message.replace(/proton [0-9a-f-]{36}/, 'proton P').replace(/ on sim-node-\d+$/, ''))).toEqual([
      'workload created on draft artifact "raced"',
      'active proton P status submitted -> provisioning',
      'status submitted -> provisioning: scheduled',
      'active proton P status provisioning -> launching: ContainersNotReady',
      'status provisioning -> launching: ContainersNotReady: containers with unready status: [app]',
      'active proton P status launching -> running',
      'status launching -> running',
    ]);
  });

  it('reads a workload created on an existing artifact, whose state other operations may change meanwhile', async () => {
    const runtime = new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) }));
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '60000' }, { controller: true, runtime });
    const { createArtifact } = await gql(
      t,
      `mutation($input: CreateArtifactInput!) { createArtifact(input: $input) { ... on CreateArtifactPayload { artifact { id } } } }`,
      { input: { name: 'shared', spec: SPEC } },
    );
    t.queries.length = 0;
    const { createWorkload } = await gql(
      t,
      `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { ... on CreateWorkloadPayload { workload { id } } } }`,
      { input: { name: 'on-existing', artifactId: createArtifact.artifact.id, runtime: { replicaCount: 1 } } },
    );
    await untilRunning(t, createWorkload.workload.id);
    expect(t.queries.filter(isPassViewRead)).toHaveLength(1);
  });
});

it('keeps what a create wrote only if nothing was told of the workload in between', () => {
  const reconciler = new Reconciler({ orm: {} as never, runtime: {} as never, clock: () => new Date(), policy: {} as never, published: () => {}, viewMaxAgeMs: 60_000 });
  const rows = (id: string) => ({ workload: { id } as RoundRows['workload'], protons: [] });
  const kept = (id: string) => (reconciler as unknown as { kept: Map<string, unknown> }).kept.has(id);

  const a = reconciler.expect('a');
  expect(reconciler.seed(a, rows('a'))).toBe(true);
  expect(kept('a')).toBe(true);

  // An operation or an announced change after the write: the create's rows may be older than it.
  const b = reconciler.expect('b');
  reconciler.forget('b');
  expect(reconciler.seed(b, rows('b'))).toBe(false);
  expect(kept('b')).toBe(false);

  // A create that wrote nothing leaves nothing expected behind; a late seed with its token keeps nothing.
  const c = reconciler.expect('c');
  reconciler.abandon('c', c);
  expect(reconciler.seed(c, rows('c'))).toBe(false);

  // Views not kept at all (an age of 0): nothing is seeded.
  const none = new Reconciler({ orm: {} as never, runtime: {} as never, clock: () => new Date(), policy: {} as never, published: () => {} });
  expect(none.seed(none.expect('d'), rows('d'))).toBe(false);
});
