import { describe, expect, it } from 'vitest';
import type { OperationContext, TransitionResult, WorkloadState } from '../../src/domain/lifecycle.js';
import { TEST_POLICY } from '../support/policy.js';
import {
  cancelReplacement,
  createWorkload,
  deleteWorkload,
  expireDeadline,
  expireTtl,
  promoteWorkload,
  refuseReplacementStep,
  replaceWorkload,
  replicaContextFor,
  restartWorkload,
  startWorkload,
  stopWorkload,
  updateWorkload,
} from '../../src/domain/lifecycle.js';
import { startReplacement } from '../../src/domain/replacement.js';

const t0 = new Date('2025-03-14T09:00:00Z');
const HOUR = 3_600_000;
const ctx: OperationContext = { ...TEST_POLICY, now: t0 };
const later = (ms: number): OperationContext => ({ ...TEST_POLICY, now: new Date(t0.getTime() + ms) });

function workload(over: Partial<WorkloadState> = {}): WorkloadState {
  return {
    status: 'running',
    statusEnteredAt: t0,
    desiredState: 'running',
    artifact: { id: 'art-1', status: 'draft' },
    active: { artifactId: 'art-1', status: 'running' },
    expiresAt: new Date(t0.getTime() + 8 * HOUR),
    ...over,
  };
}
const stopped = (): WorkloadState =>
  workload({ status: 'stopped', desiredState: 'stopped', active: { artifactId: 'art-1', status: 'stopped' } });
const stopping = (): WorkloadState =>
  workload({ status: 'stopping', desiredState: 'stopped', active: { artifactId: 'art-1', status: 'stopping' } });
const terminated = (): WorkloadState =>
  workload({ status: 'terminated', desiredState: 'stopped', endOfLife: { reason: 'TTLExpired' } });
const deleting = (): WorkloadState => workload({ status: 'stopping', desiredState: 'deleted' });
const replacing = (status: 'submitted' | 'warming' | 'switching' | 'draining' = 'warming'): WorkloadState =>
  workload({ replacement: { ...startReplacement({ fromArtifactId: 'art-1', toArtifactId: 'art-2', now: t0 }), status } });
const locked = (over: Partial<WorkloadState> = {}): WorkloadState => {
  const { expiresAt: _e, ...rest } = workload({ artifact: { id: 'art-L1', status: 'locked' }, ...over });
  return rest;
};

const replaceWith = (id: string, status: 'draft' | 'locked') => (s: WorkloadState) =>
  replaceWorkload(s, { artifact: { id, status } }, ctx);

describe('refusals', () => {
  const rows: ReadonlyArray<[string, (s: WorkloadState) => TransitionResult, () => WorkloadState, string, string]> = [
    ['start while stopping', (s) => startWorkload(s, ctx), stopping, 'WorkloadStopping', 'cannot start: workload is stopping; wait until it is stopped'],
    ['start a terminated workload', (s) => startWorkload(s, ctx), terminated, 'WorkloadTerminated', 'cannot start: workload is terminated (end of life); create a new one'],
    ['start while deleting', (s) => startWorkload(s, ctx), deleting, 'WorkloadDeleting', 'cannot start: workload is being deleted'],
    ['stop while deleting', (s) => stopWorkload(s, ctx), deleting, 'WorkloadDeleting', 'cannot stop: workload is being deleted'],
    ['stop while traffic switches', (s) => stopWorkload(s, ctx), () => replacing('switching'), 'ReplacementInProgress', 'cannot stop: traffic is switching to the new proton; retry in a moment'],
    ['restart a stopped workload', (s) => restartWorkload(s, ctx), stopped, 'WorkloadStopped', 'cannot restart: workload is stopped; start it instead'],
    ['restart while stopping', (s) => restartWorkload(s, ctx), stopping, 'WorkloadStopping', 'cannot restart: workload is stopping'],
    ['restart a terminated workload', (s) => restartWorkload(s, ctx), terminated, 'WorkloadTerminated', 'cannot restart: workload is terminated (end of life); create a new one'],
    ['restart during a replacement', (s) => restartWorkload(s, ctx), replacing, 'ReplacementInProgress', 'cannot restart: a replacement is in progress (warming); wait for it or cancel it'],
    ['update during a replacement', (s) => updateWorkload(s, ctx), replacing, 'ReplacementInProgress', 'cannot update: a replacement is in progress (warming); wait for it or cancel it'],
    ['update while stopping', (s) => updateWorkload(s, ctx), stopping, 'WorkloadStopping', 'cannot update: workload is stopping; wait until it is stopped'],
    ['update a terminated workload', (s) => updateWorkload(s, ctx), terminated, 'WorkloadTerminated', 'cannot update: workload is terminated (end of life); create a new one'],
    ['replace a draft with a locked artifact', replaceWith('art-L1', 'locked'), workload, 'ArtifactStatusMismatch', 'cannot replace a draft artifact with a locked one: promote the workload instead'],
    ['replace a locked with a draft artifact', replaceWith('art-2', 'draft'), locked, 'ArtifactStatusMismatch', 'cannot replace a locked artifact with a draft one'],
    ['replace a locked artifact with itself', replaceWith('art-L1', 'locked'), locked, 'SameLockedArtifact', 'cannot replace: locked artifact art-L1 cannot replace itself'],
    ['start a second replacement', replaceWith('art-3', 'draft'), replacing, 'ReplacementInProgress', 'cannot replace: a replacement is already in progress (warming); wait for it or cancel it'],
    ['replace a stopped workload', replaceWith('art-2', 'draft'), stopped, 'WorkloadStopped', 'cannot replace: workload is stopped; start it first'],
    ['replace a launching workload', replaceWith('art-2', 'draft'), () => workload({ status: 'launching', active: { artifactId: 'art-1', status: 'launching' } }), 'WorkloadNotRunning', 'cannot replace: workload is launching; wait until it is running'],
    ['replace a terminated workload', replaceWith('art-2', 'draft'), terminated, 'WorkloadTerminated', 'cannot replace: workload is terminated (end of life); create a new one'],
    ['cancel with no replacement', (s) => cancelReplacement(s, ctx), workload, 'NoReplacementInProgress', 'cannot cancel: no replacement is in progress'],
    ['cancel after the switch', (s) => cancelReplacement(s, ctx), () => replacing('draining'), 'TrafficAlreadySwitched', 'cannot cancel: the replacement is draining and traffic has already switched to the new proton'],
    ['promote a locked workload', (s) => promoteWorkload(s, ctx), locked, 'ArtifactNotDraft', 'cannot promote: artifact art-L1 is already locked'],
    ['promote with no running active proton', (s) => promoteWorkload(s, ctx), () => workload({ status: 'launching', active: { artifactId: 'art-1', status: 'initializing' } }), 'NoRunningProton', 'cannot promote: the active proton is not running (initializing)'],
    ['promote a stopped workload', (s) => promoteWorkload(s, ctx), stopped, 'NoRunningProton', 'cannot promote: the active proton is not running (stopped)'],
    ['promote during a replacement', (s) => promoteWorkload(s, ctx), replacing, 'ReplacementInProgress', 'cannot promote: a replacement is in progress (warming); wait for it or cancel it'],
    ['promote a terminated workload', (s) => promoteWorkload(s, ctx), terminated, 'WorkloadTerminated', 'cannot promote: workload is terminated (end of life); create a new one'],
  ];
  it.each(rows)('refuses to %s', (_name, op, state, cause, reason) => {
    expect(op(state())).toEqual({ ok: false, code: 'InvalidTransition', cause, reason });
  });
});

describe('idempotent no-ops', () => {
  const rows: ReadonlyArray<[string, (s: WorkloadState) => TransitionResult, () => WorkloadState, string]> = [
    ['stop of a stopped workload', (s) => stopWorkload(s, ctx), stopped, 'workload is already stopped'],
    ['stop of a stopping workload', (s) => stopWorkload(s, ctx), stopping, 'workload is already stopping'],
    ['stop of a terminated workload', (s) => stopWorkload(s, ctx), terminated, 'workload is terminated; there is nothing to stop'],
    ['start of a running workload', (s) => startWorkload(s, ctx), workload, 'workload is already started (running)'],
    ['start of an errored workload', (s) => startWorkload(s, ctx), () => workload({ status: 'errored' }), 'workload is already started (errored); restart it to recover from errored'],
    ['delete of a deleting workload', (s) => deleteWorkload(s, ctx), deleting, 'workload is already being deleted'],
    ['TTL expiry before the TTL', (s) => expireTtl(s, later(8 * HOUR - 1000)), workload, 'TTL not reached: expires in 1s'],
    ['TTL expiry of a locked workload', (s) => expireTtl(s, later(100 * HOUR)), locked, 'workload has no TTL (its artifact is locked)'],
    ['TTL expiry of a terminated workload', (s) => expireTtl(s, later(100 * HOUR)), terminated, 'workload is already terminated'],
    ['deadline expiry of a running workload', (s) => expireDeadline(s, later(100 * HOUR)), workload, 'no deadline has passed'],
  ];
  it.each(rows)('accepts a %s as a no-op that says so', (_name, op, state, message) => {
    const s = state();
    expect(op(s)).toEqual({ ok: true, noop: true, message, next: s, effects: [] });
  });
});

describe('accepted transitions', () => {
  it('creates a draft workload submitted, with a TTL 8 hours out and its proton requested', () => {
    const result = createWorkload({ artifact: { id: 'art-1', status: 'draft' } }, ctx);
    expect(result.next).toEqual({
      status: 'submitted',
      statusEnteredAt: t0,
      desiredState: 'running',
      artifact: { id: 'art-1', status: 'draft' },
      active: { artifactId: 'art-1', status: 'submitted' },
      expiresAt: new Date('2025-03-14T17:00:00Z'),
    });
    expect(result.effects).toEqual([{ type: 'startActiveProton', artifactId: 'art-1' }]);
  });

  it('creates a workload on a locked artifact without a TTL', () => {
    expect(createWorkload({ artifact: { id: 'art-L1', status: 'locked' } }, ctx).next.expiresAt).toBeUndefined();
  });

  it('starts a stopped draft workload and resets its TTL', () => {
    const result = startWorkload(stopped(), later(HOUR));
    expect(result).toMatchObject({
      ok: true,
      noop: false,
      next: { status: 'submitted', desiredState: 'running', expiresAt: new Date('2025-03-14T18:00:00Z') },
      effects: [{ type: 'startActiveProton', artifactId: 'art-1' }],
    });
  });

  it('restarts in place, resets the draft TTL and clears a sticky error', () => {
    const result = restartWorkload(workload({ status: 'errored', stickyError: { reason: 'CrashLoopBackOff', message: 'x' } }), later(2 * HOUR));
    if (!result.ok) throw new Error(result.reason);
    expect(result.next).toMatchObject({ status: 'launching', active: { status: 'initializing' }, updatingInPlace: true, expiresAt: new Date('2025-03-14T19:00:00Z') });
    expect(result.next.stickyError).toBeUndefined();
    expect(result.effects).toEqual([{ type: 'restartActiveProton' }]);
  });

  it('updates in place without touching the TTL', () => {
    const result = updateWorkload(workload(), later(HOUR));
    if (!result.ok) throw new Error(result.reason);
    expect(result.next).toMatchObject({ status: 'launching', active: { status: 'initializing' }, expiresAt: new Date('2025-03-14T17:00:00Z') });
    expect(result.effects).toEqual([{ type: 'updateActiveProtonInPlace' }]);
  });

  it('records the runtime of a stopped workload for its next start', () => {
    const result = updateWorkload(stopped(), ctx);
    expect(result).toMatchObject({ ok: true, noop: false, message: 'runtime updated; it applies at the next start', effects: [] });
  });

  it('stops a workload and cancels a replacement that has not switched yet', () => {
    const result = stopWorkload(replacing('warming'), ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.next).toMatchObject({ status: 'stopping', desiredState: 'stopped', replacement: { status: 'cancelled', reason: 'ReplacementSuperseded', message: 'superseded by stop' } });
    expect(result.effects).toEqual([{ type: 'stopProtons' }, { type: 'removeCandidate' }]);
  });

  it.each(['submitted', 'warming', 'switching'] as const)('fails a replacement %s whose step was refused, at once, with StepRefused and an event', (status) => {
    const result = refuseReplacementStep(replacing(status), ctx, 'the target draft is taken by another workload');
    if (!result.ok) throw new Error(result.reason);
    expect(result).toMatchObject({
      noop: false,
      message: 'replacement errored: the target draft is taken by another workload',
      next: { status: 'running', artifact: { id: 'art-1' }, replacement: { status: 'errored', reason: 'StepRefused' } },
    });
    expect(result.next.candidate).toBeUndefined();
  });

  it('refuses no step when no replacement is in progress', () => {
    expect(refuseReplacementStep(workload(), ctx, 'x')).toMatchObject({ ok: true, noop: true });
  });

  it('stops a workload during draining by completing the replacement early', () => {
    const result = stopWorkload(replacing('draining'), ctx);
    expect(result).toMatchObject({ ok: true, next: { replacement: { status: 'completed' } } });
  });

  it('stops an errored workload whose stop missed its deadline, to retry it', () => {
    const result = stopWorkload(workload({ status: 'errored', desiredState: 'stopped' }), ctx);
    expect(result).toMatchObject({ ok: true, noop: false, next: { status: 'stopping' } });
  });

  it('replaces an errored draft workload: that is how a broken draft is fixed', () => {
    expect(replaceWith('art-2', 'draft')(workload({ status: 'errored' }))).toMatchObject({ ok: true });
  });

  it('replaces a draft with the same draft to roll out its edited spec', () => {
    expect(replaceWith('art-1', 'draft')(workload())).toMatchObject({ ok: true });
  });

  it('replaces locked with another locked artifact and asks for the candidate', () => {
    const result = replaceWorkload(locked(), { artifact: { id: 'art-L2', status: 'locked' }, warmupSeconds: 30, keepOldVersionSeconds: 600 }, ctx);
    expect(result).toMatchObject({
      ok: true,
      next: { replacement: { status: 'submitted', fromArtifactId: 'art-L1', toArtifactId: 'art-L2', warmupSeconds: 30, keepOldVersionSeconds: 600 } },
      effects: [{ type: 'createCandidate', artifactId: 'art-L2' }],
    });
  });

  it('promotes a running draft: locks the artifact, removes the TTL, restarts nothing', () => {
    const result = promoteWorkload(workload(), ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.next.artifact).toEqual({ id: 'art-1', status: 'locked' });
    expect(result.next.expiresAt).toBeUndefined();
    expect(result.next.status).toBe('running');
    expect(result.effects).toEqual([{ type: 'lockArtifact', artifactId: 'art-1' }]);
  });

  it('deletes a workload: stops its protons and removes its routing', () => {
    expect(deleteWorkload(workload(), ctx)).toMatchObject({
      ok: true,
      next: { status: 'stopping', desiredState: 'deleted' },
      effects: [{ type: 'stopProtons' }, { type: 'removeRouting' }],
    });
  });

  it('deletes a terminated workload and keeps showing its end of life', () => {
    expect(deleteWorkload(terminated(), ctx)).toMatchObject({ ok: true, next: { status: 'terminated', desiredState: 'deleted' } });
  });

  it('terminates a draft workload when its TTL is reached', () => {
    const result = expireTtl(workload(), later(8 * HOUR));
    expect(result).toMatchObject({
      ok: true,
      noop: false,
      message: 'workload terminated: draft TTL expired at 2025-03-14T17:00:00.000Z',
      next: { status: 'terminated', endOfLife: { reason: 'TTLExpired' } },
      effects: [{ type: 'stopProtons' }],
    });
  });

  it('errors a workload stuck past its deadline, with ProgressDeadlineExceeded kept sticky', () => {
    const result = expireDeadline(workload({ status: 'provisioning' }), later(10 * 60_000));
    expect(result).toMatchObject({
      ok: true,
      next: {
        status: 'errored',
        stickyError: { reason: 'ProgressDeadlineExceeded', message: 'provisioning for 10m0s, past its deadline of 10m0s' },
      },
    });
  });

  it('uses the initializing deadline for an in-place update', () => {
    const s = workload({ status: 'launching', active: { artifactId: 'art-1', status: 'initializing' } });
    const deadlines = { states: { submitted: 1, provisioning: 1, launching: 1, initializing: HOUR, stopping: 1 }, replacement: { submitted: 1, initializing: 1, warming: 1, switching: 1, draining: 1 } };
    expect(expireDeadline(s, { ...TEST_POLICY, now: new Date(t0.getTime() + HOUR - 1), deadlines })).toMatchObject({ noop: true });
    expect(expireDeadline(s, { ...TEST_POLICY, now: new Date(t0.getTime() + HOUR), deadlines })).toMatchObject({ noop: false, next: { status: 'errored' } });
  });

  it('errors a replacement past its deadline and keeps the workload on its active proton', () => {
    const result = expireDeadline(replacing('submitted'), later(5 * 60_000));
    expect(result).toMatchObject({
      ok: true,
      next: { status: 'running', replacement: { status: 'errored', reason: 'ProgressDeadlineExceeded', failedStep: 'submitted' } },
      effects: [{ type: 'removeCandidate' }],
    });
  });
});

describe('replicaContextFor', () => {
  it('marks the active proton as updating in place after an update or restart', () => {
    expect(replicaContextFor(workload({ updatingInPlace: true }), 'active')).toEqual({ updatingInPlace: true });
    expect(replicaContextFor(workload(), 'active')).toEqual({});
  });

  it('marks a candidate warming only during the warm-up step and an old active always draining', () => {
    expect(replicaContextFor(replacing('warming'), 'candidate')).toEqual({ warmingUp: true });
    expect(replicaContextFor(replacing('submitted'), 'candidate')).toEqual({});
    expect(replicaContextFor(workload(), 'oldActive')).toEqual({ draining: true });
  });
});
