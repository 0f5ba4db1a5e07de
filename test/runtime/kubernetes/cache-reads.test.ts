/**
 * Reads from informer caches (ADR 0044), on the real API server: a controller pass over a pod
 * change makes no request at all; the runtime reads its own writes before the watch brings them;
 * a cache that missed another writer's change (a frozen watch) costs one refused write and a
 * fresh GET, never a wrong result; and a replica that becomes the leader relists first.
 */
import { randomBytes } from 'node:crypto';
import { KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { LABELS, protonObjectName } from '../../../src/runtime/conventions.js';
import { KubernetesProtonRuntime, leaseLeadership } from '../../../src/runtime/kubernetes/index.js';
import type { ObservedProton } from '../../../src/runtime/proton-runtime.js';
import { protonRevision } from '../../../src/runtime/proton-spec.js';
import { CreateWorkloadDocument } from '../../graphql/generated/graphql.js';
import { containerInput, specInput } from '../../support/fixtures.js';
import { recordSql } from '../../support/sql-log.js';
import { startTestApp, type TestApp } from '../../support/test-app.js';
import { protonSpec, withEnv } from '../support.js';
import { apis, createTestNamespace, describeOnKubernetes, startedRuntime, testKubeConfig, testKubeconfigPath, until } from './cluster.js';
import { BreakableProxy, apiServerAddress } from './tcp-proxy.js';

/** A client configuration that records every API request made through it (`METHOD /path`); watches are not counted. */
class CountingKubeConfig extends KubeConfig {
  readonly requests: string[] = [];
  override async applySecurityAuthentication(context: Parameters<KubeConfig['applySecurityAuthentication']>[0]): Promise<void> {
    this.requests.push(`${context.getHttpMethod()} ${new URL(context.getUrl()).pathname}`);
    return super.applySecurityAuthentication(context);
  }
}

function counting(kc: KubeConfig): CountingKubeConfig {
  const copy = new CountingKubeConfig();
  copy.loadFromString(kc.exportConfig());
  return copy;
}

const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describeOnKubernetes('reads from informer caches', () => {
  const kc = () => testKubeConfig();
  let namespace: { name: string; remove: () => Promise<void> };
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    namespace = await createTestNamespace(kc(), 'wl-cache');
  });
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
  });
  afterAll(async () => {
    await namespace?.remove();
  });

  /**
   * A runtime whose watches run through a proxy; `freeze()` stops the watches open then (requests
   * made afterwards still pass: each opens its own connection) and empties the request log.
   */
  async function freezableRuntime(): Promise<{ runtime: KubernetesProtonRuntime; requests: string[]; freeze: () => Promise<void> }> {
    const proxy = await BreakableProxy.start(apiServerAddress(kc()));
    cleanups.push(() => proxy.close());
    const through = counting(proxy.kubeConfigThrough(kc()));
    const runtime = await startedRuntime(through, namespace.name);
    cleanups.push(() => runtime.stop());
    return {
      runtime,
      requests: through.requests,
      freeze: async () => {
        // Each request has a connection of its own that closes with it: once the three watches
        // are connected, they are the three that stay.
        await until(() => {
          expect(Object.values(runtime.informers).map((i) => i.stats.watchesConnected)).toEqual([1, 1, 1]);
          expect(proxy.openConnections).toBe(3);
        }, 10_000);
        proxy.freeze();
        through.requests.length = 0;
      },
    };
  }

  /** A second runtime on the namespace: the other writer. */
  async function otherWriter(): Promise<KubernetesProtonRuntime> {
    const writer = await startedRuntime(kc(), namespace.name);
    cleanups.push(() => writer.stop());
    return writer;
  }

  it('makes no request to the API server in a controller pass over a pod change, and records it in one statement', async () => {
    const kubeConfig = counting(kc());
    const runtime = new KubernetesProtonRuntime({ kubeConfig, namespace: namespace.name, onError: () => {} });
    const t: TestApp = await startTestApp(
      { name: 'pglite' },
      { RUNTIME: 'kubernetes', KUBECONFIG: testKubeconfigPath(), KUBERNETES_NAMESPACE: namespace.name, LEADER_ELECTION: 'false', CONTROLLER_TICK_MS: '60000' },
      { controller: true, runtime },
    );
    cleanups.push(() => t.stop());
    const spec = specInput([containerInput({ environmentVars: [{ name: 'SIMULATE_FAULT', value: 'never-ready' }] })]);
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: { name: 'cache-reads', artifact: { name: 'cache-reads', spec: spec as never } } });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const workloadId = rawId(createWorkload.workload.id);
    const status = async () => (await t.app.orm.em.fork().getConnection().execute<{ status: string }[]>('select status from workload where id = ?', [workloadId]))[0]?.status;
    const pod = await until(async () => {
      const running = (await runtime.listPods({ workloadId })).find((p) => p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running);
      expect(running).toBeDefined();
      expect(await status()).toBe('launching');
      return running!;
    }, 60_000);
    await t.app.controller.idle();

    kubeConfig.requests.length = 0;
    const sql = recordSql(t.app.orm);
    cleanups.push(async () => sql.stop());
    const now = new Date().toISOString();
    await apis(kc()).core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: namespace.name,
        body: {
          status: {
            conditions: [
              { type: 'Ready', status: 'True', lastTransitionTime: now },
              { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
            ],
            containerStatuses: [{ ...pod.status!.containerStatuses![0]!, ready: true, started: true }],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    // The pod event schedules the pass as the informer takes it in; then wait for the pass to end.
    await until(async () => expect((await runtime.listPods({ workloadId })).some(isReady)).toBe(true));
    await t.app.controller.idle();
    const statements = [...sql.statements];
    const passRequests = [...kubeConfig.requests];
    expect(await status()).toBe('running');

    // Deployments, Services and pods all came from the informers: not one GET, LIST or write.
    expect(passRequests).toEqual([]);
    // The round is one statement (its own transaction: lock, check, writes, events), and the pass
    // read the workload at most once (none when the previous pass's view was still young).
    const views = statements.filter((q) => q.startsWith('select w.id'));
    expect(views.length).toBeLessThanOrEqual(1);
    expect(statements.filter((q) => !q.startsWith('select w.id'))).toEqual([expect.stringMatching(/^select workload_record_round\(/)]);
  }, 120_000);

  it('reads its own writes at once, before its watches bring them, without a GET', async () => {
    const { runtime, requests, freeze } = await freezableRuntime();
    await freeze();
    const spec = protonSpec({ replicas: 1 });
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    expect(await runtime.getProton(spec.protonId)).toMatchObject({ protonId: spec.protonId, replicas: 1, revision: protonRevision(spec) });
    expect((await runtime.listProtons({ workloadId: spec.workloadId })).map((p) => p.protonId)).toEqual([spec.protonId]);
    expect(await runtime.getRoute(spec.workloadId)).toEqual({ workloadId: spec.workloadId, protonId: spec.protonId });
    // Applying the same spec again finds nothing to change in what it wrote: no request at all.
    const before = requests.length;
    await runtime.applyProton(spec);
    await runtime.routeWorkload(spec.workloadId, spec.protonId);
    expect(requests.slice(before)).toEqual([]);
    // A deleted route reads as gone; a proton being deleted with no pod left (the frozen pod
    // cache has none of its pods) is gone by the port's rule, though the Deployment is still there.
    await runtime.deleteRoute(spec.workloadId);
    await runtime.deleteProton(spec.protonId);
    expect(await runtime.getRoute(spec.workloadId)).toBeUndefined();
    expect(await runtime.getProton(spec.protonId)).toBeUndefined();
    expect(await runtime.listProtons({ workloadId: spec.workloadId })).toEqual([]);
    expect(requests.filter((r) => r.startsWith('GET'))).toEqual([]);
  });

  it('retries a write refused for a stale cached version (409) from a fresh GET, and lands on top of the other writer', async () => {
    const { runtime, requests, freeze } = await freezableRuntime();
    const { apps } = apis(kc());
    const spec = protonSpec({ replicas: 1 });
    const writer = await otherWriter();
    await writer.applyProton(spec);
    await until(async () => expect((await runtime.getProton(spec.protonId))?.replicas).toBe(1));
    await freeze();
    // Another writer changes the Deployment: the frozen cache keeps the old resourceVersion.
    await writer.scaleProton(spec.protonId, 3);
    // The cluster's Deployment controller writes the status after a scale, which changes the
    // resourceVersion too: wait until it has nothing left to write, so that the only writer the
    // runtime races is the one this test made.
    const name = protonObjectName(spec.protonId);
    await until(async () => {
      const { metadata, status } = await apps.readNamespacedDeployment({ name, namespace: namespace.name });
      expect(status?.observedGeneration).toBe(metadata?.generation);
      expect([status?.replicas, status?.updatedReplicas, status?.readyReplicas, status?.availableReplicas]).toEqual([3, 3, 3, 3]);
    }, 60_000);
    const changed = withEnv(spec, [{ name: 'GREETING', value: 'changed' }]);
    const applied: ObservedProton = await runtime.applyProton({ ...changed, replicas: 2 });
    expect(applied).toMatchObject({ replicas: 2, revision: protonRevision(changed) });
    const path = `/apis/apps/v1/namespaces/${namespace.name}/deployments/${name}`;
    expect(requests).toEqual([`PUT ${path}`, `GET ${path}`, `PUT ${path}`]);
    const stored = await apps.readNamespacedDeployment({ name, namespace: namespace.name });
    expect(stored.spec?.replicas).toBe(2);
    expect(stored.spec?.template.metadata?.labels?.[LABELS.revision]).toBe(protonRevision(changed));
  });

  it('treats a create that meets an object its cache has not seen as a race: a fresh GET, then nothing to change', async () => {
    const { runtime, requests, freeze } = await freezableRuntime();
    await freeze();
    const spec = protonSpec({ replicas: 2 });
    const writer = await otherWriter();
    await writer.applyProton(spec);
    await writer.routeWorkload(spec.workloadId, spec.protonId);
    expect(await runtime.applyProton(spec)).toMatchObject({ protonId: spec.protonId, replicas: 2, revision: protonRevision(spec) });
    expect(await runtime.routeWorkload(spec.workloadId, spec.protonId)).toEqual({ workloadId: spec.workloadId, protonId: spec.protonId });
    const deployments = `/apis/apps/v1/namespaces/${namespace.name}/deployments`;
    const services = `/api/v1/namespaces/${namespace.name}/services`;
    expect(requests).toEqual([
      `POST ${deployments}`,
      `GET ${deployments}/${protonObjectName(spec.protonId)}`,
      `POST ${services}`,
      `GET ${services}/workload-${spec.workloadId}`,
    ]);
  });

  it('relists every cache when it becomes the leader, so the controller starts from what its frozen watches missed', async () => {
    const { runtime, freeze } = await freezableRuntime();
    await freeze();
    const writer = await otherWriter();
    const spec = protonSpec({ replicas: 1 });
    await writer.applyProton(spec);
    await writer.routeWorkload(spec.workloadId, spec.protonId);
    expect(await runtime.getProton(spec.protonId)).toBeUndefined();
    const lists = () => Object.values(runtime.informers).map((i) => i.stats.lists);
    const listsBefore = lists();
    const seenAtStart: { proton?: ObservedProton; route?: unknown } = {};
    const leadership = leaseLeadership(
      {
        start: async () => {
          seenAtStart.proton = await runtime.getProton(spec.protonId);
          seenAtStart.route = await runtime.getRoute(spec.workloadId);
        },
        stop: async () => {},
      },
      runtime,
      { kubeConfig: kc(), namespace: namespace.name, leaseName: `cache-${randomBytes(3).toString('hex')}`, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250 },
    );
    cleanups.push(() => leadership.stop());
    await leadership.start();
    await until(() => expect(seenAtStart.proton).toBeDefined(), 15_000);
    expect(seenAtStart.proton).toMatchObject({ protonId: spec.protonId, replicas: 1 });
    expect(seenAtStart.route).toEqual({ workloadId: spec.workloadId, protonId: spec.protonId });
    expect(lists().map((n, i) => n - listsBefore[i]!)).toEqual([1, 1, 1]);
  });
});
