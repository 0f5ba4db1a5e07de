import { describe, expect, it } from 'vitest';
import { applyDesired } from '../../../src/controller/apply.js';
import { desiredRuntime, type ProtonRecord } from '../../../src/controller/decide.js';
import type { WorkloadState } from '../../../src/domain/lifecycle.js';
import type { Importance } from '../../../src/domain/model.js';
import { FakeRuntime, type RuntimeAction, type SeedProton } from './fake-runtime.js';
import { at, record, replacement, revisionOf, running, W } from './rows.js';

interface Row {
  name: string;
  state: WorkloadState;
  records: ProtonRecord[];
  /** What the runtime holds before the pass. */
  protons?: SeedProton[];
  route?: string | null;
  importance?: Importance;
  now?: Date;
  want: RuntimeAction[];
}

const p1 = record('p1');
const p2 = record('p2', 1);
/** A proton the runtime holds exactly as the record wants it. */
const inSync = (r: ProtonRecord, replicas = r.runtime.replicaCount): SeedProton => ({ workloadId: W, protonId: r.id, replicas, revision: revisionOf(r, replicas) });

const rows: Row[] = [
  {
    name: 'creates the active proton of a new workload and routes to it',
    state: running({ status: 'submitted' }),
    records: [p1],
    want: [{ create: 'p1', replicas: 2 }, { route: W, to: 'p1' }],
  },
  {
    name: 'changes nothing when the runtime already is what the state wants',
    state: running(),
    records: [p1],
    protons: [inSync(p1)],
    route: 'p1',
    want: [],
  },
  {
    name: 'rolls the active proton when its template changed (an update in place)',
    state: running({ updatingInPlace: true }),
    records: [record('p1', 3)],
    protons: [inSync(p1)],
    route: 'p1',
    want: [{ update: 'p1', replicas: 3, revision: revisionOf(record('p1', 3)) }],
  },
  {
    name: 'relabels importance without touching the template',
    state: running(),
    records: [p1],
    protons: [inSync(p1)],
    route: 'p1',
    importance: 'critical',
    want: [{ importance: W, to: 'critical' }],
  },
  {
    name: 'scales the active proton of a stopped workload to zero',
    state: running({ status: 'stopping', desiredState: 'stopped' }),
    records: [p1],
    protons: [inSync(p1)],
    route: 'p1',
    want: [{ update: 'p1', replicas: 0, revision: revisionOf(p1, 0) }],
  },
  {
    name: 'does not create the proton of a stopped workload that the runtime no longer has',
    state: running({ status: 'stopped', desiredState: 'stopped' }),
    records: [p1],
    route: 'p1',
    want: [],
  },
  {
    name: 'leaves a proton that is being deleted to go',
    state: running(),
    records: [p1],
    protons: [{ ...inSync(p1), replicas: 1, deleting: true }],
    route: 'p1',
    want: [],
  },
  {
    name: 'runs the candidate beside the active during a replacement, the route staying on the active',
    state: running({ replacement: replacement('initializing'), candidate: { protonId: 'p2', artifactId: 'art-2', status: 'submitted' } }),
    records: [p1, p2],
    protons: [inSync(p1)],
    route: 'p1',
    want: [{ create: 'p2', replicas: 1 }],
  },
  {
    name: 'switches the route to the candidate in one change at the switching step',
    state: running({ replacement: replacement('switching'), candidate: { protonId: 'p2', artifactId: 'art-2', status: 'running' } }),
    records: [p1, p2],
    protons: [inSync(p1), inSync(p2)],
    route: 'p1',
    want: [{ route: W, to: 'p2' }],
  },
  {
    name: 'removes the old active once keep-old has passed',
    state: running({
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      replacement: replacement('draining', { keepOldVersionSeconds: 60 }),
    }),
    records: [p1, p2],
    protons: [inSync(p1), inSync(p2)],
    route: 'p2',
    now: at(61),
    want: [{ delete: 'p1' }],
  },
  {
    name: 'keeps the old active while keep-old lasts',
    state: running({
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      replacement: replacement('draining', { keepOldVersionSeconds: 60 }),
    }),
    records: [p1, p2],
    protons: [inSync(p1), inSync(p2)],
    route: 'p2',
    now: at(59),
    want: [],
  },
  {
    name: 'removes a retiring proton (a cancelled candidate)',
    state: running({ replacement: replacement('cancelled'), retiring: ['p2'] }),
    records: [p1, p2],
    protons: [inSync(p1), inSync(p2)],
    route: 'p1',
    want: [{ delete: 'p2' }],
  },
  {
    name: 'removes every proton and the route of a deleted workload',
    state: running({ status: 'stopping', desiredState: 'deleted', retiring: ['p0'] }),
    records: [p1],
    protons: [inSync(p1), { workloadId: W, protonId: 'p0', replicas: 0 }],
    route: 'p1',
    want: [{ delete: 'p1' }, { delete: 'p0' }, { deleteRoute: W }],
  },
  {
    name: 'tears down a workload past its end of life',
    state: running({ status: 'terminated', desiredState: 'stopped', endOfLife: { reason: 'TTLExpired' } }),
    records: [p1],
    protons: [inSync(p1)],
    route: 'p1',
    want: [{ delete: 'p1' }, { deleteRoute: W }],
  },
];

describe('phase apply', () => {
  it.each(rows)('$name', async (row) => {
    const runtime = new FakeRuntime({ protons: row.protons ?? [], routes: row.route !== undefined ? [{ workloadId: W, protonId: row.route }] : [] });
    const workload = { id: W, importance: row.importance ?? 'moderate' };
    const desired = desiredRuntime(workload, row.state, new Map(row.records.map((r) => [r.id, r])), row.now ?? at(1));
    await applyDesired(runtime, workload, desired);
    expect(runtime.actions).toEqual(row.want);
    // Idempotent: a second pass over the same state finds nothing left to do.
    runtime.actions.length = 0;
    await applyDesired(runtime, workload, desired);
    expect(runtime.actions).toEqual([]);
  });
});
