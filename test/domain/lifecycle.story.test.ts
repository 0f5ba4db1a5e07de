/**
 * Stories: one workload walked through its whole life, pods observed from the realistic
 * fixtures, every status asserted on the way and every refusal tried in between.
 */
import { describe, expect, it } from 'vitest';
import type {
  ObservationOutcome,
  OperationContext,
  Transition,
  TransitionResult,
  WorkloadState,
} from '../../src/domain/lifecycle.js';
import {
  cancelReplacement,
  createWorkload,
  deleteWorkload,
  expireDeadline,
  expireTtl,
  observeWorkload,
  promoteWorkload,
  replaceWorkload,
  replicaContextFor,
  restartWorkload,
  startWorkload,
  stopWorkload,
  updateWorkload,
} from '../../src/domain/lifecycle.js';
import { observePod } from '../../src/domain/pod-observation.js';
import type { ProtonStatusReport } from '../../src/domain/proton-status.js';
import { deriveProtonStatus } from '../../src/domain/proton-status.js';
import { deriveReplicaState } from '../../src/domain/replica-state.js';
import type { PodFixture } from '../fixtures/pods/index.js';
import { loadPod } from '../fixtures/pods/index.js';
import { TEST_POLICY } from '../support/policy.js';

const t0 = new Date('2025-03-14T09:00:00Z');
const REPLICAS = 2;
const at = (seconds: number): OperationContext => ({ ...TEST_POLICY, now: new Date(t0.getTime() + seconds * 1000) });

/** Derives a proton report from fixture pods, with the replica context the workload implies. */
function proton(
  state: WorkloadState,
  which: 'active' | 'candidate',
  pods: readonly PodFixture[],
): ProtonStatusReport {
  const replicaCtx = replicaContextFor(state, which);
  const replicas = pods.map((p) => deriveReplicaState(observePod(loadPod(p)), replicaCtx));
  const desiredState = which === 'active' && state.desiredState !== 'running' ? 'stopped' : 'running';
  return deriveProtonStatus(replicas, { state: desiredState, replicas: REPLICAS });
}

function ok(result: TransitionResult): Transition {
  if (!result.ok) throw new Error(`unexpected refusal: ${result.reason}`);
  return result;
}

function refused(result: TransitionResult): string {
  if (result.ok) throw new Error(`expected a refusal, got: ${result.message}`);
  return result.reason;
}

function observe(
  state: WorkloadState,
  now: OperationContext,
  pods: { active?: readonly PodFixture[]; candidate?: readonly PodFixture[]; trafficSwitched?: boolean; oldActiveRemoved?: boolean },
): ObservationOutcome {
  return observeWorkload(
    state,
    {
      ...(pods.active && { active: proton(state, 'active', pods.active) }),
      ...(pods.candidate && { candidate: proton(state, 'candidate', pods.candidate) }),
      ...(pods.trafficSwitched !== undefined && { trafficSwitched: pods.trafficSwitched }),
      ...(pods.oldActiveRemoved !== undefined && { oldActiveRemoved: pods.oldActiveRemoved }),
    },
    now,
  );
}

describe('story: a draft workload from create to promotion, stop, start and a missed deadline', () => {
  it('reports every status on the way and refuses what does not fit', () => {
    // Create on a draft: submitted, TTL 8 hours out.
    let s = ok(createWorkload({ artifact: { id: 'art-1', status: 'draft' } }, at(0))).next;
    expect(s.status).toBe('submitted');
    expect(s.expiresAt).toEqual(new Date('2025-03-14T17:00:00Z'));
    expect(refused(promoteWorkload(s, at(1)))).toBe('cannot promote: the active proton is not running (submitted)');
    expect(refused(replaceWorkload(s, { artifact: { id: 'art-2', status: 'draft' } }, at(1)))).toBe(
      'cannot replace: workload is submitted; wait until it is running',
    );

    // submitted -> provisioning -> launching -> running, from pods.
    let o = observe(s, at(2), { active: ['pending-unscheduled', 'pending-unscheduled'] });
    expect(o.next.status).toBe('submitted');
    o = observe(o.next, at(5), { active: ['pending-container-creating', 'pending-container-creating'] });
    expect(o.next.status).toBe('provisioning');
    expect(o.events).toEqual(['status submitted -> provisioning: 2 of 2 replicas: ContainerCreating']);
    o = observe(o.next, at(12), { active: ['running-not-ready', 'pending-container-creating'] });
    expect(o.next.status).toBe('provisioning');
    o = observe(o.next, at(14), { active: ['running-not-ready', 'running-not-ready'] });
    expect(o.next.status).toBe('launching');
    o = observe(o.next, at(20), { active: ['running-ready', 'running-ready'] });
    expect(o.next.status).toBe('running');
    expect(o.events).toEqual(['status launching -> running: 2 of 2 replicas running']);
    s = o.next;
    expect(ok(startWorkload(s, at(21)))).toMatchObject({ noop: true, message: 'workload is already started (running)' });

    // Update in place: running -> launching (proton initializing) -> running.
    s = ok(updateWorkload(s, at(30))).next;
    expect(s).toMatchObject({ status: 'launching', active: { status: 'initializing' }, updatingInPlace: true });
    o = observe(s, at(35), { active: ['running-not-ready', 'running-ready'] });
    expect(o.next).toMatchObject({ status: 'launching', active: { status: 'initializing' } });
    o = observe(o.next, at(45), { active: ['running-ready', 'running-ready'] });
    expect(o.next.status).toBe('running');
    expect(o.next.updatingInPlace).toBeUndefined();
    s = o.next;

    // Replace onto art-2 with a 60 s warm-up and 300 s keep-old.
    s = ok(replaceWorkload(s, { artifact: { id: 'art-2', status: 'draft' }, warmupSeconds: 60, keepOldVersionSeconds: 300 }, at(100))).next;
    expect(s.replacement?.status).toBe('submitted');
    expect(refused(replaceWorkload(s, { artifact: { id: 'art-3', status: 'draft' } }, at(101)))).toBe(
      'cannot replace: a replacement is already in progress (submitted); wait for it or cancel it',
    );
    expect(refused(promoteWorkload(s, at(101)))).toBe(
      'cannot promote: a replacement is in progress (submitted); wait for it or cancel it',
    );
    expect(refused(restartWorkload(s, at(101)))).toBe(
      'cannot restart: a replacement is in progress (submitted); wait for it or cancel it',
    );
    o = observe(s, at(105), { active: ['running-ready', 'running-ready'], candidate: ['pending-container-creating', 'pending-container-creating'] });
    expect(o.next).toMatchObject({ status: 'running', replacement: { status: 'initializing' }, candidate: { status: 'provisioning' } });
    o = observe(o.next, at(120), { active: ['running-ready', 'running-ready'], candidate: ['running-ready', 'running-ready'] });
    expect(o.next.replacement?.status).toBe('warming');
    o = observe(o.next, at(150), { active: ['running-ready', 'running-ready'], candidate: ['running-ready', 'running-ready'] });
    expect(o.next).toMatchObject({ status: 'running', replacement: { status: 'warming' }, candidate: { status: 'warming' } });
    o = observe(o.next, at(180), { active: ['running-ready', 'running-ready'], candidate: ['running-ready', 'running-ready'] });
    expect(o.next.replacement?.status).toBe('switching');
    expect(o.effects).toEqual([{ type: 'switchTraffic', to: 'candidate' }]);
    s = o.next;
    expect(refused(cancelReplacement(s, at(181)))).toBe(
      'cannot cancel: the replacement is switching traffic right now; wait for it to finish, then replace back if needed',
    );
    expect(refused(stopWorkload(s, at(181)))).toBe('cannot stop: traffic is switching to the new proton; retry in a moment');
    o = observe(s, at(182), { active: ['running-ready', 'running-ready'], candidate: ['running-ready', 'running-ready'], trafficSwitched: true });
    expect(o.next).toMatchObject({
      status: 'running',
      artifact: { id: 'art-2', status: 'draft' },
      active: { artifactId: 'art-2', status: 'running' },
      oldActive: { artifactId: 'art-1', status: 'draining' },
      replacement: { status: 'draining' },
    });
    expect(o.next.candidate).toBeUndefined();
    expect(o.effects).toEqual([]);
    o = observe(o.next, at(482), { active: ['running-ready', 'running-ready'] });
    expect(o.effects).toEqual([{ type: 'removeOldActive' }]);
    o = observe(o.next, at(490), { active: ['running-ready', 'running-ready'], oldActiveRemoved: true });
    expect(o.next.replacement?.status).toBe('completed');
    expect(o.next.oldActive).toBeUndefined();
    s = o.next;

    // A replacement whose candidate fails: errored, the workload stays on art-2.
    s = ok(replaceWorkload(s, { artifact: { id: 'art-3', status: 'draft' } }, at(500))).next;
    o = observe(s, at(510), { active: ['running-ready', 'running-ready'], candidate: ['image-pull-back-off', 'pending-container-creating'] });
    expect(o.next).toMatchObject({ status: 'running', artifact: { id: 'art-2' }, replacement: { status: 'errored', reason: 'CandidateFailed' } });
    expect(o.effects).toEqual([{ type: 'removeCandidate' }]);
    s = o.next;

    // A replacement cancelled while warming: the old proton keeps serving.
    s = ok(replaceWorkload(s, { artifact: { id: 'art-4', status: 'draft' }, warmupSeconds: 600 }, at(600))).next;
    o = observe(s, at(610), { active: ['running-ready', 'running-ready'], candidate: ['running-ready', 'running-ready'] });
    expect(o.next.replacement?.status).toBe('warming');
    const cancelled = ok(cancelReplacement(o.next, at(620)));
    expect(cancelled.effects).toEqual([{ type: 'removeCandidate' }]);
    s = cancelled.next;
    expect(s).toMatchObject({ status: 'running', artifact: { id: 'art-2' }, replacement: { status: 'cancelled' } });
    expect(refused(cancelReplacement(s, at(621)))).toBe('cannot cancel: no replacement is in progress');

    // Promote: locked, no TTL, no restart; then the locked rules apply.
    const promoted = ok(promoteWorkload(s, at(700)));
    s = promoted.next;
    expect(promoted.effects).toEqual([{ type: 'lockArtifact', artifactId: 'art-2' }]);
    expect(s).toMatchObject({ status: 'running', artifact: { id: 'art-2', status: 'locked' } });
    expect(s.expiresAt).toBeUndefined();
    expect(refused(promoteWorkload(s, at(701)))).toBe('cannot promote: artifact art-2 is already locked');
    expect(refused(replaceWorkload(s, { artifact: { id: 'art-5', status: 'draft' } }, at(701)))).toBe(
      'cannot replace a locked artifact with a draft one',
    );
    expect(refused(replaceWorkload(s, { artifact: { id: 'art-2', status: 'locked' } }, at(701)))).toBe(
      'cannot replace: locked artifact art-2 cannot replace itself',
    );
    expect(ok(expireTtl(s, at(100_000)))).toMatchObject({ noop: true, message: 'workload has no TTL (its artifact is locked)' });

    // Stop: running -> stopping -> stopped; stop again is a no-op; start while stopping is refused.
    s = ok(stopWorkload(s, at(800))).next;
    expect(s.status).toBe('stopping');
    expect(refused(startWorkload(s, at(801)))).toBe('cannot start: workload is stopping; wait until it is stopped');
    expect(ok(stopWorkload(s, at(801)))).toMatchObject({ noop: true, message: 'workload is already stopping' });
    o = observe(s, at(805), { active: ['terminating', 'terminating'] });
    expect(o.next.status).toBe('stopping');
    o = observe(o.next, at(830), { active: [] });
    expect(o.next.status).toBe('stopped');
    s = o.next;
    expect(ok(stopWorkload(s, at(831)))).toMatchObject({ noop: true, message: 'workload is already stopped' });
    expect(refused(restartWorkload(s, at(831)))).toBe('cannot restart: workload is stopped; start it instead');

    // Start (locked: no TTL), then pods stay unschedulable past the submitted deadline.
    s = ok(startWorkload(s, at(900))).next;
    expect(s).toMatchObject({ status: 'submitted', desiredState: 'running' });
    expect(s.expiresAt).toBeUndefined();
    o = observe(s, at(905), { active: ['pending-unscheduled', 'pending-unscheduled'] });
    expect(o.next.status).toBe('submitted');
    expect(ok(expireDeadline(o.next, at(900 + 599)))).toMatchObject({ noop: true });
    const expired = ok(expireDeadline(o.next, at(900 + 600)));
    expect(expired.message).toBe('ProgressDeadlineExceeded: workload errored: submitted for 10m0s, past its deadline of 10m0s');
    s = expired.next;
    expect(s).toMatchObject({ status: 'errored', stickyError: { reason: 'ProgressDeadlineExceeded' } });

    // Errored is sticky while pods are still coming up, and clears once all replicas are ready.
    o = observe(s, at(1600), { active: ['running-not-ready', 'running-ready'] });
    expect(o.next.status).toBe('errored');
    o = observe(o.next, at(1610), { active: ['running-ready', 'running-ready'] });
    expect(o.next.status).toBe('running');
    expect(o.next.stickyError).toBeUndefined();
    expect(o.events).toEqual([
      'errored cleared: 2 of 2 replicas running',
      'status errored -> running: 2 of 2 replicas running',
    ]);
  });
});

describe('story: a draft workload that crash-loops, restarts and reaches its end of life', () => {
  it('reports the crash on the first pod event, resets the TTL on restart and terminates at expiry', () => {
    let s = ok(createWorkload({ artifact: { id: 'art-9', status: 'draft' } }, at(0))).next;
    let o = observe(s, at(10), { active: ['crash-loop-back-off', 'running-ready'] });
    expect(o.next).toMatchObject({ status: 'errored', stickyError: { reason: 'CrashLoopBackOff' } });
    expect(o.events).toEqual([
      expect.stringMatching(/^status submitted -> errored: 1 of 2 replicas: CrashLoopBackOff: back-off 5m0s restarting failed container=app/),
    ]);
    // Between two back-offs the container runs (not ready): still errored, no flapping.
    o = observe(o.next, at(20), { active: ['restarted-not-ready', 'running-ready'] });
    expect(o.next.status).toBe('errored');
    expect(o.events).toEqual([]);
    s = o.next;

    // Restart 7 hours in: the error is cleared by the operation and the TTL resets.
    const restarted = ok(restartWorkload(s, at(7 * 3600)));
    s = restarted.next;
    expect(s).toMatchObject({ status: 'launching', expiresAt: new Date('2025-03-15T00:00:00Z') });
    expect(s.stickyError).toBeUndefined();
    o = observe(s, at(7 * 3600 + 30), { active: ['running-ready', 'running-ready'] });
    expect(o.next.status).toBe('running');
    s = o.next;

    // The original 8 hours have passed, the reset ones have not.
    expect(ok(expireTtl(s, at(8 * 3600)))).toMatchObject({ noop: true, message: 'TTL not reached: expires in 7h0m0s' });
    const expired = ok(expireTtl(s, at(15 * 3600)));
    expect(expired.effects).toEqual([{ type: 'stopProtons' }]);
    s = expired.next;
    expect(s).toMatchObject({ status: 'terminated', endOfLife: { reason: 'TTLExpired' } });

    // Terminated stays terminated while its pods go away, and refuses what would revive it.
    o = observe(s, at(15 * 3600 + 5), { active: ['terminating', 'terminating'] });
    expect(o.next.status).toBe('terminated');
    expect(refused(startWorkload(s, at(15 * 3600 + 6)))).toBe('cannot start: workload is terminated (end of life); create a new one');
    expect(refused(restartWorkload(s, at(15 * 3600 + 6)))).toBe('cannot restart: workload is terminated (end of life); create a new one');
    expect(refused(promoteWorkload(s, at(15 * 3600 + 6)))).toBe('cannot promote: workload is terminated (end of life); create a new one');
    expect(ok(expireTtl(s, at(16 * 3600)))).toMatchObject({ noop: true, message: 'workload is already terminated' });

    // Delete: routing goes, the artifact stays; deleting again is a no-op.
    const deleted = ok(deleteWorkload(s, at(16 * 3600)));
    expect(deleted.effects).toEqual([{ type: 'stopProtons' }, { type: 'removeRouting' }]);
    expect(ok(deleteWorkload(deleted.next, at(16 * 3600 + 1)))).toMatchObject({ noop: true });
    expect(refused(stopWorkload(deleted.next, at(16 * 3600 + 1)))).toBe('cannot stop: workload is being deleted');
  });
});
