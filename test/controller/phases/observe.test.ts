import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { observe, type RuntimeFacts } from '../../../src/controller/observe.js';
import type { WorkloadState } from '../../../src/domain/lifecycle.js';
import type { ProtonStatus } from '../../../src/domain/model.js';
import { LABELS } from '../../../src/runtime/conventions.js';
import type { ObservedProton } from '../../../src/runtime/proton-runtime.js';
import { loadPod, type PodFixture } from '../../fixtures/pods/index.js';
import { replacement, running, W } from './rows.js';

/** A fixture pod of proton `protonId`, with its own uid. */
function pod(fixture: PodFixture, protonId: string, n: number, revision = 'rev'): V1Pod {
  const p = loadPod(fixture);
  return {
    ...p,
    metadata: {
      ...p.metadata,
      name: `${protonId}-${n}`,
      uid: `${protonId}-${n}`,
      labels: { ...p.metadata?.labels, [LABELS.workloadId]: W, [LABELS.protonId]: protonId, [LABELS.revision]: revision },
    },
  };
}

const proton = (protonId: string, revision = 'rev'): ObservedProton => ({
  workloadId: W,
  protonId,
  importance: 'moderate',
  replicas: 1,
  revision,
  generation: 1,
  creationTimestamp: new Date(0),
  status: { replicas: 1, updatedReplicas: 1, readyReplicas: 1 },
});

interface Row {
  name: string;
  state: WorkloadState;
  pods: V1Pod[];
  protons: string[];
  route?: string;
  /** Desired replicas of every proton. */
  replicas?: number;
  wantReports: Record<string, ProtonStatus>;
  wantWorkload: Record<string, unknown>;
  wantEmpty?: boolean;
}

const candidate = { protonId: 'p2', artifactId: 'art-2', status: 'submitted' as const };

const rows: Row[] = [
  {
    name: 'reports a running active proton from its ready pods',
    state: running({ status: 'launching' }),
    pods: [pod('running-ready', 'p1', 1), pod('running-ready', 'p1', 2)],
    protons: ['p1'],
    replicas: 2,
    wantReports: { p1: 'running' },
    wantWorkload: { active: { status: 'running', ready: 2 } },
  },
  {
    name: 'counts a missing pod as submitted',
    state: running({ status: 'launching' }),
    pods: [pod('running-ready', 'p1', 1)],
    protons: ['p1'],
    replicas: 2,
    wantReports: { p1: 'submitted' },
    wantWorkload: { active: { status: 'submitted' } },
  },
  {
    name: 'reports the worst replica: one crash-looping pod errors the proton',
    state: running(),
    pods: [pod('running-ready', 'p1', 1), pod('crash-loop-back-off', 'p1', 2)],
    protons: ['p1'],
    replicas: 2,
    wantReports: { p1: 'errored' },
    wantWorkload: { active: { status: 'errored', reason: 'CrashLoopBackOff' } },
  },
  {
    name: 'reports a stopped workload with no pods left as stopped',
    state: running({ status: 'stopping', desiredState: 'stopped' }),
    pods: [],
    protons: ['p1'],
    wantReports: { p1: 'stopped' },
    wantWorkload: { active: { status: 'stopped' } },
  },
  {
    name: 'holds an in-place update at initializing until every pod runs the new template',
    state: running({ status: 'launching', updatingInPlace: true }),
    pods: [pod('running-ready', 'p1', 1, 'old')],
    protons: ['p1'],
    replicas: 1,
    wantReports: { p1: 'initializing' },
    wantWorkload: { active: { status: 'initializing', reason: 'RolloutInProgress' } },
  },
  {
    name: 'reports the candidate of a replacement in progress, and that traffic has not switched',
    state: running({ replacement: replacement('initializing'), candidate }),
    pods: [pod('running-ready', 'p1', 1), pod('running-not-ready', 'p2', 1)],
    protons: ['p1', 'p2'],
    route: 'p1',
    replicas: 1,
    wantReports: { p1: 'running', p2: 'launching' },
    wantWorkload: { active: { status: 'running' }, candidate: { status: 'launching' }, trafficSwitched: false },
  },
  {
    name: 'shows a warming candidate while its replacement warms up',
    state: running({ replacement: replacement('warming'), candidate }),
    pods: [pod('running-ready', 'p1', 1), pod('running-ready', 'p2', 1)],
    protons: ['p1', 'p2'],
    route: 'p1',
    replicas: 1,
    wantReports: { p1: 'running', p2: 'warming' },
    wantWorkload: { candidate: { status: 'warming' }, trafficSwitched: false },
  },
  {
    name: 'sees the route on the candidate once switched',
    state: running({ replacement: replacement('switching'), candidate }),
    pods: [pod('running-ready', 'p1', 1), pod('running-ready', 'p2', 1)],
    protons: ['p1', 'p2'],
    route: 'p2',
    replicas: 1,
    wantReports: { p1: 'running', p2: 'running' },
    wantWorkload: { trafficSwitched: true },
  },
  {
    name: 'shows the old active draining while its pods remain, and not removed',
    state: running({
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      replacement: replacement('draining'),
    }),
    pods: [pod('running-ready', 'p1', 1), pod('running-ready', 'p2', 1)],
    protons: ['p1', 'p2'],
    replicas: 1,
    wantReports: { p1: 'draining', p2: 'running' },
    wantWorkload: { oldActiveRemoved: false },
  },
  {
    name: 'does not report an old active with no pods left (it is leaving, not starting), and sees it removed',
    state: running({
      active: { protonId: 'p2', artifactId: 'art-2', status: 'running' },
      oldActive: { protonId: 'p1', artifactId: 'art-1', status: 'draining' },
      replacement: replacement('draining'),
    }),
    pods: [pod('running-ready', 'p2', 1)],
    protons: ['p2'],
    replicas: 1,
    wantReports: { p2: 'running' },
    wantWorkload: { oldActiveRemoved: true },
  },
  {
    name: 'tells when neither a pod nor a proton of a deleted workload is left',
    state: running({ status: 'stopping', desiredState: 'deleted' }),
    pods: [],
    protons: [],
    wantReports: { p1: 'stopped' },
    wantWorkload: { active: { status: 'stopped' } },
    wantEmpty: true,
  },
];

describe('phase observe', () => {
  it.each(rows)('$name', (row) => {
    const facts: RuntimeFacts = {
      pods: row.pods,
      protons: new Map(row.protons.map((id) => [id, proton(id)])),
      route: row.route ? { workloadId: W, protonId: row.route } : undefined,
    };
    const observation = observe(row.state, facts, () => row.replicas ?? 1);
    expect(Object.fromEntries([...observation.reports].map(([id, r]) => [id, r.status]))).toEqual(row.wantReports);
    expect(observation.workload).toMatchObject(row.wantWorkload);
    expect(observation.runtimeEmpty).toBe(row.wantEmpty ?? false);
  });

  it('derives a crashed replica as restarting from the pod alone, the same in every pass (nothing is remembered between passes)', () => {
    const facts: RuntimeFacts = { pods: [pod('restarted-not-ready', 'p1', 1), pod('running-ready', 'p1', 2)], protons: new Map([['p1', proton('p1')]]), route: undefined };
    const first = observe(running(), facts, () => 2);
    const again = observe(running(), facts, () => 2);
    expect(first.reports.get('p1')?.status).toBe('restarting');
    expect(again.reports.get('p1')).toEqual(first.reports.get('p1'));
  });
});
