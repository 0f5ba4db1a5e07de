import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { observePod } from '../../src/domain/pod-observation.js';
import type { ReplicaStatus } from '../../src/domain/proton-status.js';
import type { ReplicaContext, ReplicaState } from '../../src/domain/replica-state.js';
import { deriveReplicaState, deriveReplicaStateOfPod } from '../../src/domain/replica-state.js';
import type { PodFixture } from '../fixtures/pods/index.js';
import { loadPod, POD_FIXTURES, podWith } from '../fixtures/pods/index.js';

interface Expected {
  readonly state: ReplicaStatus;
  readonly reason?: string;
  readonly message?: RegExp;
  readonly container?: string;
}

/**
 * Every pod fixture and the replica state it shows on its own (a proton with no lifecycle
 * context: not a candidate, not an old active, not updating in place). One row per fixture, so
 * a fixture added without its expected state fails the type-check. This reads as SPEC.md
 * section 2's predicate table, applied to real kubelet and scheduler output.
 */
const BY_FIXTURE: Record<PodFixture, Expected> = {
  // Pending, no node assigned: submitted, with the scheduler's reason
  'created-no-status': { state: 'submitted', message: /waiting for a node/ },
  'pending-unscheduled': { state: 'submitted', reason: 'Unschedulable', message: /Insufficient cpu/ },
  'pending-nominated': { state: 'submitted', reason: 'Unschedulable', message: /Insufficient memory/ },
  // Pending, node assigned: provisioning
  'scheduled-no-status-yet': { state: 'provisioning', message: /scheduled on worker-2/ },
  'pending-container-creating': { state: 'provisioning', reason: 'ContainerCreating', container: 'app' },
  'init-container-running': { state: 'provisioning', reason: 'ContainersNotInitialized', message: /\[migrate\]/ },
  'sidecar-starting': { state: 'provisioning', reason: 'ContainersNotInitialized', message: /\[proxy\]/ },
  'err-image-pull': { state: 'provisioning', reason: 'ErrImagePull', message: /not found/, container: 'app' },
  // Running, not all containers ready: launching
  'running-not-ready': { state: 'launching', reason: 'ContainersNotReady', message: /\[app\]/ },
  'startup-probe-pending': { state: 'launching', reason: 'ContainersNotReady', message: /\[app\]/ },
  'sidecar-not-ready': { state: 'launching', reason: 'ContainersNotReady', message: /\[proxy\]/ },
  'readiness-gate-pending': { state: 'launching', reason: 'ReadinessGatesNotReady', message: /readiness gate "target-health/ },
  // Running, all containers ready: running
  'running-ready': { state: 'running' },
  'ready-after-restart': { state: 'running' },
  'init-completed-ready': { state: 'running' },
  'sidecar-ready': { state: 'running' },
  'readiness-gate-ready': { state: 'running' },
  // Restarted or about to be, and not ready: restarting, reason = the termination reason
  'first-crash': { state: 'restarting', reason: 'Error', message: /container app exited with code 1 and is being restarted/, container: 'app' },
  'restarted-not-ready': { state: 'restarting', reason: 'Error', message: /restarted 1 time, last exit code 137/, container: 'app' },
  'oom-killed-before-restart': { state: 'restarting', reason: 'OOMKilled', message: /exited with code 137 and is being restarted/, container: 'app' },
  'oom-killed': { state: 'restarting', reason: 'OOMKilled', message: /restarted 1 time, last exit code 137/, container: 'app' },
  'completed-before-restart': { state: 'restarting', reason: 'Completed', message: /exited with code 0/, container: 'app' },
  'crashed-again-before-restart': { state: 'restarting', reason: 'Error', message: /exited with code 1 and is being restarted/, container: 'app' },
  'restarted-not-started': { state: 'restarting', reason: 'Error', message: /restarted 3 times, last exit code 137/, container: 'app' },
  'second-container-restarting': { state: 'restarting', reason: 'Error', message: /log-shipper restarted 1 time.*output unreachable/, container: 'log-shipper' },
  'sidecar-restarting': { state: 'restarting', reason: 'Error', message: /sidecar container proxy restarted 1 time, last exit code 2: upstream config invalid/, container: 'proxy' },
  'init-container-failed': { state: 'restarting', reason: 'Error', message: /init container migrate exited with code 1 and is being restarted: migration 0042 failed/, container: 'migrate' },
  'init-container-restarting': { state: 'restarting', reason: 'Error', message: /init container migrate restarted 1 time, last exit code 1/, container: 'migrate' },
  // Errored: fatal waiting reasons on the first event that shows them, Failed, terminated for good
  'image-pull-back-off': { state: 'errored', reason: 'ImagePullBackOff', message: /Back-off pulling image/, container: 'app' },
  'init-image-pull-back-off': { state: 'errored', reason: 'ImagePullBackOff', message: /sentiment-migrate/, container: 'migrate' },
  'invalid-image-name': { state: 'errored', reason: 'InvalidImageName', message: /must be lowercase/ },
  'err-image-never-pull': { state: 'errored', reason: 'ErrImageNeverPull', message: /pull policy of Never/, container: 'app' },
  'create-container-config-error': { state: 'errored', reason: 'CreateContainerConfigError', message: /secret "sentiment-api-credentials" not found/ },
  'create-container-error': { state: 'errored', reason: 'CreateContainerError', message: /name is reserved/, container: 'app' },
  'run-container-error': { state: 'errored', reason: 'RunContainerError', message: /no such file or directory/, container: 'app' },
  'crash-loop-back-off': { state: 'errored', reason: 'CrashLoopBackOff', message: /restarting failed container=app/, container: 'app' },
  'crash-loop-back-off-oom': { state: 'errored', reason: 'CrashLoopBackOff', message: /last exit: OOMKilled \(exit code 137\)/, container: 'app' },
  'init-crash-loop-back-off': { state: 'errored', reason: 'CrashLoopBackOff', message: /container=migrate.*last exit: Error \(exit code 1\)/, container: 'migrate' },
  'sidecar-crash-loop-back-off': { state: 'errored', reason: 'CrashLoopBackOff', message: /container=proxy/, container: 'proxy' },
  'container-exited-no-restart': { state: 'errored', reason: 'Error', message: /exit code 2: config error/, container: 'app' },
  'phase-failed': { state: 'errored', reason: 'OutOfcpu', message: /Pod was rejected/ },
  'phase-succeeded': { state: 'errored', reason: 'ServiceExited', message: /exit code 0; a service must keep running/ },
  'failed-then-deleted': { state: 'errored', reason: 'UnexpectedAdmissionError', message: /no healthy devices/ },
  // Interrupted: the pod's own status.reason when it has one, else the DisruptionTarget reason
  'evicted': { state: 'interrupted', reason: 'Evicted', message: /low on resource: memory/ },
  'node-shutdown': { state: 'interrupted', reason: 'Terminated', message: /imminent node shutdown/ },
  'node-shutdown-rejected': { state: 'interrupted', reason: 'NodeShutdown', message: /node is shutting down/ },
  'preempting-critical': { state: 'interrupted', reason: 'Preempting', message: /admit critical pod/ },
  'preempted': { state: 'interrupted', reason: 'PreemptionByScheduler', message: /higher priority pod/ },
  'evicted-by-api': { state: 'interrupted', reason: 'EvictionByEvictionAPI', message: /Eviction API/ },
  'taint-manager-deletion': { state: 'interrupted', reason: 'DeletionByTaintManager', message: /NoExecute taint/ },
  'pod-gc-orphaned': { state: 'interrupted', reason: 'DeletionByPodGC', message: /node no longer exists/ },
  'node-lost': { state: 'interrupted', reason: 'NodeLost', message: /unresponsive/ },
  // Deletion timestamp: stopping (a graceful stop that ends in Failed or Succeeded included)
  'terminating': { state: 'stopping', message: /being deleted/ },
  'terminating-failed': { state: 'stopping', message: /being deleted/ },
  'terminating-succeeded': { state: 'stopping', message: /being deleted/ },
  // Unknown
  'phase-unknown': { state: 'unknown' },
  'node-not-ready': { state: 'unknown', reason: 'NodeNotReady', message: /node worker-2 stopped reporting/ },
};

interface Row extends Expected {
  readonly name: string;
  readonly pod: PodFixture | (() => V1Pod);
  readonly ctx: ReplicaContext;
}

// The proton's context (from persisted lifecycle state) changes some answers, and only those.
const WITH_CONTEXT: readonly Row[] = [
  { name: 'a new pod of an in-place update waiting for a node is initializing', pod: 'pending-unscheduled', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'Unschedulable' },
  { name: 'a new pod of an in-place update creating its containers is initializing', pod: 'pending-container-creating', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ContainerCreating' },
  { name: 'a new pod of an in-place update pulling its image with ErrImagePull is initializing', pod: 'err-image-pull', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ErrImagePull' },
  { name: 'a running pod whose container is not ready is initializing during an in-place update', pod: 'running-not-ready', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ContainersNotReady' },
  { name: 'a crash during an in-place update is restarting, not initializing', pod: 'restarted-not-ready', ctx: { updatingInPlace: true }, state: 'restarting', reason: 'Error' },
  { name: 'ImagePullBackOff during an in-place update is still errored', pod: 'image-pull-back-off', ctx: { updatingInPlace: true }, state: 'errored', reason: 'ImagePullBackOff' },
  { name: 'a ready pod of a candidate in its warm-up window is warming', pod: 'running-ready', ctx: { warmingUp: true }, state: 'warming' },
  { name: 'a restarting pod of a warming candidate is restarting', pod: 'oom-killed', ctx: { warmingUp: true }, state: 'restarting', reason: 'OOMKilled' },
  { name: 'a ready pod of an old active taken out of traffic is draining', pod: 'running-ready', ctx: { draining: true }, state: 'draining' },
  { name: 'a pod with a deletion timestamp of an old active in a replace is draining', pod: 'terminating', ctx: { draining: true }, state: 'draining' },
  { name: 'a preempted pod of an old active is interrupted, not draining', pod: 'preempted', ctx: { draining: true }, state: 'interrupted', reason: 'PreemptionByScheduler' },
  { name: 'a failed-then-deleted pod of an old active stays errored', pod: 'failed-then-deleted', ctx: { draining: true }, state: 'errored', reason: 'UnexpectedAdmissionError' },
  // Extra shapes built from the fixtures
  { name: 'CrashLoopBackOff is errored even while a stale Ready condition says True', pod: crashLoopMarkedReady, ctx: {}, state: 'errored', reason: 'CrashLoopBackOff' },
  { name: 'a pod whose container exited non-zero before its deletion was requested stays errored', pod: failedBeforeDeletionRequest, ctx: {}, state: 'errored', reason: 'Error', message: /exit code 143/ },
  { name: 'a DisruptionTarget condition without a pod reason gives the condition\'s reason', pod: shutdownWithoutPodReason, ctx: {}, state: 'interrupted', reason: 'TerminationByKubelet' },
];

describe('deriveReplicaState', () => {
  it.each(Object.entries(BY_FIXTURE))('%s', (fixture, row) => {
    expectState(deriveReplicaState(observePod(loadPod(fixture as PodFixture))), row);
  });

  it.each(WITH_CONTEXT)('$name', (row) => {
    const pod = typeof row.pod === 'string' ? loadPod(row.pod) : row.pod();
    expectState(deriveReplicaState(observePod(pod), row.ctx), row);
  });

  it('covers at least 40 real pod shapes, one row each', () => {
    expect(Object.keys(BY_FIXTURE).sort()).toEqual([...POD_FIXTURES].sort());
    expect(POD_FIXTURES.length).toBeGreaterThanOrEqual(40);
  });

  it('answers from the pod and the context alone: the same pod gets the same state whatever was derived before', () => {
    // A controller that just started (or took over) has seen none of these pods; one that ran
    // for hours has seen all of them, in another order. Both must agree.
    const fresh = POD_FIXTURES.map((f) => deriveReplicaStateOfPod(loadPod(f)));
    const seasoned = [...POD_FIXTURES].reverse().map((f) => deriveReplicaStateOfPod(loadPod(f))).reverse();
    expect(seasoned).toEqual(fresh);
    expect(deriveReplicaStateOfPod(loadPod('restarted-not-ready'))).toEqual(fresh[POD_FIXTURES.indexOf('restarted-not-ready')]);
  });

  it('reports a waiting reason of an init container', () => {
    const pod = podWith('init-container-running', (p) => {
      const [status] = p.status?.initContainerStatuses ?? [];
      if (status) status.state = { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "migrate"' } };
    });
    expect(deriveReplicaState(observePod(pod))).toEqual({
      state: 'errored',
      reason: 'ImagePullBackOff',
      message: 'Back-off pulling image "migrate"',
      container: 'migrate',
    });
  });

  it('prefers the primary container\'s reason when several containers fail', () => {
    const pod = podWith('container-exited-no-restart', (p) => {
      const statuses = p.status?.containerStatuses ?? [];
      for (const s of statuses) s.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${s.name}` } };
    });
    expect(deriveReplicaState(observePod(pod, { primaryContainer: 'log-shipper' })).container).toBe('log-shipper');
    expect(deriveReplicaState(observePod(pod, { primaryContainer: 'app' })).container).toBe('app');
  });

  it('is errored when a non-primary regular container crash-loops while the primary is ready', () => {
    const pod = podWith('container-exited-no-restart', (p) => {
      const [, shipper] = p.status?.containerStatuses ?? [];
      if (shipper) {
        shipper.ready = false;
        shipper.state = { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=log-shipper' } };
      }
      const [app] = p.status?.containerStatuses ?? [];
      if (app) {
        app.ready = true;
        app.state = { running: { startedAt: new Date('2025-03-14T09:27:04Z') } };
      }
    });
    expect(deriveReplicaState(observePod(pod))).toMatchObject({ state: 'errored', container: 'log-shipper' });
  });
});

function expectState(result: ReplicaState, row: Expected): void {
  expect(result.state).toBe(row.state);
  if (row.reason !== undefined) expect(result.reason).toBe(row.reason);
  if (row.message !== undefined) expect(result.message).toMatch(row.message);
  if (row.container !== undefined) expect(result.container).toBe(row.container);
}

function failedBeforeDeletionRequest(): V1Pod {
  return podWith('terminating-failed', (p) => {
    const [app] = p.status?.containerStatuses ?? [];
    // Deletion requested at 12:00:00 (deadline 12:00:30 minus 30 s); the exit came first.
    if (app?.state?.terminated) app.state.terminated.finishedAt = new Date('2025-03-14T11:59:58Z');
  });
}

function shutdownWithoutPodReason(): V1Pod {
  return podWith('node-shutdown', (p) => {
    if (p.status) {
      delete p.status.reason;
      delete p.status.message;
    }
  });
}

function crashLoopMarkedReady(): V1Pod {
  return podWith('crash-loop-back-off', (p) => {
    for (const c of p.status?.conditions ?? []) {
      if (c.type === 'Ready' || c.type === 'ContainersReady') {
        c.status = 'True';
        delete c.reason;
        delete c.message;
      }
    }
  });
}
