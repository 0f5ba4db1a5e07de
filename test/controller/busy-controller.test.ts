import { afterEach, describe, expect, it, vi } from 'vitest';
import { burstUnderWay } from '../../src/graphql/admission.js';
import type { ProtonRuntime } from '../../src/runtime/proton-runtime.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import { isRead } from '../../src/store/connection-priority.js';
import { describeEachDatabase } from '../support/backends.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const CONCURRENCY = 2;
const WORKLOADS = 12;
const BURST = 12;

/** Creates a workload on its own spec through GraphQL; returns its id. */
async function createWorkload(t: TestApp, name: string): Promise<string> {
  const result = await t.execRaw(
    `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id } } ... on Error { message } } }`,
    {
      input: {
        name,
        artifact: { name, spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] } },
        runtime: { replicaCount: 1 },
      },
    },
  );
  const data = result.data as any;
  if (result.errors?.length || data.createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(result.errors ?? data.createWorkload));
  return data.createWorkload.workload.id as string;
}

/**
 * A runtime whose pod reads wait at a gate while it is closed: a pass that reaches them holds its
 * worker (after its database reads, as a pass waiting on a slow cluster does).
 */
function gatedRuntime(inner: ProtonRuntime) {
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let closed = true;
  const entered: string[] = [];
  const runtime = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'listPods') {
        return async (filter: { workloadId?: string } = {}) => {
          if (closed && filter.workloadId) {
            entered.push(filter.workloadId);
            await gate;
          }
          return (value as ProtonRuntime['listPods']).call(target, filter);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    runtime,
    entered,
    open: () => {
      closed = false;
      open();
    },
    close: () => {
      closed = true;
      gate = new Promise<void>((resolve) => (open = resolve));
    },
  };
}

describeEachDatabase('a busy controller does not hold up reads and mutations', (backend) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('answers a burst of mutations ahead of the backlog it makes: while mutations wait for their turn, one pass runs at a time', async () => {
    const gated = gatedRuntime(new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) })));
    // Mutations one at a time, so a burst waits in the admission queue; four workers for passes.
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50', CONTROLLER_CONCURRENCY: '4', GRAPHQL_MUTATION_CONCURRENCY: '1' }, { controller: true, runtime: gated.runtime });
    // How many passes had reached the runtime when each create's work was done (in its admitted
    // place, before its answer is written out: the answer's way back to this test can outlast the
    // next create's work, which writes nothing when its statement held it and earlier creates).
    const answered: number[] = [];
    const workloads = t.app.services.workloads;
    const create = workloads.create.bind(workloads);
    vi.spyOn(workloads, 'create').mockImplementation(async (...args) => {
      const created = await create(...args);
      answered.push(gated.entered.length);
      return created;
    });
    const ids = await Promise.all(Array.from({ length: BURST }, (_, i) => createWorkload(t!, `burst-${i}`)));
    expect(answered).toHaveLength(BURST);
    // Until the last create began (the one before it was answered), mutations were waiting: the
    // passes each earlier create scheduled went one at a time, and the one that reached the
    // runtime holds it (its gate is closed), so no second pass started.
    expect(answered[BURST - 2]).toBeLessThanOrEqual(1);
    // Once nothing waits, the other workers take passes again though that one has not ended.
    await vi.waitFor(() => expect(gated.entered.length).toBe(4), { timeout: 30_000, interval: 20 });
    gated.open();
    await vi.waitFor(
      async () => {
        const d = await t!.execRaw(`query { workloads(first: 50) { edges { node { id status } } } }`);
        const statuses = (d.data as any).workloads.edges.map((e: any) => e.node.status);
        expect(statuses).toHaveLength(ids.length);
        expect(new Set(statuses)).toEqual(new Set(['RUNNING']));
      },
      { timeout: 60_000, interval: 50 },
    );
  }, 120_000);

  it('answers a read, a create and a stop while every worker is busy and passes wait in the queue, then carries the stop out', async () => {
    const gated = gatedRuntime(new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) })));
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50', CONTROLLER_CONCURRENCY: String(CONCURRENCY) }, { controller: true, runtime: gated.runtime });
    const app = t.app;
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const result = await t!.execRaw(query, variables);
      if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
      return result.data as any;
    };
    const create = (name: string) => createWorkload(t!, name);

    const ids: string[] = [];
    for (let i = 0; i < WORKLOADS; i++) ids.push(await create(`busy-${i}`));
    // Every worker is now held inside a pass, and the other workloads wait their turn.
    await vi.waitFor(() => expect(gated.entered.length).toBe(CONCURRENCY), { timeout: 30_000, interval: 20 });
    await vi.waitFor(() => expect(app.controller.queueDepth).toBe(WORKLOADS), { timeout: 30_000, interval: 20 });

    const read = await gql(`query { workloads(first: 50) { totalCount edges { node { id status } } } }`);
    expect(read.workloads.totalCount).toBe(WORKLOADS);
    const extra = await create('busy-extra');
    // A stop on a workload whose pass has not started: recorded at once, not converged inline.
    const stopId = ids.find((id) => !gated.entered.includes(Buffer.from(id, 'base64').toString().split(':')[1]!))!;
    const stop = await gql(`mutation($id: ID!) { stopWorkload(id: $id) { __typename ... on WorkloadOperationPayload { changed workload { status } } } }`, { id: stopId });
    expect(stop.stopWorkload).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });

    // All of it was answered while the controller was still stuck: no further pass started.
    expect(gated.entered.length).toBe(CONCURRENCY);
    expect(app.controller.queueDepth).toBeGreaterThanOrEqual(WORKLOADS);

    gated.open();
    await vi.waitFor(
      async () => {
        const d = await gql(`query($id: ID!) { workload(id: $id) { ... on Workload { status } } }`, { id: stopId });
        expect(d.workload.status).toBe('STOPPED');
        const e = await gql(`query($id: ID!) { workload(id: $id) { ... on Workload { status } } }`, { id: extra });
        expect(e.workload.status).toBe('RUNNING');
      },
      { timeout: 60_000, interval: 50 },
    );
  }, 120_000);
});

describe('what the controller counts as a burst of mutations', () => {
  const admission = (waiting: number, active: number, last = -Infinity, previous = -Infinity) => ({ waiting: () => waiting, active: () => active, arrivals: () => ({ last, previous }) });

  it.each([
    { name: 'nothing under way', a: admission(0, 0), creates: 0, burst: false },
    { name: 'a lone mutation running, just arrived', a: admission(0, 1, 990), creates: 0, burst: false },
    { name: 'a lone create waiting for its statement', a: admission(0, 0, 990), creates: 1, burst: false },
    { name: 'a mutation waiting for its turn', a: admission(1, 1, 990), creates: 0, burst: true },
    { name: 'two mutations running', a: admission(0, 2, 990, 985), creates: 0, burst: true },
    { name: 'two creates waiting for their statement', a: admission(0, 0, 990, 985), creates: 2, burst: true },
    { name: 'two arrivals within 50 ms, the last just now (one after another)', a: admission(0, 0, 990, 960), creates: 0, burst: true },
    { name: 'two arrivals within 50 ms, the last long ago', a: admission(0, 0, 900, 880), creates: 0, burst: false },
    { name: 'two arrivals 200 ms apart, the last just now', a: admission(0, 0, 990, 790), creates: 0, burst: false },
  ])('$name: $burst', ({ a, creates, burst }) => {
    expect(burstUnderWay(a, creates, 1000)).toBe(burst);
  });
});

describeEachDatabase('reads first on the embedded database\'s connection', (backend) => {
  it('runs a query\'s work as a read on the embedded database (on PostgreSQL nothing is marked), and a mutation\'s and the controller\'s passes not', async () => {
    const inner = new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) }));
    const passes: boolean[] = [];
    const runtime = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop !== 'listPods') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        return (...args: unknown[]) => {
          passes.push(isRead());
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50' }, { controller: true, runtime });
    try {
      const services = t.app.services.workloads;
      let inMutation: boolean | undefined;
      const create = services.create.bind(services);
      const createSpy = vi.spyOn(services, 'create').mockImplementation((...args) => {
        inMutation = isRead();
        return create(...args);
      });
      const id = await createWorkload(t, 'reads-first');
      createSpy.mockRestore();
      expect(inMutation).toBe(false);
      let inQuery: boolean | undefined;
      const list = services.list.bind(services);
      const listSpy = vi.spyOn(services, 'list').mockImplementation((...args) => {
        inQuery = isRead();
        return list(...args);
      });
      await vi.waitFor(async () => {
        const { data } = await t.execRaw(`{ workloads(first: 5) { edges { node { id status } } } }`);
        expect((data as any).workloads.edges.find((e: any) => e.node.id === id)?.node.status).toBe('RUNNING');
      }, { timeout: 20_000, interval: 20 });
      listSpy.mockRestore();
      // The mark (an AsyncLocalStorage) is set only where the gate is: on Node.js 20 it costs every promise.
      expect(inQuery).toBe(backend.name === 'pglite');
      expect(passes.length).toBeGreaterThan(0);
      expect(passes.every((read) => !read)).toBe(true);
    } finally {
      await t.stop();
    }
  });
});
