import { describe, expect, it } from 'vitest';
import {
  checkDeadline,
  checkReplacementDeadline,
  formatDuration,
  TRANSITIONAL_STATES,
} from '../../src/domain/deadlines.js';
import { draftExpiresAt, isExpired, remainingTtlMs } from '../../src/domain/ttl.js';
import { TEST_POLICY } from '../support/policy.js';

const DEFAULT_DEADLINES = TEST_POLICY.deadlines;

const t0 = new Date('2025-03-14T09:00:00Z');
const at = (ms: number): Date => new Date(t0.getTime() + ms);
const MIN = 60_000;

describe('draft TTL', () => {
  it('expires a draft workload its lifetime after its clock starts', () => {
    expect(draftExpiresAt('draft', t0, 8 * 60 * MIN)).toEqual(new Date('2025-03-14T17:00:00Z'));
  });

  it('uses a configured lifetime', () => {
    expect(draftExpiresAt('draft', t0, 30 * MIN)).toEqual(new Date('2025-03-14T09:30:00Z'));
  });

  it('gives a workload on a locked artifact no expiry', () => {
    expect(draftExpiresAt('locked', t0, 8 * 60 * MIN)).toBeUndefined();
  });

  it('is expired from the expiry instant on, and never without an expiry', () => {
    const expiresAt = at(10 * MIN);
    expect(isExpired(expiresAt, at(10 * MIN - 1))).toBe(false);
    expect(isExpired(expiresAt, at(10 * MIN))).toBe(true);
    expect(isExpired(undefined, at(1e12))).toBe(false);
  });

  it('counts the time left down to zero', () => {
    expect(remainingTtlMs(at(10 * MIN), t0)).toBe(10 * MIN);
    expect(remainingTtlMs(at(10 * MIN), at(11 * MIN))).toBe(0);
    expect(remainingTtlMs(undefined, t0)).toBeUndefined();
  });
});

describe('checkDeadline', () => {
  it.each(TRANSITIONAL_STATES)('fails %s with ProgressDeadlineExceeded once its deadline passes', (state) => {
    const deadline = DEFAULT_DEADLINES.states[state];
    expect(checkDeadline(state, t0, at(deadline - 1), DEFAULT_DEADLINES)).toEqual({ exceeded: false, remainingMs: 1 });
    const check = checkDeadline(state, t0, at(deadline), DEFAULT_DEADLINES);
    expect(check).toMatchObject({ exceeded: true, reason: 'ProgressDeadlineExceeded', overdueMs: 0 });
  });

  it('uses configured deadlines and says how long the state lasted', () => {
    const deadlines = { ...DEFAULT_DEADLINES, states: { ...DEFAULT_DEADLINES.states, provisioning: 2 * MIN } };
    expect(checkDeadline('provisioning', t0, at(3 * MIN), deadlines)).toEqual({
      exceeded: true,
      reason: 'ProgressDeadlineExceeded',
      message: 'provisioning for 3m0s, past its deadline of 2m0s',
      overdueMs: MIN,
    });
  });

  it('lets a replacement wait its warm-up and keep-old periods before the deadline counts', () => {
    const waits = { warmupSeconds: 600, keepOldVersionSeconds: 3600 };
    const warming = DEFAULT_DEADLINES.replacement.warming + 600_000;
    expect(checkReplacementDeadline('warming', t0, at(warming - 1), waits, DEFAULT_DEADLINES).exceeded).toBe(false);
    expect(checkReplacementDeadline('warming', t0, at(warming), waits, DEFAULT_DEADLINES).exceeded).toBe(true);
    const draining = DEFAULT_DEADLINES.replacement.draining + 3_600_000;
    expect(checkReplacementDeadline('draining', t0, at(draining - 1), waits, DEFAULT_DEADLINES).exceeded).toBe(false);
    expect(checkReplacementDeadline('initializing', t0, at(DEFAULT_DEADLINES.replacement.initializing), waits, DEFAULT_DEADLINES)).toMatchObject({
      exceeded: true,
      message: 'replacement initializing for 15m0s, past its deadline of 15m0s',
    });
  });

  it.each([
    [45_000, '45s'],
    [600_000, '10m0s'],
    [3_723_000, '1h2m3s'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
