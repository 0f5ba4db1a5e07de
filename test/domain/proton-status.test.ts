import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROTON_STATUSES, WORKLOAD_STATUSES } from '../../src/domain/model.js';
import {
  aggregateReplicaStates,
  allReplicasReady,
  deriveProtonStatus,
  isWorseReplicaState,
  REPLICA_STATE_SEVERITY,
} from '../../src/domain/proton-status.js';
import type { ReplicaState } from '../../src/domain/replica-state.js';
import { collapseProtonStatus } from '../../src/domain/workload-status.js';

const replicaState = fc.constantFrom(...REPLICA_STATE_SEVERITY);
const replica: fc.Arbitrary<ReplicaState> = fc.record(
  {
    state: replicaState,
    reason: fc.constantFrom('CrashLoopBackOff', 'ErrImagePull', 'ContainersNotReady', 'Evicted'),
    message: fc.constantFrom('back-off restarting failed container app', 'not found', 'containers with unready status: [app]'),
    container: fc.constantFrom('app', 'proxy'),
  },
  { requiredKeys: ['state'] },
);
const replicas = fc.array(replica, { minLength: 1, maxLength: 8 });

describe('REPLICA_STATE_SEVERITY', () => {
  it('lists the order of SPEC.md section 2, worst first', () => {
    expect(REPLICA_STATE_SEVERITY).toEqual([
      'errored', 'interrupted', 'restarting', 'unknown', 'submitted', 'provisioning',
      'initializing', 'launching', 'stopping', 'draining', 'warming', 'running',
    ]);
  });

  it('covers every proton status except the ones decided by desired state', () => {
    const notReplica = PROTON_STATUSES.filter((s) => !(REPLICA_STATE_SEVERITY as readonly string[]).includes(s));
    expect(notReplica.sort()).toEqual(['stopped', 'suspended', 'terminated']);
  });
});

describe('aggregateReplicaStates', () => {
  // Row by row: each state beats every state after it in the order.
  const pairs = REPLICA_STATE_SEVERITY.flatMap((worse, i) =>
    REPLICA_STATE_SEVERITY.slice(i + 1).map((better) => [worse, better] as const),
  );
  it.each(pairs)('lets %s win over %s', (worse, better) => {
    expect(aggregateReplicaStates([{ state: better }, { state: worse }])?.state).toBe(worse);
    expect(isWorseReplicaState(worse, better)).toBe(true);
    expect(isWorseReplicaState(better, worse)).toBe(false);
  });

  it('returns nothing for no replicas', () => {
    expect(aggregateReplicaStates([])).toBeUndefined();
  });

  it('counts replicas in the worst state, all replicas and ready ones, and carries the worst one\'s reason', () => {
    const result = aggregateReplicaStates([
      { state: 'running' },
      { state: 'errored', reason: 'CrashLoopBackOff', message: 'back-off restarting failed container app', container: 'app' },
      { state: 'warming' },
    ]);
    expect(result).toEqual({
      state: 'errored',
      reason: 'CrashLoopBackOff',
      message: 'back-off restarting failed container app',
      container: 'app',
      affected: 1,
      total: 3,
      ready: 2,
    });
  });

  it('prefers an explained replica over a silent one in the same state', () => {
    const result = aggregateReplicaStates([{ state: 'launching' }, { state: 'launching', reason: 'ContainersNotReady' }]);
    expect(result?.reason).toBe('ContainersNotReady');
  });

  it('does not depend on replica order', () => {
    fc.assert(
      fc.property(replicas, fc.nat(), (list, seed) => {
        const shuffled = shuffle(list, seed);
        expect(aggregateReplicaStates(shuffled)).toEqual(aggregateReplicaStates(list));
      }),
    );
  });

  it('never makes a proton look better when a worse replica is added', () => {
    fc.assert(
      fc.property(replicas, replicaState, (list, added) => {
        const before = aggregateReplicaStates(list);
        const after = aggregateReplicaStates([...list, { state: added }]);
        if (!before || !after) throw new Error('non-empty lists aggregate');
        expect(isWorseReplicaState(before.state, after.state)).toBe(false);
      }),
    );
  });

  it('gives a proton whose replicas all share a state that state', () => {
    fc.assert(
      fc.property(replicaState, fc.integer({ min: 1, max: 10 }), (state, n) => {
        const list = Array.from({ length: n }, () => ({ state }));
        expect(aggregateReplicaStates(list)?.state).toBe(state);
        expect(deriveProtonStatus(list, { state: 'running', replicas: n }).status).toBe(state === 'stopping' ? 'submitted' : state);
      }),
    );
  });
});

describe('deriveProtonStatus', () => {
  const rows: ReadonlyArray<{
    name: string;
    replicas: ReplicaState[];
    desired: Parameters<typeof deriveProtonStatus>[1];
    status: string;
    affected?: number;
    total?: number;
  }> = [
    { name: 'zero pods while desired running is submitted', replicas: [], desired: { state: 'running', replicas: 2 }, status: 'submitted', affected: 2, total: 2 },
    { name: 'fewer pods than desired counts the missing ones as submitted', replicas: [{ state: 'running' }], desired: { state: 'running', replicas: 2 }, status: 'submitted', affected: 1, total: 2 },
    { name: 'all desired pods running is running', replicas: [{ state: 'running' }, { state: 'running' }], desired: { state: 'running', replicas: 2 }, status: 'running', affected: 2, total: 2 },
    { name: 'one crash-looping pod of three makes the proton errored', replicas: [{ state: 'running' }, { state: 'errored', reason: 'CrashLoopBackOff' }, { state: 'running' }], desired: { state: 'running', replicas: 3 }, status: 'errored', affected: 1, total: 3 },
    { name: 'a surplus pod being deleted during a rollout does not make a running proton stopping', replicas: [{ state: 'running' }, { state: 'stopping' }], desired: { state: 'running', replicas: 1 }, status: 'running', affected: 1, total: 1 },
    { name: 'desired stopped with pods left is stopping', replicas: [{ state: 'stopping' }, { state: 'running' }], desired: { state: 'stopped', replicas: 2 }, status: 'stopping', affected: 2, total: 2 },
    { name: 'desired stopped with no pod left is stopped', replicas: [], desired: { state: 'stopped', replicas: 2 }, status: 'stopped' },
    { name: 'desired suspended with no pod left is suspended', replicas: [], desired: { state: 'suspended', replicas: 1 }, status: 'suspended' },
    { name: 'desired suspended with pods left is stopping', replicas: [{ state: 'running' }], desired: { state: 'suspended', replicas: 1 }, status: 'stopping' },
    { name: 'desired terminated with no pod left is terminated', replicas: [], desired: { state: 'terminated', replicas: 1 }, status: 'terminated' },
    { name: 'desired terminated with pods left is stopping', replicas: [{ state: 'errored' }], desired: { state: 'terminated', replicas: 1 }, status: 'stopping' },
    { name: 'a candidate whose pods all warm up is warming', replicas: [{ state: 'warming' }, { state: 'warming' }], desired: { state: 'running', replicas: 2 }, status: 'warming' },
    { name: 'an old active whose pods all drain is draining', replicas: [{ state: 'draining' }], desired: { state: 'running', replicas: 1 }, status: 'draining' },
  ];
  it.each(rows)('$name', (row) => {
    const report = deriveProtonStatus(row.replicas, row.desired);
    expect(report.status).toBe(row.status);
    if (row.affected !== undefined) expect(report.affected).toBe(row.affected);
    if (row.total !== undefined) expect(report.total).toBe(row.total);
  });

  it('explains missing pods with our ReplicasMissing reason', () => {
    expect(deriveProtonStatus([{ state: 'running' }], { state: 'running', replicas: 2 })).toMatchObject({
      reason: 'ReplicasMissing',
      message: 'pod not created yet',
    });
  });

  it('says all replicas are ready only when every desired replica runs', () => {
    const desired = { state: 'running', replicas: 2 } as const;
    expect(allReplicasReady(deriveProtonStatus([{ state: 'running' }, { state: 'running' }], desired))).toBe(true);
    expect(allReplicasReady(deriveProtonStatus([{ state: 'running' }], desired))).toBe(false);
    expect(allReplicasReady(deriveProtonStatus([{ state: 'running' }, { state: 'launching' }], desired))).toBe(false);
  });
});

describe('collapseProtonStatus', () => {
  it('collapses every proton status to a valid workload status', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PROTON_STATUSES), (status) => {
        expect(WORKLOAD_STATUSES).toContain(collapseProtonStatus(status));
      }),
    );
  });

  it.each([
    ['initializing', 'launching'],
    ['restarting', 'launching'],
    ['warming', 'running'],
    ['draining', 'running'],
  ] as const)('collapses the proton-only state %s to %s', (proton, workload) => {
    expect(collapseProtonStatus(proton)).toBe(workload);
  });

  it.each(WORKLOAD_STATUSES)('keeps the workload status %s as it is', (status) => {
    expect(collapseProtonStatus(status)).toBe(status);
  });
});

function shuffle<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let s = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

describe('deriveProtonStatus during an in-place rollout', () => {
  const running = { state: 'running' as const };
  it('is initializing while old pods still run and the rollout is incomplete', () => {
    const r = deriveProtonStatus([running, running], { state: 'running', replicas: 2 }, { complete: false, updated: 1 });
    expect(r).toMatchObject({ status: 'initializing', reason: 'RolloutInProgress', message: '1 of 2 replicas updated' });
  });
  it('is running once the rollout is complete', () => {
    expect(deriveProtonStatus([running, running], { state: 'running', replicas: 2 }, { complete: true, updated: 2 }).status).toBe('running');
  });
  it('still shows a worse state than initializing during a rollout', () => {
    const r = deriveProtonStatus([running, { state: 'errored', reason: 'CrashLoopBackOff' }], { state: 'running', replicas: 2 }, { complete: false, updated: 1 });
    expect(r).toMatchObject({ status: 'errored', reason: 'CrashLoopBackOff' });
  });
});
