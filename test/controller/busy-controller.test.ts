import { afterEach, expect, it, vi } from 'vitest';
import type { ProtonRuntime } from '../../src/runtime/proton-runtime.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import { describeEachDatabase } from '../support/backends.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const CONCURRENCY = 2;
const WORKLOADS = 12;

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

  it('answers a read, a create and a stop while every worker is busy and passes wait in the queue, then carries the stop out', async () => {
    const gated = gatedRuntime(new SimulatedProtonRuntime(new SimulatedCluster({ timings: acceleratedTimings(50) })));
    t = await startTestApp(backend, { CONTROLLER_TICK_MS: '50', CONTROLLER_CONCURRENCY: String(CONCURRENCY) }, { controller: true, runtime: gated.runtime });
    const app = t.app;
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const result = await t!.execRaw(query, variables);
      if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
      return result.data as any;
    };
    const create = async (name: string): Promise<string> => {
      const d = await gql(
        `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) { __typename ... on CreateWorkloadPayload { workload { id } } ... on Error { message } } }`,
        {
          input: {
            name,
            artifact: { name, spec: { containerGroups: [{ name: 'default', containers: [{ name: 'app', imageUri: 'ghcr.io/example/hello:1.0', primary: true, port: 8080 }] }] } },
            runtime: { replicaCount: 1 },
          },
        },
      );
      if (d.createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(d.createWorkload));
      return d.createWorkload.workload.id as string;
    };

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
