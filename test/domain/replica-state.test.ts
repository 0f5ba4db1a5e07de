import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { observePod } from '../../src/domain/pod-observation.js';
import type { ReplicaStatus } from '../../src/domain/proton-status.js';
import type { ReplicaContext } from '../../src/domain/replica-state.js';
import { deriveReplicaState } from '../../src/domain/replica-state.js';
import type { PodFixture } from '../fixtures/pods/index.js';
import { loadPod, podWith } from '../fixtures/pods/index.js';

interface Row {
  readonly name: string;
  readonly pod: PodFixture | (() => V1Pod);
  readonly ctx?: ReplicaContext;
  readonly state: ReplicaStatus;
  readonly reason?: string;
  readonly message?: RegExp;
  readonly container?: string;
}

// One row per predicate of SPEC.md section 2 (and per context that changes its answer).
const ROWS: readonly Row[] = [
  // Pending, no node assigned
  { name: 'a pending pod with no node is submitted, with the scheduler\'s reason', pod: 'pending-unscheduled', state: 'submitted', reason: 'Unschedulable', message: /Insufficient cpu/ },
  // Pending, node assigned
  { name: 'a pending pod on a node creating its containers is provisioning', pod: 'pending-container-creating', state: 'provisioning', reason: 'ContainerCreating', container: 'app' },
  { name: 'a pending pod running an init container is provisioning', pod: 'init-container-running', state: 'provisioning', reason: 'ContainersNotInitialized', message: /\[migrate\]/ },
  { name: 'ErrImagePull alone keeps the replica provisioning with the reason shown', pod: 'err-image-pull', state: 'provisioning', reason: 'ErrImagePull', message: /not found/, container: 'app' },
  { name: 'a new pod of an in-place update waiting for a node is initializing', pod: 'pending-unscheduled', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'Unschedulable' },
  { name: 'a new pod of an in-place update creating its containers is initializing', pod: 'pending-container-creating', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ContainerCreating' },
  { name: 'a new pod of an in-place update pulling its image with ErrImagePull is initializing', pod: 'err-image-pull', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ErrImagePull' },
  { name: 'ImagePullBackOff during an in-place update is still errored', pod: 'image-pull-back-off', ctx: { updatingInPlace: true }, state: 'errored', reason: 'ImagePullBackOff' },
  // Running, not all containers ready
  { name: 'a running pod whose container is not ready is launching', pod: 'running-not-ready', state: 'launching', reason: 'ContainersNotReady', message: /\[app\]/ },
  { name: 'a running pod whose container is not ready is initializing during an in-place update', pod: 'running-not-ready', ctx: { updatingInPlace: true }, state: 'initializing', reason: 'ContainersNotReady' },
  { name: 'a running pod whose sidecar is not ready is launching', pod: 'sidecar-not-ready', state: 'launching', reason: 'ContainersNotReady', message: /\[proxy\]/ },
  { name: 'a first crash that the kubelet will restart is launching, with the exit shown', pod: 'first-crash', state: 'launching', reason: 'Error', message: /exit code 1/, container: 'app' },
  // Running, all containers ready
  { name: 'a running pod with all containers ready is running', pod: 'running-ready', state: 'running' },
  { name: 'a ready pod of a candidate in its warm-up window is warming', pod: 'running-ready', ctx: { warmingUp: true }, state: 'warming' },
  { name: 'a ready pod of an old active taken out of traffic is draining', pod: 'running-ready', ctx: { draining: true }, state: 'draining' },
  { name: 'a pod ready again after restarts is running', pod: 'ready-after-restart', ctx: { wasReady: true, previousRestartCount: 1 }, state: 'running' },
  // Errored
  { name: 'ImagePullBackOff is errored on the first pod event that shows it', pod: 'image-pull-back-off', state: 'errored', reason: 'ImagePullBackOff', message: /Back-off pulling image/, container: 'app' },
  { name: 'InvalidImageName is errored', pod: 'invalid-image-name', state: 'errored', reason: 'InvalidImageName', message: /must be lowercase/ },
  { name: 'CreateContainerConfigError is errored', pod: 'create-container-config-error', state: 'errored', reason: 'CreateContainerConfigError', message: /secret "sentiment-api-credentials" not found/ },
  { name: 'CreateContainerError is errored', pod: () => waitingWith('CreateContainerError', 'failed to reserve container name "app"'), state: 'errored', reason: 'CreateContainerError' },
  { name: 'CrashLoopBackOff is errored', pod: 'crash-loop-back-off', state: 'errored', reason: 'CrashLoopBackOff', message: /restarting failed container=app/, container: 'app' },
  { name: 'CrashLoopBackOff of a replica that was ready is errored, not restarting', pod: 'crash-loop-back-off', ctx: { wasReady: true, previousRestartCount: 5 }, state: 'errored', reason: 'CrashLoopBackOff' },
  { name: 'CrashLoopBackOff is errored even while a stale Ready condition says True', pod: crashLoopMarkedReady, state: 'errored', reason: 'CrashLoopBackOff' },
  { name: 'an OOMKilled container that restarted is errored', pod: 'oom-killed', state: 'errored', reason: 'OOMKilled', message: /OOMKilled \(exit code 137\) and restarted 1 time/, container: 'app' },
  { name: 'a container terminated non-zero that will not restart is errored', pod: 'container-exited-no-restart', state: 'errored', reason: 'Error', message: /exit code 2: config error/, container: 'app' },
  { name: 'phase Failed is errored with the pod reason', pod: 'phase-failed', state: 'errored', reason: 'OutOfcpu', message: /Pod was rejected/ },
  { name: 'phase Succeeded is errored for a service', pod: 'phase-succeeded', state: 'errored', reason: 'ServiceExited', message: /exit code 0; a service must keep running/ },
  // Restarting
  { name: 'a replica that was ready and whose container just restarted is restarting', pod: 'restarted-not-ready', ctx: { wasReady: true, previousRestartCount: 0 }, state: 'restarting', reason: 'Error', message: /restarted 1 time, last exit code 137/ },
  { name: 'a restart on record counts when the previous restart count is unknown', pod: 'restarted-not-ready', ctx: { wasReady: true }, state: 'restarting', reason: 'Error' },
  { name: 'a not-ready replica with no new restart is launching, not restarting', pod: 'restarted-not-ready', ctx: { wasReady: true, previousRestartCount: 1 }, state: 'launching' },
  { name: 'a restarted replica that was never ready is launching', pod: 'restarted-not-ready', ctx: { wasReady: false }, state: 'launching' },
  // Interrupted
  { name: 'an evicted pod is interrupted', pod: 'evicted', state: 'interrupted', reason: 'Evicted', message: /low on resource: memory/ },
  { name: 'a preempted pod is interrupted even while it is being deleted', pod: 'preempted', state: 'interrupted', reason: 'PreemptionByScheduler', message: /higher priority pod/ },
  { name: 'a pod on a lost node is interrupted', pod: 'node-lost', state: 'interrupted', reason: 'NodeLost', message: /unresponsive/ },
  // Deletion timestamp
  { name: 'a pod with a deletion timestamp is stopping', pod: 'terminating', state: 'stopping' },
  { name: 'a pod with a deletion timestamp of an old active in a replace is draining', pod: 'terminating', ctx: { draining: true }, state: 'draining' },
  // Unknown
  { name: 'phase Unknown is unknown', pod: 'phase-unknown', state: 'unknown' },
];

describe('deriveReplicaState', () => {
  it.each(ROWS)('$name', (row) => {
    const pod = typeof row.pod === 'string' ? loadPod(row.pod) : row.pod();
    const result = deriveReplicaState(observePod(pod), row.ctx);
    expect(result.state).toBe(row.state);
    if (row.reason !== undefined) expect(result.reason).toBe(row.reason);
    if (row.message !== undefined) expect(result.message).toMatch(row.message);
    if (row.container !== undefined) expect(result.container).toBe(row.container);
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

function waitingWith(reason: string, message: string): V1Pod {
  return podWith('create-container-config-error', (p) => {
    const [app] = p.status?.containerStatuses ?? [];
    if (app) app.state = { waiting: { reason, message } };
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
