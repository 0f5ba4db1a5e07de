/**
 * The stages a simulated pod walks through, on manual time with the default timings: the facts
 * of each `V1Pod` and the replica state the domain derives from them.
 */
import { describe, expect, it } from 'vitest';
import { observePod } from '../../../src/domain/pod-observation.js';
import { deriveReplicaState } from '../../../src/domain/replica-state.js';
import { DEFAULT_TIMINGS } from '../../../src/runtime/simulated/index.js';
import { protonSpec } from '../support.js';
import { simulatedCluster } from './harness.js';

const T = DEFAULT_TIMINGS;

describe('simulated pod stages', () => {
  it('walks a pod through unscheduled, scheduled, ContainerCreating, running not ready and ready', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec();
    const tracker = await sim.applyTracked(spec);
    const pod = () => [...tracker.pods.values()][0]!;
    const state = () => deriveReplicaState(observePod(pod()));

    expect(pod().status?.phase).toBe('Pending');
    expect(pod().spec?.nodeName).toBeUndefined();
    expect(pod().status?.conditions).toEqual([]);
    expect(state().state).toBe('submitted');

    await sim.advance(T.scheduleMs);
    expect(pod().spec?.nodeName).toMatch(/^sim-node-/);
    expect(pod().status?.conditions).toContainEqual(expect.objectContaining({ type: 'PodScheduled', status: 'True' }));
    expect(pod().status?.containerStatuses).toBeUndefined();
    expect(state().state).toBe('provisioning');

    await sim.advance(T.kubeletSyncMs);
    expect(pod().status?.phase).toBe('Pending');
    expect(pod().status?.startTime).toBeInstanceOf(Date);
    expect(pod().status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    expect(state()).toMatchObject({ state: 'provisioning', reason: 'ContainerCreating' });

    await sim.advance(T.containerCreatingMs);
    const running = pod().status?.containerStatuses?.[0];
    expect(pod().status?.phase).toBe('Running');
    expect(pod().status?.podIP).toMatch(/^10\.244\./);
    expect(running?.state?.running?.startedAt).toEqual(sim.timers.now());
    expect(running?.ready).toBe(false);
    expect(running?.imageID).toContain('@sha256:');
    expect(state()).toMatchObject({ state: 'launching', reason: 'ContainersNotReady' });

    await sim.advance(T.readinessMs - 1);
    expect(state().state).toBe('launching');
    await sim.advance(1);
    expect(pod().status?.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(pod().status?.containerStatuses?.[0]?.ready).toBe(true);
    expect(state().state).toBe('running');

    expect(tracker.statesOf(pod().metadata!.name!)).toEqual([
      'submitted',
      'provisioning',
      'provisioning(ContainerCreating)',
      'launching(ContainersNotReady)',
      'running',
    ]);
    expect(sim.elapsed()).toBe(T.scheduleMs + T.kubeletSyncMs + T.containerCreatingMs + T.readinessMs);
  });

  it('keeps condition transition times until the condition changes', async () => {
    const sim = await simulatedCluster();
    const tracker = await sim.applyTracked(protonSpec());
    await sim.runUntil(() => tracker.serving().length === 1);
    const pod = tracker.serving()[0]!;
    const time = (type: string) => pod.status?.conditions?.find((c) => c.type === type)?.lastTransitionTime?.getTime();
    const t0 = sim.timers.now().getTime() - sim.elapsed();
    expect(time('PodScheduled')).toBe(t0 + T.scheduleMs);
    expect(time('Initialized')).toBe(t0 + T.scheduleMs + T.kubeletSyncMs);
    expect(time('Ready')).toBe(sim.timers.now().getTime());
  });

  it('deletes a ready pod gracefully: a deletion timestamp first, gone after the termination time', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec();
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 1);
    const name = tracker.podNames()[0]!;
    await sim.runtime.deleteProton(spec.protonId);
    await sim.cluster.settled();
    const deleting = tracker.pods.get(name)!;
    expect(deleting.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(deleting.metadata?.deletionGracePeriodSeconds).toBe(30);
    expect(deriveReplicaState(observePod(deleting)).state).toBe('stopping');
    expect(await sim.runtime.getProton(spec.protonId)).toMatchObject({ deletionTimestamp: expect.any(Date) });
    await sim.advance(T.terminationMs - 1);
    expect(tracker.pods.has(name)).toBe(true);
    await sim.advance(1);
    expect(tracker.pods.has(name)).toBe(false);
    expect(await sim.runtime.getProton(spec.protonId)).toBeUndefined();
    expect(tracker.statesOf(name).slice(-3)).toEqual(['running', 'stopping', 'gone']);
  });

  it('removes a pod that no node holds yet at once when it is deleted', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec();
    const tracker = await sim.applyTracked(spec);
    await sim.runtime.deleteProton(spec.protonId);
    await sim.cluster.settled();
    expect(tracker.pods.size).toBe(0);
    expect(tracker.events.map((e) => e.type)).toEqual(['added', 'deleted']);
    expect(await sim.runtime.listProtons()).toEqual([]);
  });

  it('spreads pods over the nodes and gives each a distinct IP', async () => {
    const sim = await simulatedCluster();
    const tracker = await sim.applyTracked(protonSpec({ replicas: 3 }));
    await sim.runUntil(() => tracker.serving().length === 3);
    const pods = tracker.serving();
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).toBe(3);
    expect(new Set(pods.map((p) => p.status?.podIP)).size).toBe(3);
  });

  it('cancels every timer when the owning runtime stops, and refuses calls afterwards', async () => {
    const sim = await simulatedCluster();
    await sim.applyTracked(protonSpec({ replicas: 2 }));
    expect(sim.timers.pending()).toBeGreaterThan(0);
    await sim.runtime.stop();
    expect(sim.timers.pending()).toBe(0);
    await expect(sim.runtime.listPods()).rejects.toMatchObject({ kind: 'Unavailable', retryable: true });
    expect(sim.runtime.isSynced()).toBe(false);
  });
});
