import { describe, expect, it } from 'vitest';
import { decideState } from '../../../src/controller/decide.js';
import type { Observation } from '../../../src/controller/observe.js';
import type { WorkloadEventData } from '../../../src/domain/events.js';
import type { WorkloadState } from '../../../src/domain/lifecycle.js';
import type { ProtonStatus } from '../../../src/domain/model.js';
import type { ProtonStatusReport } from '../../../src/domain/proton-status.js';
import { TEST_POLICY } from '../../support/policy.js';
import { at, replacement, running, t0 } from './rows.js';

const report = (status: ProtonStatus, reason?: string): ProtonStatusReport => ({
  status,
  ...(reason && { reason }),
  affected: 1,
  total: 1,
  ready: status === 'running' ? 1 : 0,
  desiredReplicas: 1,
});

interface Row {
  name: string;
  state: WorkloadState;
  reports?: Record<string, ProtonStatusReport>;
  workload?: Observation['workload'];
  runtimeEmpty?: boolean;
  /** Protons the runtime still has. */
  exists?: string[];
  now?: Date;
  want: Partial<WorkloadState>;
  wantEvents: WorkloadEventData[];
  wantFinishedDeleting?: boolean;
}

const MIN = 60;
const candidate = { protonId: 'p2', artifactId: 'art-2', status: 'running' as const };

const rows: Row[] = [
  {
    name: 'changes nothing and records nothing when the observation agrees with the state',
    state: running(),
    workload: { active: report('running') },
    want: { status: 'running' },
    wantEvents: [],
  },
  {
    name: 'moves launching to running when the active proton runs',
    state: running({ status: 'launching' }),
    workload: { active: report('running') },
    want: { status: 'running', statusEnteredAt: at(1) },
    wantEvents: [{ type: 'statusChanged', subject: 'workload', from: 'launching', to: 'running' }],
  },
  {
    name: 'shows an evicted pod as interrupted, with its reason',
    state: running(),
    workload: { active: report('interrupted', 'Evicted') },
    want: { status: 'interrupted' },
    wantEvents: [{ type: 'statusChanged', subject: 'workload', from: 'running', to: 'interrupted', reason: 'Evicted' }],
  },
  {
    name: 'swaps the candidate into the active slot at the switch, the old active draining beside it',
    state: running({ replacement: replacement('switching'), candidate }),
    workload: { active: report('running'), candidate: report('running'), trafficSwitched: true },
    exists: ['p1', 'p2'],
    want: {
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      artifact: { id: 'art-2', status: 'draft' },
      replacement: expect.objectContaining({ status: 'draining' }),
    },
    wantEvents: [{ type: 'replacementStep', from: 'switching', to: 'draining' }],
  },
  {
    name: 'completes the replacement once the old active is gone, retiring it until the runtime forgets it',
    state: running({
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      replacement: replacement('draining'),
    }),
    workload: { active: report('running'), oldActiveRemoved: true },
    exists: ['p1', 'p2'],
    want: { retiring: ['p1'], replacement: expect.objectContaining({ status: 'completed' }) },
    wantEvents: [{ type: 'replacementStep', from: 'draining', to: 'completed' }],
  },
  {
    name: 'forgets a retiring proton the runtime no longer has',
    state: running({ replacement: replacement('cancelled'), retiring: ['p2'] }),
    workload: { active: report('running') },
    exists: ['p1'],
    want: { retiring: undefined },
    wantEvents: [],
  },
  {
    name: 'errors a workload stuck launching past its deadline, then says so in status',
    state: running({ status: 'launching' }),
    workload: { active: report('launching') },
    now: at(11 * MIN),
    want: { status: 'errored', stickyError: expect.objectContaining({ reason: 'ProgressDeadlineExceeded' }) },
    wantEvents: [
      { type: 'deadlineExceeded', reason: 'ProgressDeadlineExceeded' },
      { type: 'statusChanged', subject: 'workload', from: 'launching', to: 'errored', reason: 'ProgressDeadlineExceeded' },
    ],
  },
  {
    name: 'errors a replacement whose switching step outlived its configured deadline',
    state: running({ replacement: replacement('switching'), candidate }),
    workload: { active: report('running'), candidate: report('running'), trafficSwitched: false },
    exists: ['p1', 'p2'],
    now: at(2 * MIN + 1),
    want: { status: 'running', candidate: undefined, retiring: ['p2'], replacement: expect.objectContaining({ status: 'errored' }) },
    wantEvents: [
      { type: 'deadlineExceeded', reason: 'ProgressDeadlineExceeded' },
      { type: 'replacementStep', from: 'switching', to: 'errored', reason: 'ProgressDeadlineExceeded' },
    ],
  },
  {
    name: 'terminates a draft past its TTL',
    state: running({ expiresAt: at(60 * MIN) }),
    workload: { active: report('running') },
    now: at(60 * MIN + 1),
    want: { status: 'terminated', endOfLife: expect.objectContaining({ reason: 'TTLExpired' }) },
    wantEvents: [
      { type: 'ttlExpired', reason: 'TTLExpired' },
      { type: 'statusChanged', subject: 'workload', from: 'running', to: 'terminated', reason: 'TTLExpired' },
    ],
  },
  {
    name: 'finishes deleting once neither a pod nor a proton is left',
    state: running({ status: 'stopping', desiredState: 'deleted' }),
    workload: { active: report('stopped') },
    runtimeEmpty: true,
    want: { desiredState: 'deleted' },
    wantEvents: [{ type: 'statusChanged', subject: 'workload', from: 'stopping', to: 'stopped' }],
    wantFinishedDeleting: true,
  },
];

describe('phase decide (state)', () => {
  it.each(rows)('$name', (row) => {
    const observation: Observation = {
      reports: new Map(
        Object.entries(row.reports ?? { p1: row.workload?.active, p2: row.workload?.candidate }).filter(
          (e): e is [string, ProtonStatusReport] => e[1] !== undefined,
        ),
      ),
      workload: row.workload ?? {},
      runtimeEmpty: row.runtimeEmpty ?? false,
    };
    const exists = new Set(row.exists ?? ['p1']);
    const decision = decideState({ state: row.state }, observation, { ...TEST_POLICY, now: row.now ?? at(1) }, (id) => exists.has(id));
    expect(decision.next.state).toMatchObject(Object.fromEntries(Object.entries(row.want).filter(([, v]) => v !== undefined)));
    for (const [key, value] of Object.entries(row.want)) if (value === undefined) expect(decision.next.state).not.toHaveProperty(key);
    expect(decision.events.map((e) => e.data)).toEqual(row.wantEvents);
    expect(decision.finishedDeleting).toBe(row.wantFinishedDeleting ?? false);
  });

  it('explains every statusChanged in its message', () => {
    const decision = decideState(
      { state: running({ status: 'launching', statusEnteredAt: t0 }) },
      { reports: new Map([['p1', { ...report('errored', 'CrashLoopBackOff'), message: 'back-off restarting failed container' }]]), workload: { active: report('errored', 'CrashLoopBackOff') }, runtimeEmpty: false },
      { ...TEST_POLICY, now: at(1) },
      () => true,
    );
    expect(decision.events.map((e) => e.message)).toEqual(['status launching -> errored: CrashLoopBackOff: a replica failed']);
  });
});
