import { readdirSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { observePod } from '../../src/domain/pod-observation.js';
import { loadPod, loadRawPod, POD_FIXTURES, podWith } from '../fixtures/pods/index.js';

describe('pod fixtures', () => {
  it('lists every JSON file of the fixture folder and nothing else', () => {
    const files = readdirSync(new URL('../fixtures/pods/', import.meta.url))
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
    expect(files).toEqual([...POD_FIXTURES].sort());
  });

  it.each(POD_FIXTURES)('loads %s as a v1 Pod with parsed dates', (name) => {
    const pod = loadPod(name);
    expect(pod.kind).toBe('Pod');
    expect(pod.apiVersion).toBe('v1');
    expect(pod.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(pod.spec?.containers.length).toBeGreaterThan(0);
  });
});

describe('observePod', () => {
  it('maps a running, ready pod to its node, phase, primary container and readiness', () => {
    const obs = observePod(loadPod('running-ready'));
    expect(obs).toMatchObject({
      name: 'wl-7f3a9c2e-active-6d8f9b7c5d-d1g5v',
      namespace: 'workloads',
      phase: 'Running',
      nodeName: 'worker-2',
      primaryContainer: 'app',
      primaryReady: true,
      containersReady: true,
      readyCondition: true,
      servingReady: true,
      restartCount: 0,
    });
    expect(obs.creationTimestamp).toEqual(new Date('2025-03-14T09:26:53Z'));
    expect(obs.containers).toEqual([
      expect.objectContaining({ name: 'app', kind: 'app', primary: true, state: 'running', ready: true }),
    ]);
    expect(obs.deletionTimestamp).toBeUndefined();
    expect(obs.disruption).toBeUndefined();
  });

  it('accepts raw API JSON with string dates and gives the same observation', () => {
    for (const name of POD_FIXTURES) {
      // The raw JSON is what an HTTP client without client-node's deserializer would hand over.
      const raw = loadRawPod(name) as V1Pod;
      expect(observePod(raw), name).toEqual(observePod(loadPod(name)));
    }
  });

  it('tells a pod without a node from one scheduled on a node', () => {
    expect(observePod(loadPod('pending-unscheduled')).nodeName).toBeUndefined();
    expect(observePod(loadPod('pending-container-creating')).nodeName).toBe('worker-2');
  });

  it('classifies init containers and sidecars (init containers with restartPolicy Always)', () => {
    const init = observePod(loadPod('init-container-running'));
    expect(init.initContainers).toEqual([
      expect.objectContaining({ name: 'migrate', kind: 'init', state: 'running', primary: false }),
    ]);
    const sidecar = observePod(loadPod('sidecar-not-ready'));
    expect(sidecar.initContainers).toEqual([
      expect.objectContaining({ name: 'proxy', kind: 'sidecar', state: 'running', ready: false }),
    ]);
  });

  it('does not count a pod as serving while a sidecar is not ready, even with the primary ready', () => {
    const obs = observePod(loadPod('sidecar-not-ready'));
    expect(obs.primaryReady).toBe(true);
    expect(obs.containersReady).toBe(false);
    expect(obs.servingReady).toBe(false);
  });

  it('carries the waiting reason, the last termination and the restart count of a crash-looping container', () => {
    const [app] = observePod(loadPod('crash-loop-back-off')).containers;
    expect(app).toMatchObject({
      state: 'waiting',
      reason: 'CrashLoopBackOff',
      restartCount: 6,
      lastTermination: { reason: 'Error', exitCode: 1, finishedAt: new Date('2025-03-14T09:36:03Z') },
    });
    expect(app?.message).toMatch(/^back-off 5m0s restarting failed container=app/);
  });

  it('carries the exit code of a terminated container', () => {
    const [app] = observePod(loadPod('container-exited-no-restart')).containers;
    expect(app).toMatchObject({ state: 'terminated', reason: 'Error', exitCode: 2, restartsOnExit: false });
  });

  it('reports an eviction with the pod reason rather than the condition reason', () => {
    const obs = observePod(loadPod('evicted'));
    expect(obs.disruption?.reason).toBe('Evicted');
    expect(obs.disruption?.message).toMatch(/^The node was low on resource: memory/);
  });

  it('reports a preemption from the DisruptionTarget condition, with the deletion timestamp', () => {
    const obs = observePod(loadPod('preempted'));
    expect(obs.disruption).toEqual({
      reason: 'PreemptionByScheduler',
      message: 'Kubernetes default scheduler: preempting to accommodate a higher priority pod',
    });
    expect(obs.deletionTimestamp).toEqual(new Date('2025-03-14T11:20:35Z'));
  });

  it('ignores a DisruptionTarget condition that is not True', () => {
    const pod = podWith('running-ready', (p) => {
      p.status?.conditions?.push({ type: 'DisruptionTarget', status: 'False', reason: 'PreemptionByScheduler' });
    });
    expect(observePod(pod).disruption).toBeUndefined();
  });

  it('lets the caller name the primary container', () => {
    const obs = observePod(loadPod('container-exited-no-restart'), { primaryContainer: 'log-shipper' });
    expect(obs.primaryContainer).toBe('log-shipper');
    expect(obs.primaryReady).toBe(true);
    expect(obs.servingReady).toBe(false);
  });

  it('falls back to the first regular container when the pod names no default container', () => {
    const pod = podWith('container-exited-no-restart', (p) => {
      if (p.metadata) p.metadata.annotations = {};
    });
    expect(observePod(pod).primaryContainer).toBe('app');
  });

  it('treats a pod without status as Pending with unreported containers', () => {
    const pod: V1Pod = { metadata: { name: 'fresh' }, spec: { containers: [{ name: 'app', image: 'nginx' }] } };
    const obs = observePod(pod);
    expect(obs.phase).toBe('Pending');
    expect(obs.containers[0]).toMatchObject({ state: 'unreported', ready: false, restartCount: 0 });
    expect(obs.servingReady).toBe(false);
  });

  it('maps a phase it does not know to Unknown', () => {
    const pod = podWith('running-ready', (p) => {
      if (p.status) p.status.phase = 'Exploded';
    });
    expect(observePod(pod).phase).toBe('Unknown');
  });

  it('tells when a deletion was requested: the deletion timestamp minus the grace period', () => {
    const obs = observePod(loadPod('terminating-failed'));
    expect(obs.deletionTimestamp).toEqual(new Date('2025-03-14T12:00:30Z'));
    expect(obs.deletionRequestedAt).toEqual(new Date('2025-03-14T12:00:00Z'));
    expect(observePod(loadPod('running-ready')).deletionRequestedAt).toBeUndefined();
  });

  it('lists the readiness gates not met yet and reads the kubelet\'s ContainersReady apart from Ready', () => {
    const pending = observePod(loadPod('readiness-gate-pending'));
    expect(pending.pendingReadinessGates).toEqual(['target-health.elbv2.k8s.aws/k8s-workload-sentimen-3f1a9c2e7b']);
    expect(pending).toMatchObject({ containersReadyCondition: true, readyCondition: false, servingReady: false });
    expect(observePod(loadPod('readiness-gate-ready')).pendingReadinessGates).toEqual([]);
    expect(observePod(loadPod('readiness-gate-ready')).servingReady).toBe(true);
  });

  it('names a disruption by the pod\'s own reason, else by its DisruptionTarget condition', () => {
    expect(observePod(loadPod('node-shutdown')).disruption).toEqual({
      reason: 'Terminated',
      message: 'Pod was terminated in response to imminent node shutdown.',
    });
    expect(observePod(loadPod('taint-manager-deletion')).disruption?.reason).toBe('DeletionByTaintManager');
    expect(observePod(loadPod('node-shutdown-rejected')).disruption?.reason).toBe('NodeShutdown');
    expect(observePod(loadPod('phase-failed')).disruption).toBeUndefined();
  });

  it('observes native sidecars as sidecars, counted in readiness and restarts', () => {
    const obs = observePod(loadPod('sidecar-restarting'));
    expect(obs.initContainers).toEqual([expect.objectContaining({ name: 'proxy', kind: 'sidecar', restartsOnExit: true, restartCount: 1 })]);
    expect(obs).toMatchObject({ containersReady: false, restartCount: 1 });
  });
});
