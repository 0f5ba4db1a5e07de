/**
 * Every simulated fault ends in the pod facts that the domain maps to the documented replica
 * state and reason (SPEC.md section 2), chosen by `SIMULATE_FAULT` or injected per proton.
 */
import { describe, expect, it } from 'vitest';
import { observePod } from '../../../src/domain/pod-observation.js';
import { deriveReplicaState } from '../../../src/domain/replica-state.js';
import type { ProtonSpec } from '../../../src/runtime/proton-runtime.js';
import { DEFAULT_TIMINGS, SIMULATED_FAULTS, parseFault } from '../../../src/runtime/simulated/index.js';
import { primaryContainer, protonSpec } from '../support.js';
import { expectSubsequence, simulatedCluster } from './harness.js';

const T = DEFAULT_TIMINGS;

function faulty(fault: string, overrides: Partial<ProtonSpec> = {}): ProtonSpec {
  return protonSpec({
    containers: [primaryContainer({ env: [{ name: 'SIMULATE_FAULT', value: fault }] })],
    ...overrides,
  });
}

async function firstPodUntil(fault: string, state: string, maxMs?: number) {
  const sim = await simulatedCluster();
  const tracker = await sim.applyTracked(faulty(fault));
  const name = tracker.podNames()[0]!;
  await sim.runUntil(() => tracker.statesOf(name).includes(state), maxMs);
  return { sim, tracker, name, pod: () => tracker.pods.get(name)!, states: () => tracker.statesOf(name) };
}

describe('simulated faults', () => {
  it('crash-loop: the container exits, restarts with rising counts, then sits in CrashLoopBackOff (errored)', async () => {
    const { sim, pod, states } = await firstPodUntil('crash-loop', 'errored(CrashLoopBackOff)');
    expectSubsequence(states(), [
      'provisioning(ContainerCreating)',
      'launching(ContainersNotReady)',
      'restarting(Error)',
      'errored(CrashLoopBackOff)',
    ]);
    // From the first crash to the back-off, every event says restarting (no launching between).
    expect(states().slice(states().indexOf('restarting(Error)'))).toEqual(['restarting(Error)', 'errored(CrashLoopBackOff)']);
    expect(states()).not.toContain('running');
    const status = pod().status!.containerStatuses![0]!;
    expect(status.state?.waiting?.message).toMatch(/^back-off 2s restarting failed container=app pod=/);
    expect(status.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(status.restartCount).toBe(1);
    expect(pod().status?.phase).toBe('Running');
    const restarts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = pod().status!.containerStatuses![0]!.restartCount!;
      await sim.runUntil(() => pod().status!.containerStatuses![0]!.restartCount! > before);
      await sim.runUntil(() => pod().status!.containerStatuses![0]!.state?.waiting?.reason === 'CrashLoopBackOff');
      restarts.push(pod().status!.containerStatuses![0]!.restartCount!);
      expect(deriveReplicaState(observePod(pod()))).toMatchObject({ state: 'errored', reason: 'CrashLoopBackOff', container: 'app' });
    }
    expect(restarts).toEqual([2, 3, 4, 5]);
    expect(pod().status!.containerStatuses![0]!.state?.waiting?.message).toMatch(/^back-off 32s /);
  });

  it('image-pull-failure: provisioning with ErrImagePull, then errored with ImagePullBackOff, pod still Pending', async () => {
    const { pod, states } = await firstPodUntil('image-pull-failure', 'errored(ImagePullBackOff)');
    expect(states()).toEqual([
      'submitted',
      'provisioning',
      'provisioning(ContainerCreating)',
      'provisioning(ErrImagePull)',
      'errored(ImagePullBackOff)',
    ]);
    expect(pod().status?.phase).toBe('Pending');
    expect(pod().status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(/^Back-off pulling image "registry\.example\.com/);
    expect(pod().status?.containerStatuses?.[0]?.imageID).toBe('');
  });

  it('image-pull-failure keeps retrying the pull, alternating ErrImagePull and ImagePullBackOff', async () => {
    const { sim, tracker, name } = await firstPodUntil('image-pull-failure', 'errored(ImagePullBackOff)');
    await sim.runUntil(() => tracker.statesOf(name).filter((s) => s === 'errored(ImagePullBackOff)').length === 2);
    expectSubsequence(tracker.statesOf(name), ['provisioning(ErrImagePull)', 'errored(ImagePullBackOff)', 'provisioning(ErrImagePull)', 'errored(ImagePullBackOff)']);
  });

  it('oom-killed: a single OOMKill that restarts is restarting with OOMKilled; the back-off of repeated ones is errored', async () => {
    const { pod, states } = await firstPodUntil('oom-killed', 'errored(CrashLoopBackOff)');
    expect(states().slice(states().indexOf('launching(ContainersNotReady)'))).toEqual([
      'launching(ContainersNotReady)',
      'restarting(OOMKilled)',
      'errored(CrashLoopBackOff)',
    ]);
    expect(pod().status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(deriveReplicaState(observePod(pod())).message).toMatch(/last exit: OOMKilled \(exit code 137\)$/);
  });

  it('never-ready: the container runs but stays not ready, launching for as long as anyone waits', async () => {
    const { sim, pod, states } = await firstPodUntil('never-ready', 'launching(ContainersNotReady)');
    await sim.advance(60 * 60_000);
    expect(sim.timers.pending()).toBe(0);
    expect(states().at(-1)).toBe('launching(ContainersNotReady)');
    expect(pod().status?.containerStatuses?.[0]).toMatchObject({ ready: false, restartCount: 0, state: { running: expect.anything() } });
  });

  it('slow-start: ready only after the slow-start time (or the fault duration)', async () => {
    for (const [fault, readyAfter] of [['slow-start', T.slowStartMs], ['slow-start:45s', 45_000]] as const) {
      const { sim, tracker, name } = await firstPodUntil(fault, 'launching(ContainersNotReady)');
      await sim.advance(readyAfter - 1);
      expect(tracker.statesOf(name).at(-1)).toBe('launching(ContainersNotReady)');
      await sim.advance(1);
      expect(tracker.statesOf(name).at(-1)).toBe('running');
    }
  });

  it('evicted: a ready pod is evicted (Failed, Evicted, DisruptionTarget), which is interrupted, and a replacement comes up', async () => {
    const { sim, tracker, pod, states, name } = await firstPodUntil('evicted:5s', 'interrupted(Evicted)');
    expectSubsequence(states(), ['running', 'interrupted(Evicted)']);
    expect(pod().status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(pod().status?.message).toMatch(/^The node was low on resource: memory/);
    expect(pod().status?.conditions).toContainEqual(
      expect.objectContaining({ type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet' }),
    );
    expect(pod().status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(137);
    const replacement = tracker.podNames().find((n) => n !== name);
    expect(replacement, 'a replacement pod was created at once').toBeDefined();
    await sim.advance(T.failedPodGcMs);
    expect(tracker.pods.has(name)).toBe(false);
  });

  it('restart-after-ready: the container dies once, restarts (restarting), and is ready again', async () => {
    const { sim, tracker, pod, name } = await firstPodUntil('restart-after-ready:1s', 'restarting(Error)');
    await sim.runUntil(() => tracker.statesOf(name).at(-1) === 'running');
    expectSubsequence(tracker.statesOf(name), ['running', 'restarting(Error)', 'running']);
    expect(pod().status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 1 });
    await sim.advance(60 * 60_000);
    expect(tracker.statesOf(name).at(-1)).toBe('running');
  });

  it('crash-loop-after-ready: the container dies after serving, then crash-loops (errored)', async () => {
    const { states } = await firstPodUntil('crash-loop-after-ready', 'errored(CrashLoopBackOff)');
    expectSubsequence(states(), ['running', 'restarting(Error)', 'errored(CrashLoopBackOff)']);
  });

  it('unschedulable: the pod stays Pending with PodScheduled False, submitted with Unschedulable', async () => {
    const { sim, pod, states } = await firstPodUntil('unschedulable', 'submitted(Unschedulable)');
    await sim.advance(60 * 60_000);
    expect(states()).toEqual(['submitted', 'submitted(Unschedulable)']);
    expect(pod().spec?.nodeName).toBeUndefined();
    expect(pod().status?.conditions).toEqual([expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' })]);
  });

  it('shows an unknown SIMULATE_FAULT value as CreateContainerConfigError naming the valid values', async () => {
    const { pod } = await firstPodUntil('explode', 'errored(CreateContainerConfigError)');
    expect(pod().status?.containerStatuses?.[0]?.state?.waiting?.message).toContain('crash-loop');
  });

  it('applies a fault to the container whose environment names it, leaving the others healthy', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({
      containers: [
        primaryContainer(),
        primaryContainer({ name: 'sidecar', primary: false, port: undefined, env: [{ name: 'SIMULATE_FAULT', value: 'crash-loop' }] }),
      ],
    });
    const tracker = await sim.applyTracked(spec);
    const name = tracker.podNames()[0]!;
    await sim.runUntil(() => tracker.statesOf(name).includes('errored(CrashLoopBackOff)'));
    const statuses = tracker.pods.get(name)!.status!.containerStatuses!;
    expect(statuses.find((s) => s.name === 'app')?.ready).toBe(true);
    expect(deriveReplicaState(observePod(tracker.pods.get(name)!))).toMatchObject({ container: 'sidecar' });
  });

  it('injects a fault per proton into the pods it creates from then on', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec();
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 1);
    const healthy = tracker.podNames()[0]!;
    sim.cluster.injectFault(spec.protonId, 'crash-loop');
    await sim.runtime.scaleProton(spec.protonId, 2);
    await sim.cluster.settled();
    const faulty = tracker.podNames().find((n) => n !== healthy)!;
    await sim.runUntil(() => tracker.statesOf(faulty).includes('errored(CrashLoopBackOff)'));
    expect(tracker.statesOf(healthy).at(-1)).toBe('running');
    expect(() => sim.cluster.injectFault(spec.protonId, 'nonsense')).toThrow(/not a simulated fault/);
  });

  it('evicts a chosen pod and kills a chosen container on demand', async () => {
    const sim = await simulatedCluster();
    const spec = protonSpec({ replicas: 2 });
    const tracker = await sim.applyTracked(spec);
    await sim.runUntil(() => tracker.serving().length === 2);
    const [a, b] = tracker.podNames() as [string, string];
    sim.cluster.evictPod(a);
    sim.cluster.killContainer(b);
    await sim.cluster.settled();
    expect(tracker.statesOf(a).at(-1)).toBe('interrupted(Evicted)');
    await sim.runUntil(() => tracker.statesOf(b).at(-1) === 'running' && tracker.serving().length === 2);
    expectSubsequence(tracker.statesOf(b), ['running', 'restarting(Error)', 'running']);
  });

  it('parses fault names with optional durations and rejects anything else', () => {
    expect(parseFault('crash-loop')).toEqual({ ok: true, fault: { name: 'crash-loop' } });
    expect(parseFault(' Evicted:2m ')).toEqual({ ok: true, fault: { name: 'evicted', afterMs: 120_000 } });
    expect(parseFault('slow-start:1.5s')).toEqual({ ok: true, fault: { name: 'slow-start', afterMs: 1500 } });
    expect(parseFault('slow-start:500ms')).toEqual({ ok: true, fault: { name: 'slow-start', afterMs: 500 } });
    expect(parseFault('slow-start:soon')).toMatchObject({ ok: false });
    expect(parseFault('crash-loop:1s:2s')).toMatchObject({ ok: false });
    expect(parseFault('melt')).toMatchObject({ ok: false, message: expect.stringContaining(SIMULATED_FAULTS.join(', ')) });
  });
});
