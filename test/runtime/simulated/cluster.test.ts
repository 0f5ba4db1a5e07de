/**
 * The simulated cluster's Deployment behaviour on manual time: rolling updates with surge,
 * stalled rollouts, scale-down order, importance, and clients sharing one cluster.
 */
import { describe, expect, it } from 'vitest';
import { LABELS, PRIORITY_CLASSES } from '../../../src/runtime/conventions.js';
import { SimulatedProtonRuntime } from '../../../src/runtime/simulated/index.js';
import { PodTracker, isDeleting, isServing, primaryContainer, protonSpec, withEnv } from '../support.js';
import { simulatedCluster } from './harness.js';

describe('simulated cluster deployments', () => {
  it('rolls an update new-before-old: never fewer than the desired serving pods, at most one extra', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({ replicas: 3 });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 3);
    const oldNames = new Set(tracker.podNames());
    const serving: number[] = [];
    const live: number[] = [];
    const probe = sim.runtime.watchPods(() => {
      serving.push(tracker.serving().length);
      live.push(tracker.live().length);
    });
    const updated = await sim.runtime.applyProton(withEnv(spec, [{ name: 'GREETING', value: 'ciao' }]));
    await sim.runUntil(() => tracker.serving().length === 3 && tracker.pods.size === 3 && tracker.serving().every((p) => !oldNames.has(p.metadata!.name!)));
    probe();
    expect(Math.min(...serving)).toBe(3);
    expect(Math.max(...live)).toBe(4);
    expect(tracker.serving().every((p) => p.metadata?.labels?.[LABELS.revision] === updated.revision)).toBe(true);
    // Each old pod is marked for deletion only after one more new pod became ready.
    const firstOldDeletion = tracker.events.findIndex((e) => e.type === 'modified' && isDeleting(e.pod) && oldNames.has(e.pod.metadata!.name!));
    const firstNewReady = tracker.events.findIndex((e) => e.type !== 'error' && !oldNames.has(e.pod.metadata!.name!) && isServing(e.pod));
    expect(firstNewReady).toBeGreaterThanOrEqual(0);
    expect(firstNewReady).toBeLessThan(firstOldDeletion);
  });

  it('stalls a rollout whose new pods crash-loop, keeping the old pods serving, and completes once fixed', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({ replicas: 2 });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 2);
    const oldNames = new Set(tracker.podNames());
    const broken = withEnv(spec, [{ name: 'SIMULATE_FAULT', value: 'crash-loop' }]);
    await sim.runtime.applyProton(broken);
    await sim.runUntil(() => tracker.podNames().some((n) => tracker.statesOf(n).includes('errored(CrashLoopBackOff)')));
    await sim.advance(10 * 60_000);
    expect(tracker.serving().map((p) => p.metadata!.name!).every((n) => oldNames.has(n))).toBe(true);
    expect(tracker.serving()).toHaveLength(2);
    expect(tracker.live()).toHaveLength(3);
    const fixed = await sim.runtime.applyProton(withEnv(spec, [{ name: 'GREETING', value: 'fixed' }]));
    await sim.runUntil(() => tracker.pods.size === 2 && tracker.serving().every((p) => p.metadata?.labels?.[LABELS.revision] === fixed.revision) && tracker.serving().length === 2);
    expect(fixed.generation).toBe(3);
  });

  it('scales down the pods that serve least first: unscheduled before ready', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({ replicas: 2 });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 2);
    const ready = new Set(tracker.podNames());
    await sim.runtime.scaleProton(spec.protonId, 3);
    await sim.cluster.settled();
    await sim.runtime.scaleProton(spec.protonId, 2);
    await sim.cluster.settled();
    expect(new Set(tracker.pods.keys())).toEqual(ready);
  });

  it('restores the desired pod count after an eviction', async () => {
    const sim = await simulatedCluster({ failedPodGcMs: 1000 });
    const spec = protonSpec({ replicas: 2 });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 2);
    sim.cluster.evictPod(tracker.podNames()[0]!);
    await sim.runUntil(() => tracker.serving().length === 2 && tracker.pods.size === 2);
    expect(tracker.podNames()).toHaveLength(3);
    expect((await sim.runtime.getProton(spec.protonId))?.status).toEqual({ replicas: 2, updatedReplicas: 2, readyReplicas: 2 });
  });

  it('relabels pods with a new importance at once; pods created later also get its priority class', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({ replicas: 1, importance: 'low' });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 1);
    const [first] = tracker.podNames();
    await sim.runtime.setImportance(spec.workloadId, 'high');
    await sim.cluster.settled();
    const relabelled = tracker.pods.get(first!)!;
    expect(relabelled.metadata?.labels?.[LABELS.importance]).toBe('high');
    expect(relabelled.spec?.priorityClassName).toBe(PRIORITY_CLASSES.low.name);
    expect(tracker.statesOf(first!).at(-1)).toBe('running');
    await sim.runtime.scaleProton(spec.protonId, 2);
    await sim.cluster.settled();
    const second = [...tracker.pods.values()].find((p) => p.metadata?.name !== first)!;
    expect(second.spec).toMatchObject({ priorityClassName: 'workload-high', priority: 100_000 });
    expect((await sim.runtime.getProton(spec.protonId))?.importance).toBe('high');
  });

  it('refuses to change a proton that is being deleted, as a conflict', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec();
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 1);
    await sim.runtime.deleteProton(spec.protonId);
    await expect(sim.runtime.applyProton(spec)).rejects.toMatchObject({ kind: 'Conflict' });
    await expect(sim.runtime.scaleProton(spec.protonId, 2)).rejects.toMatchObject({ kind: 'Conflict' });
    await sim.runUntil(async () => (await sim.runtime.getProton(spec.protonId)) === undefined);
    await expect(sim.runtime.applyProton(spec)).resolves.toMatchObject({ generation: 1 });
  });

  it('lets two clients share one cluster: each sees the other\'s protons, and stopping one leaves the other working', async () => {
    const sim = await simulatedCluster();
    const other = new SimulatedProtonRuntime(sim.cluster);
    await other.start();
    const spec = protonSpec();
    const seenByOther = new PodTracker(other, { workloadId: spec.workloadId });
    await sim.applyTracked(spec);
    await sim.runUntil(() => seenByOther.serving().length === 1);
    expect(await other.listProtons({ workloadId: spec.workloadId })).toHaveLength(1);
    await other.stop();
    await expect(other.listPods()).rejects.toMatchObject({ kind: 'Unavailable' });
    await expect(sim.runtime.scaleProton(spec.protonId, 2)).resolves.toMatchObject({ replicas: 2 });
    expect(sim.timers.pending()).toBeGreaterThan(0);
  });

  it('keeps delivering events to other handlers when one handler throws', async () => {
    const sim = await simulatedCluster();
    sim.runtime.watchPods(() => {
      throw new Error('handler bug');
    });
    const tracker = await sim.applyTracked(protonSpec());
    await sim.runUntil(() => tracker.serving().length === 1);
    expect(sim.handlerErrors.length).toBeGreaterThan(0);
  });

  it('switches a route atomically between two protons while both run', async () => {
    const sim = await simulatedCluster();
    const blue = protonSpec();
    const green = protonSpec({ workloadId: blue.workloadId, containers: [primaryContainer({ image: 'registry.example.com/acme/echo:2.0' })] });
    const tracker = await sim.applyTracked(blue);
    await sim.runtime.applyProton(green);
    await sim.runtime.routeWorkload(blue.workloadId, blue.protonId);
    await sim.runUntil(() => tracker.serving().length === 2);
    const route = await sim.runtime.routeWorkload(blue.workloadId, green.protonId);
    expect(route).toEqual({ workloadId: blue.workloadId, protonId: green.protonId });
    expect(Object.isFrozen(route)).toBe(true);
    expect(await sim.runtime.getRoute(blue.workloadId)).toEqual(route);
  });
});

describe('simulated cluster reads by workload and proton', () => {
  it("answers each workload's and proton's reads with exactly its own objects as protons come and go, and spreads pods over the nodes that hold fewest", async () => {
    const sim = await simulatedCluster();
    const specs = Array.from({ length: 6 }, (_, i) => protonSpec({ replicas: 1 + (i % 3) }));
    // A second proton on the first workload (a replacement's candidate).
    const candidate = protonSpec({ workloadId: specs[0]!.workloadId, replicas: 2 });
    for (const spec of [...specs, candidate]) await sim.runtime.applyProton(spec);
    const total = [...specs, candidate].reduce((n, s) => n + s.replicas, 0);
    await sim.runUntil(async () => (await sim.runtime.listPods()).filter(isServing).length === total);

    const podsOf = async (filter: { workloadId?: string; protonId?: string }) => (await sim.runtime.listPods(filter)).map((p) => p.metadata!.name!).sort();
    const all = await sim.runtime.listPods();
    for (const spec of specs) {
      const own = all.filter((p) => p.metadata!.labels![LABELS.workloadId] === spec.workloadId).map((p) => p.metadata!.name!).sort();
      expect(await podsOf({ workloadId: spec.workloadId })).toEqual(own);
      expect((await sim.runtime.listProtons({ workloadId: spec.workloadId })).map((p) => p.protonId).sort()).toEqual(
        (spec === specs[0] ? [spec.protonId, candidate.protonId] : [spec.protonId]).sort(),
      );
    }
    expect(await podsOf({ protonId: candidate.protonId })).toHaveLength(2);
    expect(await podsOf({ workloadId: specs[1]!.workloadId, protonId: candidate.protonId })).toEqual([]);
    expect(await sim.runtime.listProtons({ workloadId: specs[1]!.workloadId, protonId: candidate.protonId })).toEqual([]);
    // Fourteen pods over three nodes, placed one at a time where fewest are: 5, 5 and 4.
    const perNode = (pods: typeof all) => pods.reduce((m, p) => m.set(p.spec!.nodeName!, (m.get(p.spec!.nodeName!) ?? 0) + 1), new Map<string, number>());
    expect(total).toBe(14);
    expect([...perNode(all).values()].sort()).toEqual([4, 5, 5]);

    // The first proton of the first workload goes: its pods and then the proton leave every read.
    await sim.runtime.deleteProton(specs[0]!.protonId);
    await sim.runUntil(async () => (await sim.runtime.listProtons({ protonId: specs[0]!.protonId })).length === 0);
    expect(await podsOf({ protonId: specs[0]!.protonId })).toEqual([]);
    expect((await sim.runtime.listProtons({ workloadId: specs[0]!.workloadId })).map((p) => p.protonId)).toEqual([candidate.protonId]);
    expect(await podsOf({ workloadId: specs[0]!.workloadId })).toEqual(await podsOf({ protonId: candidate.protonId }));
  });

  it('places a pod on the first node holding fewest pods, counting only the pods still there', async () => {
    const sim = await simulatedCluster();
    const nodeOf = async (protonId: string) => (await sim.runtime.listPods({ protonId }))[0]!.spec!.nodeName!;
    const a = protonSpec({ replicas: 3 });
    await sim.runtime.applyProton(a);
    await sim.runUntil(async () => (await sim.runtime.listPods({ protonId: a.protonId })).filter(isServing).length === 3);
    const b = protonSpec({ replicas: 1 });
    await sim.runtime.applyProton(b);
    await sim.runUntil(async () => (await sim.runtime.listPods({ protonId: b.protonId })).some(isServing));
    expect(await nodeOf(b.protonId)).toBe('sim-node-1'); // one pod each, then the first node
    await sim.runtime.deleteProton(b.protonId);
    await sim.runUntil(async () => (await sim.runtime.listPods({ protonId: b.protonId })).length === 0);
    // One pod on each node again: the first node takes the next (not the second, as if b's pod still counted).
    const c = protonSpec({ replicas: 1 });
    await sim.runtime.applyProton(c);
    await sim.runUntil(async () => (await sim.runtime.listPods({ protonId: c.protonId })).some(isServing));
    expect(await nodeOf(c.protonId)).toBe('sim-node-1');
  });
});
