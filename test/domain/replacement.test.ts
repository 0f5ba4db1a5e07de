import { describe, expect, it } from 'vitest';
import type { ReplacementState } from '../../src/domain/replacement.js';
import {
  advanceReplacement,
  cancelReplacementStep,
  failReplacement,
  replacementEffects,
  startReplacement,
} from '../../src/domain/replacement.js';

const t0 = new Date('2025-03-14T09:00:00Z');
const at = (s: number): Date => new Date(t0.getTime() + s * 1000);
const base = (over: Partial<ReplacementState> = {}): ReplacementState => ({
  ...startReplacement({ fromArtifactId: 'art-1', toArtifactId: 'art-2', warmupSeconds: 60, keepOldVersionSeconds: 300, now: t0 }),
  ...over,
});

describe('startReplacement', () => {
  it('starts submitted with default waits of zero', () => {
    expect(startReplacement({ fromArtifactId: 'a', toArtifactId: 'b', now: t0 })).toEqual({
      status: 'submitted',
      fromArtifactId: 'a',
      toArtifactId: 'b',
      warmupSeconds: 0,
      keepOldVersionSeconds: 0,
      stepEnteredAt: t0,
    });
  });
});

describe('advanceReplacement', () => {
  const rows: ReadonlyArray<{
    name: string;
    from: Partial<ReplacementState>;
    obs: Omit<Parameters<typeof advanceReplacement>[1], 'now'> & { at: number };
    to: ReplacementState['status'];
  }> = [
    { name: 'stays submitted until the candidate proton exists', from: {}, obs: { at: 1 }, to: 'submitted' },
    { name: 'moves to initializing once the candidate exists', from: {}, obs: { at: 1, candidate: 'provisioning' }, to: 'initializing' },
    { name: 'stays initializing while the candidate launches', from: { status: 'initializing' }, obs: { at: 1, candidate: 'launching' }, to: 'initializing' },
    { name: 'moves to warming once the candidate runs', from: { status: 'initializing' }, obs: { at: 1, candidate: 'running' }, to: 'warming' },
    { name: 'keeps warming until the warm-up has passed', from: { status: 'warming' }, obs: { at: 59, candidate: 'warming' }, to: 'warming' },
    { name: 'switches once the warm-up has passed and the candidate is ready', from: { status: 'warming' }, obs: { at: 60, candidate: 'warming' }, to: 'switching' },
    { name: 'does not switch to a candidate that stopped being ready', from: { status: 'warming' }, obs: { at: 60, candidate: 'restarting' }, to: 'warming' },
    { name: 'stays switching until the router confirms', from: { status: 'switching' }, obs: { at: 1 }, to: 'switching' },
    { name: 'drains the old active once traffic has switched', from: { status: 'switching' }, obs: { at: 1, trafficSwitched: true }, to: 'draining' },
    { name: 'keeps the old active for keepOldVersionSeconds', from: { status: 'draining' }, obs: { at: 299, oldActiveRemoved: true }, to: 'draining' },
    { name: 'waits for the old active to be gone before completing', from: { status: 'draining' }, obs: { at: 300 }, to: 'draining' },
    { name: 'completes once the old active is removed after the keep-old period', from: { status: 'draining' }, obs: { at: 300, oldActiveRemoved: true }, to: 'completed' },
    { name: 'errors when the candidate fails while initializing', from: { status: 'initializing' }, obs: { at: 1, candidate: 'errored' }, to: 'errored' },
    { name: 'errors when the candidate is interrupted while warming', from: { status: 'warming' }, obs: { at: 1, candidate: 'interrupted' }, to: 'errored' },
    { name: 'does not error the replacement when the new active fails after the switch', from: { status: 'draining' }, obs: { at: 1, candidate: 'errored' }, to: 'draining' },
    { name: 'leaves a completed replacement alone', from: { status: 'completed' }, obs: { at: 1, candidate: 'errored' }, to: 'completed' },
    { name: 'leaves a cancelled replacement alone', from: { status: 'cancelled' }, obs: { at: 1, candidate: 'running' }, to: 'cancelled' },
  ];
  it.each(rows)('$name', ({ from, obs, to }) => {
    const { at: seconds, ...rest } = obs;
    expect(advanceReplacement(base(from), { ...rest, now: at(seconds) }).status).toBe(to);
  });

  it('runs straight from initializing to switching when there is no warm-up', () => {
    const r = base({ status: 'initializing', warmupSeconds: 0 });
    expect(advanceReplacement(r, { now: at(5), candidate: 'running' })).toMatchObject({ status: 'switching', stepEnteredAt: at(5) });
  });

  it('carries the candidate failure as the reason', () => {
    const r = advanceReplacement(base({ status: 'initializing' }), { now: at(1), candidate: 'errored' });
    expect(r).toMatchObject({ reason: 'CandidateFailed', message: 'the candidate proton is errored', failedStep: 'initializing' });
  });
});

describe('replacementEffects', () => {
  it.each([
    ['submitted', {}, 0, [{ type: 'createCandidate', artifactId: 'art-2' }]],
    ['initializing', {}, 0, []],
    ['warming', {}, 0, []],
    ['switching', {}, 0, [{ type: 'switchTraffic', to: 'candidate' }]],
    ['draining', {}, 299, []],
    ['draining', {}, 300, [{ type: 'removeOldActive' }]],
    ['completed', {}, 0, []],
    ['cancelled', {}, 0, [{ type: 'removeCandidate' }]],
    ['errored', { failedStep: 'warming' }, 0, [{ type: 'removeCandidate' }]],
    ['errored', { failedStep: 'switching' }, 0, [{ type: 'switchTraffic', to: 'active' }, { type: 'removeCandidate' }]],
    ['errored', { failedStep: 'draining' }, 0, [{ type: 'removeOldActive' }]],
  ] as const)('asks in %s %o at %is for %o', (status, extra, seconds, effects) => {
    expect(replacementEffects(base({ status, ...extra }), at(seconds))).toEqual(effects);
  });

  it('asks again for the same effects after a crash, because they are derived from the stored step', () => {
    const stored = base({ status: 'switching' });
    expect(replacementEffects(stored, at(1))).toEqual(replacementEffects(stored, at(2)));
  });
});

describe('cancelReplacementStep', () => {
  it.each(['submitted', 'initializing', 'warming'] as const)('cancels a replacement that is %s', (status) => {
    const result = cancelReplacementStep(base({ status }), at(1));
    expect(result).toMatchObject({ ok: true, replacement: { status: 'cancelled', reason: 'ReplacementCancelled' } });
  });

  it('refuses to cancel once the replacement is draining: traffic has switched', () => {
    expect(cancelReplacementStep(base({ status: 'draining' }), at(1))).toEqual({
      ok: false,
      code: 'InvalidTransition',
      cause: 'TrafficAlreadySwitched',
      reason: 'cannot cancel: the replacement is draining and traffic has already switched to the new proton',
    });
  });

  it('refuses to cancel while switching without claiming that traffic has already moved', () => {
    expect(cancelReplacementStep(base({ status: 'switching' }), at(1))).toEqual({
      ok: false,
      code: 'InvalidTransition',
      cause: 'TrafficSwitching',
      reason: 'cannot cancel: the replacement is switching traffic right now; wait for it to finish, then replace back if needed',
    });
  });

  it.each([undefined, 'completed', 'cancelled', 'errored'] as const)('refuses to cancel when no replacement is in progress (%s)', (status) => {
    const r = status === undefined ? undefined : base({ status });
    expect(cancelReplacementStep(r, at(1))).toMatchObject({ ok: false, cause: 'NoReplacementInProgress', reason: 'cannot cancel: no replacement is in progress' });
  });
});

describe('failReplacement', () => {
  it('leaves an ended replacement as it is', () => {
    const done = base({ status: 'completed' });
    expect(failReplacement(done, at(1), 'X', 'y')).toBe(done);
  });
});
