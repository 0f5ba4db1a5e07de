import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PodEvent, ProtonRuntime, RuntimeFilter, WatchPodsOptions } from '../../src/runtime/proton-runtime.js';
import { acceleratedTimings, SimulatedCluster, SimulatedProtonRuntime } from '../../src/runtime/simulated/index.js';
import {
  CreateArtifactDocument,
  CreateWorkloadDocument,
  ReplaceWorkloadArtifactDocument,
  RestartWorkloadDocument,
  WorkloadStateDocument,
  type WorkloadStateQuery,
} from './generated/graphql.js';
import { loadPod, type PodFixture } from '../fixtures/pods/index.js';
import { containerInput, specInput } from '../support/fixtures.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

type WorkloadView = Extract<WorkloadStateQuery['workload'], { __typename: 'Workload' }>;

/**
 * The simulated runtime, except that the pods of chosen protons are shown in the shape of a pod
 * fixture (as the cluster would report them), announced by a pod event like an informer's.
 */
class ShapedRuntime {
  readonly #shapes = new Map<string, PodFixture>();
  readonly #handlers = new Set<(e: PodEvent) => void>();
  readonly runtime: ProtonRuntime;

  constructor(inner: ProtonRuntime) {
    const listPods = async (filter: RuntimeFilter = {}): Promise<V1Pod[]> =>
      (await inner.listPods(filter)).map((pod) => this.#shaped(pod));
    const watchPods = (handler: (e: PodEvent) => void, options?: WatchPodsOptions) => {
      this.#handlers.add(handler);
      const unsubscribe = inner.watchPods(handler, options);
      return () => {
        this.#handlers.delete(handler);
        unsubscribe();
      };
    };
    this.runtime = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'listPods') return listPods;
        if (prop === 'watchPods') return watchPods;
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    this.#inner = inner;
  }

  readonly #inner: ProtonRuntime;

  /** From now on, the proton's pods look like `fixture`; the watchers hear of it. */
  async shape(protonId: string, fixture: PodFixture): Promise<void> {
    this.#shapes.set(protonId, fixture);
    for (const pod of await this.#inner.listPods({ protonId })) {
      for (const handler of this.#handlers) handler({ type: 'modified', pod: this.#shaped(pod), previous: pod });
    }
  }

  #shaped(pod: V1Pod): V1Pod {
    const fixture = this.#shapes.get(pod.metadata?.labels?.['workload-api/proton-id'] ?? '');
    if (fixture === undefined) return pod;
    // A pod object never seen before (its own uid), with the real pod's identity and labels.
    const shaped = loadPod(fixture);
    shaped.metadata = { ...shaped.metadata, name: pod.metadata?.name, namespace: pod.metadata?.namespace, labels: pod.metadata?.labels };
    return shaped;
  }
}

describe('Replica.status through GraphQL: the same derivation as its proton, from the pod and stored state only', () => {
  let t: TestApp;
  let shapes: ShapedRuntime;
  let n = 0;

  beforeAll(async () => {
    const cluster = new SimulatedCluster({ timings: acceleratedTimings(100) });
    shapes = new ShapedRuntime(new SimulatedProtonRuntime(cluster, { ownsCluster: true }));
    t = await startTestApp({ name: 'pglite' }, { CONTROLLER_TICK_MS: '50' }, { controller: true, runtime: shapes.runtime });
  });
  afterAll(() => t?.stop());

  async function artifact(): Promise<string> {
    const { createArtifact } = await t.exec(CreateArtifactDocument, {
      input: { name: `replica-art-${++n}`, spec: specInput([containerInput()]) as never },
    });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    return createArtifact.artifact.id;
  }

  async function create(): Promise<string> {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: `replica-${++n}`, artifactId: await artifact(), runtime: { replicaCount: 1 } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    return createWorkload.workload.id;
  }

  async function view(id: string): Promise<WorkloadView> {
    const { workload } = await t.exec(WorkloadStateDocument, { id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    return workload;
  }

  /** Waits for a state the workload then keeps (the pods do not change by themselves). */
  async function until(id: string, predicate: (w: WorkloadView) => boolean): Promise<WorkloadView> {
    return vi.waitFor(
      async () => {
        const w = await view(id);
        if (!predicate(w)) throw new Error(`still ${w.status}: ${JSON.stringify(w.protons.map((p) => [p.role, p.status, p.replicas.map((r) => r.status)]))}`);
        return w;
      },
      { timeout: 30_000, interval: 20 },
    );
  }

  const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

  it('shows RESTARTING (reason Error) for a crashed serving replica first seen by this controller, and the proton the same', async () => {
    const id = await create();
    const running = await until(id, (w) => w.status === 'RUNNING');
    const active = running.protons[0]!;
    // A pod this process never saw before, already restarted and not ready: no memory can help.
    await shapes.shape(rawId(active.id), 'restarted-not-ready');
    // The proton's status is derived from the pod at each read; the workload's is recorded by the
    // controller's next round: the state to wait for is both (a read may fall between the two).
    const w = await until(id, (x) => x.protons[0]?.status === 'RESTARTING' && x.status !== 'RUNNING');
    expect(w.protons[0]).toMatchObject({ role: 'ACTIVE', status: 'RESTARTING', statusReason: 'Error' });
    expect(w.protons[0]!.replicas).toEqual([
      expect.objectContaining({ status: 'RESTARTING', reason: 'Error', restartCount: 1, ready: false }),
    ]);
    expect(w.status).toBe('LAUNCHING');
  });

  it('shows RESTARTING with OOMKilled, not ERRORED, for a single OOMKill that restarts', async () => {
    const id = await create();
    const running = await until(id, (w) => w.status === 'RUNNING');
    await shapes.shape(rawId(running.protons[0]!.id), 'oom-killed-before-restart');
    const w = await until(id, (x) => x.protons[0]?.status === 'RESTARTING');
    expect(w.protons[0]!.replicas.map((r) => [r.status, r.reason])).toEqual([['RESTARTING', 'OOMKilled']]);
    expect(w.status).not.toBe('ERRORED');
  });

  it('shows INTERRUPTED with the pod\'s own reason for a node shutdown', async () => {
    const id = await create();
    const running = await until(id, (w) => w.status === 'RUNNING');
    await shapes.shape(rawId(running.protons[0]!.id), 'node-shutdown');
    const w = await until(id, (x) => x.protons[0]?.status === 'INTERRUPTED');
    expect(w.protons[0]!.replicas.map((r) => [r.status, r.reason])).toEqual([['INTERRUPTED', 'Terminated']]);
    expect(w.protons[0]!.statusReason).toBe('Terminated');
  });

  it('shows WARMING for the replicas of a candidate in its warm-up', async () => {
    const id = await create();
    await until(id, (w) => w.status === 'RUNNING');
    const next = await artifact();
    const { replaceWorkloadArtifact } = await t.exec(ReplaceWorkloadArtifactDocument, {
      input: { id, artifactId: next, warmupSeconds: 3600, keepOldVersionSeconds: 3600 },
    });
    expect(replaceWorkloadArtifact.__typename).toBe('WorkloadOperationPayload');
    // The warm-up lasts an hour: WARMING is where the candidate stays, not a passing state.
    // The step, the lifecycle the replicas are derived from and the proton's own status are one
    // commit, and one read shows one moment (ADR 0061 decision 14): the first read that shows the
    // step shows the rest with it.
    const warming = await until(id, (w) => w.replacement?.status === 'WARMING');
    const candidate = warming.protons.find((p) => p.role === 'CANDIDATE')!;
    expect(candidate.status).toBe('WARMING');
    expect(candidate.replicas.map((r) => [r.status, r.ready])).toEqual([['WARMING', true]]);
    expect(warming.protons.find((p) => p.role === 'ACTIVE')!.replicas.map((r) => r.status)).toEqual(['RUNNING']);
  });

  it('shows DRAINING for the replicas of an old active kept after the switch', async () => {
    const id = await create();
    const before = await until(id, (w) => w.status === 'RUNNING');
    const next = await artifact();
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: next, warmupSeconds: 0, keepOldVersionSeconds: 3600 } });
    // The old version is kept for an hour: DRAINING is where it stays. As above, the first read
    // that shows the step shows the old proton's status and replicas under it.
    const draining = await until(id, (w) => w.replacement?.status === 'DRAINING');
    const previous = draining.protons.find((p) => p.id === before.protons[0]!.id)!;
    expect(previous).toMatchObject({ role: 'PREVIOUS', status: 'DRAINING' });
    expect(previous.replicas.map((r) => [r.status, r.ready])).toEqual([['DRAINING', true]]);
    expect(draining.protons.find((p) => p.role === 'ACTIVE')!.replicas.map((r) => r.status)).toEqual(['RUNNING']);
  });

  it('shows INITIALIZING for the not-ready replicas of a proton restarted in place', async () => {
    const id = await create();
    const running = await until(id, (w) => w.status === 'RUNNING');
    const { restartWorkload } = await t.exec(RestartWorkloadDocument, { id });
    expect(restartWorkload.__typename).toBe('WorkloadOperationPayload');
    // Every pod of the proton now starts and never gets ready: the restart stays in progress.
    await shapes.shape(rawId(running.protons[0]!.id), 'running-not-ready');
    // The replicas are derived from the pods as they are when read, the proton's status is what
    // the controller last recorded of them: the pods change first, so wait for both.
    const w = await until(id, (x) => x.protons[0]!.status === 'INITIALIZING' && x.protons[0]!.replicas.length > 0 && x.protons[0]!.replicas.every((r) => r.status === 'INITIALIZING'));
    expect(new Set(w.protons[0]!.replicas.map((r) => r.reason))).toEqual(new Set(['ContainersNotReady']));
    expect(w.status).toBe('LAUNCHING');
  });
});
