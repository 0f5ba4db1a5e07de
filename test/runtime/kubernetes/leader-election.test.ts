/**
 * Two API replicas on one PostgreSQL database and one Kubernetes namespace: exactly one holds the
 * Lease and runs the controller; both serve the API. When the leader dies without releasing the
 * lease, the other takes over once it expires and finishes a replace that was under way.
 */
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, expect, it, vi } from 'vitest';
import { buildApp, type App } from '../../../src/app.js';
import { loadConfig } from '../../../src/config.js';
import { LABELS, routeObjectName } from '../../../src/runtime/conventions.js';
import { createDatabase, databaseBackends } from '../../support/backends.js';
import { testEnvironment } from '../../support/ports.js';
import { tokenFor } from '../../support/test-app.js';
import { apis, createTestNamespace, describeOnKubernetes, testKubeConfig, testKubeconfigPath } from './cluster.js';

const postgres = databaseBackends().find((b) => b.name === 'postgres')!;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

describeOnKubernetes('leader election between two API replicas', () => {
  it.skipIf(Boolean(postgres.missing) && process.env.REQUIRE_ALL_BACKENDS !== '1')(
    'runs the controller in one replica only; when it dies, the other takes the lease and finishes an in-flight replace',
    async () => {
      if (postgres.missing) throw new Error(`REQUIRE_ALL_BACKENDS=1 but PostgreSQL is unavailable: ${postgres.missing}`);
      const kc = testKubeConfig();
      const namespace = await createTestNamespace(kc, 'wl-leader');
      cleanups.push(namespace.remove);
      const { database, drop } = await createDatabase(postgres);
      cleanups.push(drop);
      const leaseName = `workload-api-${randomBytes(3).toString('hex')}`;
      const replica = async (identity: string): Promise<App> => {
        const app = await buildApp({
          config: loadConfig(
            testEnvironment({
              RUNTIME: 'kubernetes',
              KUBECONFIG: testKubeconfigPath(),
              KUBERNETES_NAMESPACE: namespace.name,
              LEADER_ELECTION_LEASE_NAME: leaseName,
              LEADER_ELECTION_IDENTITY: identity,
              LEADER_ELECTION_LEASE_SECONDS: '3',
              LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '2',
              LEADER_ELECTION_RETRY_SECONDS: '0.25',
              CONTROLLER_TICK_MS: '100',
            }),
          ),
          database,
          logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        });
        cleanups.push(() => app.stop());
        await app.leadership.start();
        return app;
      };
      const gql = async (app: App, query: string, variables: Record<string, unknown> = {}) => {
        const res = await app.yoga.fetch('http://localhost/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor({ sub: 'leader-tester' })}` },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await res.json()) as { data?: any; errors?: unknown };
        if (body.errors) throw new Error(JSON.stringify(body.errors));
        return body.data;
      };
      const spec = (fault?: string) =>
        `{ containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: "nginx:1.25", primary: true, port: 8080${
          fault ? `, environmentVars: [{ name: "SIMULATE_FAULT", value: "${fault}" }]` : ''
        } }] }] }`;
      const state = async (app: App, id: string) =>
        (await gql(app, `query($id: ID!) { workload(id: $id) { ... on Workload { status replacement { status } protons { id role } } } }`, { id }))
          .workload as { status: string; replacement: { status: string } | null; protons: { id: string; role: string }[] };
      const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
      const holder = async () =>
        (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: namespace.name })).spec;

      const a = await replica('replica-a');
      await vi.waitFor(() => expect(a.leadership.isLeader()).toBe(true), { timeout: 10_000, interval: 20 });
      const b = await replica('replica-b');
      // Several renewals later, still one leader.
      await new Promise((r) => setTimeout(r, 1500));
      expect([a.leadership.isLeader(), b.leadership.isLeader()]).toEqual([true, false]);
      expect((await holder())?.holderIdentity).toBe('replica-a');

      // Both replicas serve the API: the workload is created through one, replaced through the other.
      const created = await gql(a, `mutation { createWorkload(input: { name: "leader", artifact: { name: "v1", spec: ${spec()} } }) { ... on CreateWorkloadPayload { workload { id } } } }`);
      const id: string = created.createWorkload.workload.id;
      const running = await vi.waitFor(async () => {
        const w = await state(b, id);
        expect(w.status).toBe('RUNNING');
        return w;
      }, { timeout: 45_000, interval: 50 });
      const next = await gql(b, `mutation { createArtifact(input: { name: "v2", spec: ${spec('slow-start')} }) { ... on CreateArtifactPayload { artifact { id } } } }`);
      await gql(b, `mutation($id: ID!, $a: ID!) { replaceWorkloadArtifact(input: { id: $id, artifactId: $a }) { __typename } }`, { id, a: next.createArtifact.artifact.id });
      await vi.waitFor(async () => expect((await state(a, id)).replacement?.status).toBe('INITIALIZING'), { timeout: 30_000, interval: 20 });

      // The leader dies: it stops renewing and never releases the lease.
      const died = Date.now();
      await a.leadership.elector!.abandon();
      await a.runtime.stop();
      await vi.waitFor(() => expect(b.leadership.isLeader()).toBe(true), { timeout: 10_000, interval: 20 });
      // Taken over within the lease duration plus a retry period or two.
      expect(Date.now() - died).toBeLessThan(3000 + 1500);
      expect(await holder()).toMatchObject({ holderIdentity: 'replica-b', leaseTransitions: 1 });

      const done = await vi.waitFor(async () => {
        const w = await state(b, id);
        expect(w.replacement?.status).toBe('COMPLETED');
        expect(w.protons).toHaveLength(1);
        return w;
      }, { timeout: 60_000, interval: 50 });
      expect(done.status).toBe('RUNNING');
      const candidate = rawId(done.protons[0]!.id);
      expect(candidate).not.toBe(rawId(running.protons[0]!.id));
      const { core, apps } = apis(kc);
      const service = await core.readNamespacedService({ name: routeObjectName(rawId(id)), namespace: namespace.name });
      expect(service.spec?.selector?.[LABELS.protonId]).toBe(candidate);
      await vi.waitFor(async () => {
        const deployments = await apps.listNamespacedDeployment({ namespace: namespace.name, labelSelector: `${LABELS.workloadId}=${rawId(id)}` });
        expect(deployments.items.map((d) => d.metadata?.labels?.[LABELS.protonId])).toEqual([candidate]);
      }, { timeout: 30_000, interval: 100 });

      // A replica that stops cleanly hands the lease over at once.
      await b.leadership.stop();
      expect((await holder())?.holderIdentity).toBe('');
    },
    150_000,
  );
});
