/**
 * Workload stories through the GraphQL API with `RUNTIME=kubernetes`: the app builds its
 * Kubernetes runtime from configuration and drives Deployments and Services on the kwok cluster.
 */
import type { V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import {
  CancelReplacementDocument,
  CreateArtifactDocument,
  CreateWorkloadDocument,
  DeleteWorkloadDocument,
  ReplaceWorkloadArtifactDocument,
  RestartWorkloadDocument,
  StartWorkloadDocument,
  StopWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadRuntimeDocument,
  WorkloadStateDocument,
  type WorkloadStateQuery,
} from '../../graphql/generated/graphql.js';
import { LABELS, PRIORITY_CLASSES, routeObjectName } from '../../../src/runtime/conventions.js';
import { KubernetesProtonRuntime } from '../../../src/runtime/kubernetes/index.js';
import { containerInput, specInput } from '../../support/fixtures.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';
import { apis, createTestNamespace, describeOnKubernetes, setPodScenario, testKubeConfig, testKubeconfigPath } from './cluster.js';

type WorkloadView = Extract<WorkloadStateQuery['workload'], { __typename: 'Workload' }>;

/** The database id inside a Relay global id. */
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

describeOnKubernetes('workload lifecycle on Kubernetes', () => {
  let t: TestApp;
  let namespace: { name: string; remove: () => Promise<void> };
  let n = 0;
  const kc = () => testKubeConfig();

  beforeAll(async () => {
    namespace = await createTestNamespace(kc(), 'wl-lifecycle');
    t = await startTestApp(
      { name: 'pglite' },
      {
        RUNTIME: 'kubernetes',
        KUBECONFIG: testKubeconfigPath(),
        KUBERNETES_NAMESPACE: namespace.name,
        LEADER_ELECTION: 'false',
        CONTROLLER_TICK_MS: '100',
        DRAFT_TTL_SECONDS: '3600',
      },
      { controller: true },
    );
    expect(t.app.runtime).toBeInstanceOf(KubernetesProtonRuntime);
  });
  afterAll(async () => {
    await t?.stop();
    await namespace?.remove();
  });

  const spec = (fault?: string) =>
    specInput([containerInput({ environmentVars: fault ? [{ name: 'SIMULATE_FAULT', value: fault }] : [] })]);

  async function create(replicas = 1): Promise<string> {
    n += 1;
    const { createWorkload } = await t.exec(CreateWorkloadDocument, {
      input: { name: `k8s-${n}`, artifact: { name: `k8s-${n}`, spec: spec() as never }, runtime: { replicaCount: replicas } },
    });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload.id;
  }

  async function artifact(fault?: string): Promise<string> {
    const { createArtifact } = await t.exec(CreateArtifactDocument, { input: { name: `art-${++n}`, spec: spec(fault) as never } });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(createArtifact.__typename);
    return createArtifact.artifact.id;
  }

  async function view(id: string): Promise<WorkloadView> {
    const { workload } = await t.exec(WorkloadStateDocument, { id });
    if (workload.__typename !== 'Workload') throw new Error(workload.__typename);
    return workload;
  }

  async function until(id: string, predicate: (w: WorkloadView) => boolean, timeout = 45_000): Promise<WorkloadView> {
    return vi.waitFor(
      async () => {
        const w = await view(id);
        if (!predicate(w)) throw new Error(`still ${w.status} (${w.statusReason ?? ''}); replacement ${w.replacement?.status ?? '-'}`);
        return w;
      },
      { timeout, interval: 50 },
    );
  }

  async function podsOf(workloadId: string) {
    return (await apis(kc()).core.listNamespacedPod({ namespace: namespace.name, labelSelector: `${LABELS.workloadId}=${workloadId}` })).items;
  }

  async function routeOf(workloadId: string): Promise<V1Service | undefined> {
    return apis(kc()).core.readNamespacedService({ name: routeObjectName(workloadId), namespace: namespace.name }).catch(() => undefined);
  }

  it('runs 3 replicas on kwok nodes, errors on the first event of a crash loop, scales, stops and starts', async () => {
    const id = await create(3);
    await until(id, (w) => w.status === 'RUNNING');
    const pods = await podsOf(rawId(id));
    expect(pods).toHaveLength(3);
    for (const pod of pods) expect(pod.spec?.nodeName).toMatch(/^node-/);

    await setPodScenario(kc(), namespace.name, pods[0]!, 'crash-loop');
    const errored = await until(id, (w) => w.status === 'ERRORED');
    expect(errored.statusReason).toBe('CrashLoopBackOff');
    expect(errored.protons[0]!.replicas.filter((r) => r.status === 'ERRORED')).toHaveLength(1);

    // Scaling down takes the unready pod first; the workload is whole again.
    const { updateWorkloadRuntime } = await t.exec(UpdateWorkloadRuntimeDocument, { input: { id, runtime: { replicaCount: 2 } } });
    expect(updateWorkloadRuntime.__typename).toBe('WorkloadOperationPayload');
    await until(id, (w) => w.status === 'RUNNING' && w.protons[0]!.replicas.length === 2);

    await t.exec(StopWorkloadDocument, { id });
    await until(id, (w) => w.status === 'STOPPED');
    expect(await podsOf(rawId(id))).toEqual([]);

    await t.exec(StartWorkloadDocument, { id });
    await until(id, (w) => w.status === 'RUNNING' && w.protons[0]!.replicas.length === 2);
    expect(await podsOf(rawId(id))).toHaveLength(2);
  }, 120_000);

  it('switches the Service selector only once the candidate is ready, then removes the old Deployment', async () => {
    const id = await create(2);
    const before = await until(id, (w) => w.status === 'RUNNING');
    const workloadId = rawId(id);
    const oldProton = rawId(before.protons[0]!.id);
    expect((await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId]).toBe(oldProton);

    // Watch the switch from outside: whenever the Service names a proton, its pods must be ready.
    // A sample counts only when the Service still names the same proton after its pods were read:
    // the switch and the old pods' removal may both happen between the sampler's two reads.
    const violations: string[] = [];
    const seen = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const target = (await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId];
        if (target) {
          seen.add(target);
          const ready = (await podsOf(workloadId)).filter(
            (p) => p.metadata?.labels?.[LABELS.protonId] === target && !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          );
          const still = (await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId] === target;
          if (ready.length === 0 && still) violations.push(`the Service selected ${target === oldProton ? 'the old proton' : 'the candidate'} ${target} with no ready pod`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const slow = await artifact('slow-start');
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: slow } });
    const done = await until(id, (w) => w.replacement?.status === 'COMPLETED' && w.protons.length === 1, 60_000);
    sampling = false;
    await sampler;
    const candidate = rawId(done.protons[0]!.id);
    expect(violations).toEqual([]);
    expect([...seen]).toEqual([oldProton, candidate]);
    expect((await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId]).toBe(candidate);
    await vi.waitFor(
      async () => {
        const deployments = await apis(kc()).apps.listNamespacedDeployment({ namespace: namespace.name, labelSelector: `${LABELS.workloadId}=${workloadId}` });
        expect(deployments.items.map((d) => d.metadata?.labels?.[LABELS.protonId])).toEqual([candidate]);
      },
      { timeout: 30_000, interval: 100 },
    );
  }, 120_000);

  /** The workload's Deployments by proton id, as the API server lists them. */
  async function protonsInCluster(workloadId: string): Promise<(string | undefined)[]> {
    const deployments = await apis(kc()).apps.listNamespacedDeployment({ namespace: namespace.name, labelSelector: `${LABELS.workloadId}=${workloadId}` });
    return deployments.items.map((d) => d.metadata?.labels?.[LABELS.protonId]);
  }

  it('leaves the Service on the old proton when a replacement is cancelled, and removes the candidate', async () => {
    const id = await create();
    const before = await until(id, (w) => w.status === 'RUNNING');
    const workloadId = rawId(id);
    const oldProton = rawId(before.protons[0]!.id);
    await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: await artifact('never-ready') } });
    await until(id, (w) => w.replacement?.status === 'INITIALIZING' && w.protons.length === 2);
    await t.exec(CancelReplacementDocument, { id });
    const cancelled = await until(id, (w) => w.replacement?.status === 'CANCELLED');
    expect(cancelled.protons[0]!.id).toBe(before.protons[0]!.id);
    expect((await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId]).toBe(oldProton);
    await vi.waitFor(async () => expect(await protonsInCluster(workloadId)).toEqual([oldProton]), { timeout: 30_000, interval: 100 });
    expect((await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId]).toBe(oldProton);
  }, 120_000);

  it('leaves the Service on the old proton when the candidate crash-loops', async () => {
    const id = await create();
    const before = await until(id, (w) => w.status === 'RUNNING');
    const workloadId = rawId(id);
    const oldProton = rawId(before.protons[0]!.id);
    const { replaceWorkloadArtifact } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id, artifactId: await artifact('crash-loop') } });
    expect(replaceWorkloadArtifact.__typename).toBe('WorkloadOperationPayload');
    const failed = await until(id, (w) => w.replacement?.status === 'ERRORED', 60_000);
    expect(failed.replacement?.statusReason).toBe('CandidateFailed');
    expect(failed).toMatchObject({ status: 'RUNNING' });
    expect((await routeOf(workloadId))?.spec?.selector?.[LABELS.protonId]).toBe(oldProton);
    await vi.waitFor(async () => expect(await protonsInCluster(workloadId)).toEqual([oldProton]), { timeout: 30_000, interval: 100 });
  }, 120_000);

  it('relabels running pods at once when importance changes, and gives pods of the next rollout its priority', async () => {
    const id = await create();
    await until(id, (w) => w.status === 'RUNNING');
    const workloadId = rawId(id);
    const [before] = await podsOf(workloadId);
    expect(before?.spec?.priorityClassName).toBe(PRIORITY_CLASSES.low.name);
    const { updateWorkload } = await t.exec(UpdateWorkloadDocument, { input: { id, importance: 'HIGH' as never } });
    expect(updateWorkload.__typename).toBe('UpdateWorkloadPayload');
    await vi.waitFor(
      async () => {
        const pods = await podsOf(workloadId);
        expect(pods.map((p) => [p.metadata?.uid, p.metadata?.labels?.[LABELS.importance]])).toEqual([[before?.metadata?.uid, 'high']]);
      },
      { timeout: 30_000, interval: 100 },
    );
    await t.exec(RestartWorkloadDocument, { id });
    await vi.waitFor(
      async () => {
        const live = (await podsOf(workloadId)).filter((p) => !p.metadata?.deletionTimestamp);
        expect(live).toHaveLength(1);
        expect(live[0]?.metadata?.uid).not.toBe(before?.metadata?.uid);
        expect(live[0]?.spec?.priorityClassName).toBe(PRIORITY_CLASSES.high.name);
      },
      { timeout: 45_000, interval: 100 },
    );
    await until(id, (w) => w.status === 'RUNNING');
  }, 120_000);

  it('leaves no object with the workload\'s labels behind once it is deleted', async () => {
    const id = await create(2);
    await until(id, (w) => w.status === 'RUNNING');
    const workloadId = rawId(id);
    const { deleteWorkload } = await t.exec(DeleteWorkloadDocument, { id });
    expect(deleteWorkload.__typename).toBe('WorkloadOperationPayload');
    const { core, apps } = apis(kc());
    const selector = `${LABELS.workloadId}=${workloadId}`;
    await vi.waitFor(
      async () => {
        const left = [
          ...(await apps.listNamespacedDeployment({ namespace: namespace.name, labelSelector: selector })).items,
          ...(await apps.listNamespacedReplicaSet({ namespace: namespace.name, labelSelector: selector })).items,
          ...(await core.listNamespacedPod({ namespace: namespace.name, labelSelector: selector })).items,
          ...(await core.listNamespacedService({ namespace: namespace.name, labelSelector: selector })).items,
        ].map((o) => `${o.kind ?? ''}/${o.metadata?.name}`);
        expect(left).toEqual([]);
        expect(await routeOf(workloadId)).toBeUndefined();
      },
      { timeout: 45_000, interval: 100 },
    );
  }, 120_000);
});
