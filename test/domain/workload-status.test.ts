import { describe, expect, it } from 'vitest';
import type { ProtonDesired } from '../../src/domain/proton-status.js';
import { deriveProtonStatus } from '../../src/domain/proton-status.js';
import type { ReplicaState } from '../../src/domain/replica-state.js';
import { deriveWorkloadStatus } from '../../src/domain/workload-status.js';

const crashLoop: ReplicaState = {
  state: 'errored',
  reason: 'CrashLoopBackOff',
  message: 'back-off restarting failed container app',
  container: 'app',
};
const running: ReplicaState = { state: 'running' };
const desired3: ProtonDesired = { state: 'running', replicas: 3 };

describe('deriveWorkloadStatus', () => {
  it('is submitted while the workload has no proton yet', () => {
    expect(deriveWorkloadStatus({})).toEqual({ status: 'submitted', summary: 'waiting for a proton to be created' });
  });

  it('summarises the worst replicas with their Kubernetes reason and message', () => {
    const report = deriveWorkloadStatus({ active: deriveProtonStatus([running, crashLoop, running], desired3) });
    expect(report).toMatchObject({
      status: 'errored',
      reason: 'CrashLoopBackOff',
      message: 'back-off restarting failed container app',
      summary: '1 of 3 replicas: CrashLoopBackOff: back-off restarting failed container app',
    });
  });

  it('says how many replicas run when all of them do', () => {
    const report = deriveWorkloadStatus({ active: deriveProtonStatus([running, running, running], desired3) });
    expect(report).toEqual({ status: 'running', summary: '3 of 3 replicas running' });
  });

  it.each([
    ['initializing', 'launching'],
    ['restarting', 'launching'],
    ['warming', 'running'],
    ['draining', 'running'],
  ] as const)('shows an active proton that is %s as %s', (proton, workload) => {
    const report = deriveWorkloadStatus({ active: deriveProtonStatus([{ state: proton }], { state: 'running', replicas: 1 }) });
    expect(report.status).toBe(workload);
  });

  it('is stopped when the active proton is stopped', () => {
    const report = deriveWorkloadStatus({ active: deriveProtonStatus([], { state: 'stopped', replicas: 1 }) });
    expect(report).toEqual({ status: 'stopped', summary: 'stopped' });
  });

  it('is terminated at its end of life, whatever its proton says', () => {
    const report = deriveWorkloadStatus({
      active: deriveProtonStatus([running], { state: 'running', replicas: 1 }),
      endOfLife: { reason: 'TTLExpired', message: 'draft TTL expired at 2025-03-14T17:26:53.000Z' },
    });
    expect(report).toEqual({
      status: 'terminated',
      reason: 'TTLExpired',
      message: 'draft TTL expired at 2025-03-14T17:26:53.000Z',
      summary: 'terminated: TTLExpired: draft TTL expired at 2025-03-14T17:26:53.000Z',
    });
  });

  it('returns the error to persist when the workload errors', () => {
    const report = deriveWorkloadStatus({ active: deriveProtonStatus([crashLoop], { state: 'running', replicas: 1 }) });
    expect(report.stickyError).toEqual({ reason: 'CrashLoopBackOff', message: 'back-off restarting failed container app' });
  });

  it('stays errored while a crash-looping replica is briefly back to launching', () => {
    const report = deriveWorkloadStatus({
      active: deriveProtonStatus([{ state: 'launching' }, running, running], desired3),
      stickyError: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container app' },
    });
    expect(report).toMatchObject({
      status: 'errored',
      reason: 'CrashLoopBackOff',
      summary: 'CrashLoopBackOff: back-off restarting failed container app',
      stickyError: { reason: 'CrashLoopBackOff' },
    });
  });

  it('stays errored after a missed deadline while the workload has no proton', () => {
    const report = deriveWorkloadStatus({ stickyError: { reason: 'ProgressDeadlineExceeded', message: 'submitted for 10m0s' } });
    expect(report.status).toBe('errored');
  });

  it('clears the sticky error once all replicas are ready again, and says so', () => {
    const report = deriveWorkloadStatus({
      active: deriveProtonStatus([running, running, running], desired3),
      stickyError: { reason: 'CrashLoopBackOff', message: 'back-off restarting failed container app' },
    });
    expect(report).toEqual({ status: 'running', summary: '3 of 3 replicas running', errorCleared: true });
  });

  it('clears the sticky error when the proton comes to rest where it was asked to be', () => {
    const report = deriveWorkloadStatus({
      active: deriveProtonStatus([], { state: 'stopped', replicas: 1 }),
      stickyError: { reason: 'ProgressDeadlineExceeded', message: 'stopping for 5m0s' },
    });
    expect(report).toMatchObject({ status: 'stopped', errorCleared: true });
    expect(report.stickyError).toBeUndefined();
  });

  it('shows a launching proton with the reason its pods are not ready', () => {
    const report = deriveWorkloadStatus({
      active: deriveProtonStatus(
        [{ state: 'provisioning', reason: 'ErrImagePull', message: 'not found', container: 'app' }],
        { state: 'running', replicas: 1 },
      ),
    });
    expect(report).toMatchObject({ status: 'provisioning', summary: '1 of 1 replica: ErrImagePull: not found' });
  });
});
