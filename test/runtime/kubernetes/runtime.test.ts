/**
 * What the Kubernetes adapter does beyond the port's contract, checked on the real objects of a
 * real API server: the Deployment and Service it writes, the pods kwok plays failures on, the
 * PriorityClass of new pods, races between writers, and nothing left behind.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { observePod } from '../../../src/domain/pod-observation.js';
import { deriveReplicaState } from '../../../src/domain/replica-state.js';
import { ANNOTATIONS, LABELS, PRIORITY_CLASSES, protonObjectName, routeObjectName } from '../../../src/runtime/conventions.js';
import type { KubernetesProtonRuntime } from '../../../src/runtime/kubernetes/index.js';
import { RuntimeNotFoundError, RuntimeUnavailableError } from '../../../src/runtime/proton-runtime.js';
import { protonRevision } from '../../../src/runtime/proton-spec.js';
import { PodTracker, isServing, newId, primaryContainer, protonSpec } from '../support.js';
import { apis, createTestNamespace, describeOnKubernetes, setPodScenario, startedRuntime, testKubeConfig, until } from './cluster.js';

describeOnKubernetes('the Kubernetes runtime on its own objects', () => {
  const kc = () => testKubeConfig();
  let namespace: { name: string; remove: () => Promise<void> };
  let runtime: KubernetesProtonRuntime;
  const trackers: PodTracker[] = [];

  beforeAll(async () => {
    namespace = await createTestNamespace(kc(), 'wl-runtime');
    runtime = await startedRuntime(kc(), namespace.name);
  });
  afterEach(() => {
    for (const t of trackers.splice(0)) t.close();
  });
  afterAll(async () => {
    await runtime?.stop();
    await namespace?.remove();
  });

  async function servingPods(protonId: string, count: number): Promise<V1Pod[]> {
    return until(async () => {
      const pods = await runtime.listPods({ protonId });
      expect(pods.filter(isServing)).toHaveLength(count);
      expect(pods).toHaveLength(count);
      return [...pods];
    });
  }

  it('writes a Deployment with the labels, priority class, restart annotation and a surge-only rolling update', async () => {
    const spec = protonSpec({ replicas: 2, importance: 'high', restartedAt: new Date('2026-01-02T03:04:05Z') });
    await runtime.applyProton(spec);
    const { apps } = apis(kc());
    const d = await apps.readNamespacedDeployment({ name: protonObjectName(spec.protonId), namespace: namespace.name });
    expect(d.metadata?.labels).toMatchObject({
      [LABELS.managedBy]: 'workload-api',
      [LABELS.workloadId]: spec.workloadId,
      [LABELS.protonId]: spec.protonId,
      [LABELS.importance]: 'high',
    });
    expect(d.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } });
    expect(d.spec?.template.metadata?.labels?.[LABELS.revision]).toBe(protonRevision(spec));
    expect(d.spec?.template.metadata?.annotations?.[ANNOTATIONS.restartedAt]).toBe('2026-01-02T03:04:05.000Z');
    expect(d.spec?.template.spec?.priorityClassName).toBe(PRIORITY_CLASSES.high.name);
    const pods = await servingPods(spec.protonId, 2);
    // Kubernetes admitted the priority: the class's value is on every pod.
    expect(pods.map((p) => p.spec?.priority)).toEqual([PRIORITY_CLASSES.high.value, PRIORITY_CLASSES.high.value]);
    // Owned through a ReplicaSet by the Deployment, so deleting it cleans the pods.
    expect(pods[0]?.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    await runtime.deleteProton(spec.protonId);
  });

  it('ensures the four PriorityClasses idempotently at every start', async () => {
    const second = await startedRuntime(kc(), namespace.name);
    await second.stop();
    const { SchedulingV1Api } = await import('@kubernetes/client-node');
    const scheduling = kc().makeApiClient(SchedulingV1Api);
    for (const pc of Object.values(PRIORITY_CLASSES)) {
      const read = await scheduling.readPriorityClass({ name: pc.name });
      expect(read.value).toBe(pc.value);
    }
  });

  it('switches the Service selector to the candidate only with one change, and its endpoints follow the ready pods', async () => {
    const active = protonSpec({ replicas: 1 });
    const candidate = protonSpec({ workloadId: active.workloadId, replicas: 2 });
    await runtime.applyProton(active);
    await runtime.applyProton(candidate);
    const [activePod] = await servingPods(active.protonId, 1);
    const candidatePods = await servingPods(candidate.protonId, 2);
    await runtime.routeWorkload(active.workloadId, active.protonId);
    const { core } = apis(kc());
    const service = await core.readNamespacedService({ name: routeObjectName(active.workloadId), namespace: namespace.name });
    expect(service.spec?.selector).toEqual({
      [LABELS.managedBy]: 'workload-api',
      [LABELS.workloadId]: active.workloadId,
      [LABELS.protonId]: active.protonId,
    });
    const { DiscoveryV1Api } = await import('@kubernetes/client-node');
    const discovery = kc().makeApiClient(DiscoveryV1Api);
    const endpointIps = async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: namespace.name,
        labelSelector: `kubernetes.io/service-name=${routeObjectName(active.workloadId)}`,
      });
      return slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses)).sort();
    };
    await until(async () => expect(await endpointIps()).toEqual([activePod!.status!.podIP]));
    await runtime.routeWorkload(active.workloadId, candidate.protonId);
    expect(await runtime.getRoute(active.workloadId)).toEqual({ workloadId: active.workloadId, protonId: candidate.protonId });
    await until(async () => expect(await endpointIps()).toEqual(candidatePods.map((p) => p.status!.podIP).sort()));
    await runtime.routeWorkload(active.workloadId, null);
    await until(async () => expect(await endpointIps()).toEqual([]));
    await runtime.deleteRoute(active.workloadId);
    await runtime.deleteProton(active.protonId);
    await runtime.deleteProton(candidate.protonId);
  });

  it('resolves a workload\'s traffic to its Service once the routed proton has a ready pod, and says why not before', async () => {
    const spec = protonSpec({ replicas: 1, containers: [primaryContainer({ env: [{ name: 'SIMULATE_FAULT', value: 'slow-start' }] })] });
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: null, reason: 'NoRoute' });
    await runtime.routeWorkload(spec.workloadId, null);
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: null, reason: 'RoutedNowhere' });
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({ kind: 'unroutable', protonId: spec.protonId, reason: 'NoReadyReplica' });
    await servingPods(spec.protonId, 1);
    expect(await runtime.resolveRoute(spec.workloadId)).toEqual({
      kind: 'forward',
      protonId: spec.protonId,
      target: new URL(`http://${routeObjectName(spec.workloadId)}.${namespace.name}.svc:80`),
    });
    await runtime.deleteRoute(spec.workloadId);
    await runtime.deleteProton(spec.protonId);
  });

  it('reports a crash-looping pod on the first event that shows it, with restarts rising', async () => {
    const spec = protonSpec({ replicas: 3 });
    const tracker = new PodTracker(runtime, { protonId: spec.protonId });
    trackers.push(tracker);
    await runtime.applyProton(spec);
    const pods = await servingPods(spec.protonId, 3);
    const victim = pods[0]!;
    await setPodScenario(kc(), namespace.name, victim, 'crash-loop');
    const name = victim.metadata!.name!;
    await until(() => expect(tracker.statesOf(name)).toContain('errored(CrashLoopBackOff)'), 30_000);
    // The first event that carries the waiting reason is already reported as errored.
    const first = tracker.events.find(
      (e) => e.type === 'modified' && e.pod.metadata?.name === name && e.pod.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
    );
    expect(first && first.type !== 'error' && deriveReplicaState(observePod(first.pod)).state).toBe('errored');
    await until(async () => {
      const [pod] = (await runtime.listPods({ protonId: spec.protonId })).filter((p) => p.metadata?.name === name);
      expect(pod?.status?.containerStatuses?.[0]?.restartCount).toBeGreaterThanOrEqual(2);
    }, 30_000);
    // The other two keep serving.
    expect((await runtime.listPods({ protonId: spec.protonId })).filter(isServing)).toHaveLength(2);
    await runtime.deleteProton(spec.protonId);
  });

  it('reports an image that cannot be pulled: ErrImagePull while provisioning, then ImagePullBackOff as errored', async () => {
    const spec = protonSpec({ containers: [primaryContainer({ env: [{ name: 'SIMULATE_FAULT', value: 'image-pull-failure' }] })] });
    const tracker = new PodTracker(runtime, { protonId: spec.protonId });
    trackers.push(tracker);
    await runtime.applyProton(spec);
    await until(() => {
      const [name] = tracker.podNames();
      expect(name).toBeDefined();
      const states = tracker.statesOf(name!);
      expect(states).toContain('provisioning(ErrImagePull)');
      expect(states).toContain('errored(ImagePullBackOff)');
      expect(states.indexOf('provisioning(ErrImagePull)')).toBeLessThan(states.indexOf('errored(ImagePullBackOff)'));
    }, 30_000);
    await runtime.deleteProton(spec.protonId);
  });

  it('gives pods created after an importance change its priority class, and relabels the running ones at once', async () => {
    const spec = protonSpec({ replicas: 1, importance: 'low' });
    await runtime.applyProton(spec);
    const [before] = await servingPods(spec.protonId, 1);
    expect(before?.spec?.priorityClassName).toBe(PRIORITY_CLASSES.low.name);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    await runtime.setImportance(spec.workloadId, 'critical');
    const { core, apps } = apis(kc());
    const pod = await core.readNamespacedPod({ name: before!.metadata!.name!, namespace: namespace.name });
    expect(pod.metadata?.labels?.[LABELS.importance]).toBe('critical');
    expect(pod.spec?.priorityClassName).toBe(PRIORITY_CLASSES.low.name);
    const d = await apps.readNamespacedDeployment({ name: protonObjectName(spec.protonId), namespace: namespace.name });
    expect(d.metadata?.labels?.[LABELS.importance]).toBe('critical');
    const service = await core.readNamespacedService({ name: routeObjectName(spec.workloadId), namespace: namespace.name });
    expect(service.metadata?.labels?.[LABELS.importance]).toBe('critical');
    expect((await runtime.getProton(spec.protonId))?.importance).toBe('critical');
    // The next rollout (a restart) creates pods at the new priority.
    await runtime.applyProton({ ...spec, importance: 'critical', restartedAt: new Date() });
    await until(async () => {
      const pods = await servingPods(spec.protonId, 1);
      expect(pods[0]?.metadata?.uid).not.toBe(before?.metadata?.uid);
      expect(pods[0]?.spec?.priorityClassName).toBe(PRIORITY_CLASSES.critical.name);
      expect(pods[0]?.spec?.priority).toBe(PRIORITY_CLASSES.critical.value);
      expect(pods[0]?.metadata?.labels?.[LABELS.importance]).toBe('critical');
    }, 30_000);
    await runtime.deleteRoute(spec.workloadId);
    await runtime.deleteProton(spec.protonId);
  });

  it('lets two writers race on one route and one proton: conflicts are retried, nothing fails', async () => {
    const other = await startedRuntime(kc(), namespace.name);
    try {
      const spec = protonSpec({ replicas: 1 });
      const results = await Promise.allSettled([
        runtime.applyProton(spec),
        other.applyProton({ ...spec, replicas: 2 }),
        runtime.routeWorkload(spec.workloadId, spec.protonId),
        other.routeWorkload(spec.workloadId, null),
        runtime.routeWorkload(spec.workloadId, null),
        other.routeWorkload(spec.workloadId, spec.protonId),
      ]);
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect([1, 2]).toContain((await runtime.getProton(spec.protonId))?.replicas);
      expect([null, spec.protonId]).toContain((await runtime.getRoute(spec.workloadId))?.protonId);
      await runtime.deleteRoute(spec.workloadId);
      await runtime.deleteProton(spec.protonId);
    } finally {
      await other.stop();
    }
  });

  it('maps Kubernetes failures onto the typed errors', async () => {
    await expect(runtime.scaleProton(newId(), 1)).rejects.toBeInstanceOf(RuntimeNotFoundError);
    const elsewhere = await startedRuntime(kc(), namespace.name);
    await elsewhere.stop();
    await expect(elsewhere.getRoute(newId())).rejects.toBeInstanceOf(RuntimeUnavailableError);
    // A namespace that does not exist: the API server answers 404 for the object's parent.
    const { KubernetesProtonRuntime } = await import('../../../src/runtime/kubernetes/index.js');
    const lost = new KubernetesProtonRuntime({ kubeConfig: kc(), namespace: `missing-${newId().slice(0, 8)}` });
    await expect(lost.applyProton(protonSpec())).rejects.toBeInstanceOf(RuntimeNotFoundError);
  });

  it('leaves no object behind once a workload\'s protons and route are deleted', async () => {
    const spec = protonSpec({ replicas: 2 });
    const candidate = protonSpec({ workloadId: spec.workloadId, replicas: 1 });
    await runtime.applyProton(spec);
    await runtime.applyProton(candidate);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    await servingPods(spec.protonId, 2);
    await servingPods(candidate.protonId, 1);
    await runtime.deleteProton(spec.protonId);
    await runtime.deleteProton(candidate.protonId);
    await runtime.deleteRoute(spec.workloadId);
    const { core, apps } = apis(kc());
    const selector = `${LABELS.workloadId}=${spec.workloadId}`;
    await until(async () => {
      const left = [
        ...(await apps.listNamespacedDeployment({ namespace: namespace.name, labelSelector: selector })).items,
        ...(await apps.listNamespacedReplicaSet({ namespace: namespace.name, labelSelector: selector })).items,
        ...(await core.listNamespacedPod({ namespace: namespace.name, labelSelector: selector })).items,
        ...(await core.listNamespacedService({ namespace: namespace.name, labelSelector: selector })).items,
      ].map((o) => `${o.kind ?? ''}/${o.metadata?.name}`);
      expect(left).toEqual([]);
    }, 30_000);
  });
});
