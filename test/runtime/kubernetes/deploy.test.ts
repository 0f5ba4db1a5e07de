/**
 * `deploy/` on a real API server: `kubectl apply -f deploy/` (the user's command) brings up two
 * ready API pods, and the service account it creates can do exactly what the Kubernetes runtime
 * and the leader election call, with a token minted by the TokenRequest API, and nothing else.
 *
 * The manifests use fixed names (namespaces `workload-api` and `workload-api-protons`, a
 * ClusterRole and ClusterRoleBinding): this file owns them on the test cluster, and removes any
 * left over by an aborted run first.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  SchedulingV1Api,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/config.js';
import { LABELS, PRIORITY_CLASSES } from '../../../src/runtime/conventions.js';
import { httpStatusOf } from '../../../src/runtime/kubernetes/errors.js';
import { createKubernetesRuntime, leadershipFor } from '../../../src/runtime/kubernetes/wiring.js';
import type { PodEvent } from '../../../src/runtime/proton-runtime.js';
import { protonRevision } from '../../../src/runtime/proton-spec.js';
import { deployment, exampleSecretEnv, loadManifests, repositoryRoot } from '../../deploy/manifests.js';
import { isServing, protonSpec, withEnv } from '../support.js';
import { describeOnKubernetes, testKubeConfig, testKubeconfigPath, until } from './cluster.js';

const execFileAsync = promisify(execFile);
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const manifests = deployment();
const apiNamespace = manifests.deployment.metadata!.namespace!;
const protonsNamespace = manifests.role.metadata!.namespace!;
const serviceAccount = manifests.serviceAccount.metadata!.name!;

/** kubectl of the test control plane (scripts/k8s-testenv.sh builds it with the API server). */
function kubectlPath(): string {
  const bin = process.env.K8S_TESTENV_BIN ?? execFileSync(path.join(repositoryRoot, 'scripts/k8s-testenv.sh'), ['bin'], { encoding: 'utf8' }).trim();
  return path.join(bin, 'kubectl');
}

/** Runs kubectl as the cluster's administrator, from the repository root. */
async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(kubectlPath(), ['--kubeconfig', testKubeconfigPath(), ...args], { cwd: repositoryRoot, timeout: 120_000 });
}

/** The failure of `call`, which must fail. */
async function failureOf(call: () => Promise<unknown>): Promise<unknown> {
  const outcome = await call().then(
    () => ({ failed: false as const }),
    (error: unknown) => ({ failed: true as const, error }),
  );
  if (!outcome.failed) throw new Error('the call succeeded');
  return outcome.error;
}

/** A client configuration that authenticates as the deployment's service account, with a token from the TokenRequest API. */
async function serviceAccountKubeConfig(admin: KubeConfig): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  const request = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: apiNamespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (!token) throw new Error('the TokenRequest API returned no token');
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: serviceAccount, token }],
    contexts: [{ name: serviceAccount, cluster: cluster.name, user: serviceAccount }],
    currentContext: serviceAccount,
  });
  return kc;
}

describeOnKubernetes('the deployment manifests on a cluster', () => {
  const admin = () => testKubeConfig();
  let scratch: string;
  let applied: { stdout: string; stderr: string };
  let sa: KubeConfig;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'wl-deploy-'));
    const core = admin().makeApiClient(CoreV1Api);
    // Left over by an aborted run: gone before anything is applied again.
    await kubectl('delete', '-f', 'deploy/', '--ignore-not-found', '--wait=true', '--timeout=90s');
    await until(async () => {
      for (const name of [apiNamespace, protonsNamespace]) {
        const status = await core.readNamespace({ name }).then(() => 200, (e: unknown) => httpStatusOf(e));
        expect(status, `namespace ${name} still exists`).toBe(404);
      }
    }, 90_000, 250);

    applied = await kubectl('apply', '-f', 'deploy/');
    // The Secret, as the README says: from a filled-in copy of deploy/secret.example.env.
    const secretFile = path.join(scratch, 'secret.env');
    const filled = { ...exampleSecretEnv(), AUTH_JWT_SECRET: 'deploy-test-'.padEnd(48, 'x') };
    writeFileSync(secretFile, Object.entries(filled).map(([k, v]) => `${k}=${v}\n`).join(''));
    await kubectl('-n', apiNamespace, 'create', 'secret', 'generic', 'workload-api', `--from-env-file=${secretFile}`);
    sa = await serviceAccountKubeConfig(admin());
  }, 180_000);

  afterAll(async () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    await kubectl('delete', '-f', 'deploy/', '--ignore-not-found', '--wait=false').catch(() => undefined);
  });

  it('applies with one kubectl apply, without Pod Security warnings, and applying again changes nothing', async () => {
    const created = applied.stdout.trim().split('\n');
    expect(created).toHaveLength(loadManifests().length);
    for (const line of created) expect(line).toMatch(/ created$/);
    expect(applied.stderr).not.toMatch(/warning/i);
    await kubectl('apply', '-f', 'deploy/');
    // kubectl reports the PodDisruptionBudget "configured" every time (its selector is always
    // sent whole); the server's dry run says whether anything would change: exit 0, nothing.
    const diff = await kubectl('diff', '-f', 'deploy/');
    expect(diff.stdout).toBe('');
  });

  it('runs two API pods, Running and Ready, as the service account, and the disruption budget allows one down', async () => {
    const core = admin().makeApiClient(CoreV1Api);
    const apps = admin().makeApiClient(AppsV1Api);
    const secret = await core.readNamespacedSecret({ name: 'workload-api', namespace: apiNamespace });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(Object.keys(exampleSecretEnv()).sort());
    const selector = Object.entries(manifests.deployment.spec!.selector.matchLabels!)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = await until(async () => {
      const list = await core.listNamespacedPod({ namespace: apiNamespace, labelSelector: selector });
      const live = list.items.filter((p) => !p.metadata?.deletionTimestamp);
      expect(live).toHaveLength(2);
      for (const p of live) {
        expect(p.status?.phase).toBe('Running');
        expect(p.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      }
      return live;
    }, 60_000, 250);
    for (const p of pods) {
      expect(p.spec?.serviceAccountName).toBe(serviceAccount);
      expect(p.spec?.securityContext?.runAsNonRoot).toBe(true);
      expect(p.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem).toBe(true);
    }
    const d = await until(async () => {
      const read = await apps.readNamespacedDeployment({ name: 'workload-api', namespace: apiNamespace });
      expect(read.status?.readyReplicas).toBe(2);
      expect(read.status?.availableReplicas).toBe(2);
      return read;
    }, 60_000, 250);
    expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    const policy = admin().makeApiClient(PolicyV1Api);
    await until(async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'workload-api', namespace: apiNamespace });
      expect(pdb.status?.currentHealthy).toBe(2);
      expect(pdb.status?.disruptionsAllowed).toBe(1);
    }, 60_000, 250);
  });

  it('lets the service account run the runtime and the leader election: PriorityClasses, protons, scaling, routes, pods, the Lease', async () => {
    // The app's own wiring, configured by the ConfigMap, with the token in a kubeconfig file.
    const kubeconfigFile = path.join(scratch, 'service-account.kubeconfig');
    writeFileSync(kubeconfigFile, sa.exportConfig());
    const config: Config = loadConfig({
      ...manifests.configMap.data,
      ...exampleSecretEnv(),
      AUTH_JWT_SECRET: 'x'.repeat(48),
      KUBECONFIG: kubeconfigFile,
    });
    if (config.runtime.kind !== 'kubernetes') throw new Error('the ConfigMap does not select the Kubernetes runtime');
    expect(config.runtime.namespace).toBe(protonsNamespace);
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const runtime = createKubernetesRuntime(config.runtime, logger);
    const work = { started: 0, stopped: 0 };
    const leadership = leadershipFor(
      config.runtime,
      {
        start: async () => void (work.started += 1),
        stop: async () => void (work.stopped += 1),
      },
      runtime,
      logger,
    );
    const adminCore = admin().makeApiClient(CoreV1Api);
    const adminApps = admin().makeApiClient(AppsV1Api);
    const coordination = admin().makeApiClient(CoordinationV1Api);
    const leaseName = config.runtime.leaderElection!.leaseName;
    const events: PodEvent[] = [];
    try {
      // runtime.start() (PriorityClasses, first pod list, watch), then the election: create the Lease.
      await leadership.start();
      const scheduling = admin().makeApiClient(SchedulingV1Api);
      for (const pc of Object.values(PRIORITY_CLASSES)) expect((await scheduling.readPriorityClass({ name: pc.name })).value).toBe(pc.value);
      // The runtime found them (15-priorityclasses.yaml) by reading: creating one is not its to do.
      for (const pc of Object.values(PRIORITY_CLASSES)) await sa.makeApiClient(SchedulingV1Api).readPriorityClass({ name: pc.name });

      await until(() => expect(leadership.isLeader()).toBe(true), 30_000);
      // The new leader relists its caches (list on pods, Deployments, Services), then starts the work.
      await until(() => expect(work.started).toBe(1), 30_000);
      const lease = await coordination.readNamespacedLease({ name: leaseName, namespace: protonsNamespace });
      expect(lease.spec?.holderIdentity).toBe(leadership.elector!.identity);
      // Renewal: read it, patch it.
      await until(() => expect(leadership.elector!.stats.renewed).toBeGreaterThanOrEqual(1), 30_000, 100);

      const unsubscribe = runtime.watchPods((e) => void events.push(e));
      const spec = protonSpec({ replicas: 1, importance: 'low' });
      const { protonId, workloadId } = spec;
      const serving = (count: number, revision = protonRevision(spec)) =>
        until(async () => {
          const pods = await runtime.listPods({ protonId });
          expect(pods).toHaveLength(count);
          for (const p of pods) {
            expect(isServing(p)).toBe(true);
            expect(p.metadata?.labels?.[LABELS.revision]).toBe(revision);
          }
          return pods;
        }, 60_000, 100);

      await runtime.applyProton(spec); // create
      await serving(1);
      await runtime.scaleProton(protonId, 2); // get, patch
      await serving(2);
      const next = withEnv({ ...spec, replicas: 2 }, [{ name: 'GREETING', value: 'deployed' }]);
      await runtime.applyProton(next); // get, update
      await serving(2, protonRevision(next));

      expect(await runtime.routeWorkload(workloadId, protonId)).toEqual({ workloadId, protonId }); // get, create
      expect(await runtime.routeWorkload(workloadId, null)).toEqual({ workloadId, protonId: null }); // get, update
      expect(await runtime.routeWorkload(workloadId, protonId)).toEqual({ workloadId, protonId });
      expect(await runtime.resolveRoute(workloadId)).toMatchObject({ kind: 'forward', protonId });

      // list and patch Deployments, list and patch pods, patch the Service.
      await runtime.setImportance(workloadId, 'high');
      const relabelled = await adminApps.readNamespacedDeployment({ name: `proton-${protonId}`, namespace: protonsNamespace });
      expect(relabelled.metadata?.labels?.[LABELS.importance]).toBe('high');
      const livePods = await adminCore.listNamespacedPod({ namespace: protonsNamespace, labelSelector: `${LABELS.protonId}=${protonId}` });
      expect(livePods.items.filter((p: V1Pod) => !p.metadata?.deletionTimestamp).map((p: V1Pod) => p.metadata?.labels?.[LABELS.importance])).toEqual(['high', 'high']);
      const service = await adminCore.readNamespacedService({ name: `workload-${workloadId}`, namespace: protonsNamespace });
      expect(service.metadata?.labels?.[LABELS.importance]).toBe('high');

      expect((await runtime.listProtons({ workloadId })).map((p) => p.protonId)).toEqual([protonId]);
      expect((await runtime.getProton(protonId))?.replicas).toBe(2);

      await runtime.deleteRoute(workloadId); // delete
      expect(await runtime.getRoute(workloadId)).toBeUndefined();
      await runtime.deleteProton(protonId); // delete, foreground
      await until(async () => {
        expect(await runtime.listPods({ protonId })).toHaveLength(0);
        expect(await runtime.getProton(protonId)).toBeUndefined();
      }, 60_000, 100);
      unsubscribe();

      // Every pod change reached the informer by its watch: the first list and the new leader's
      // relist (ADR 0044), no failure, no other relist.
      const kinds = new Set(events.filter((e) => e.type !== 'error' && e.pod.metadata?.labels?.[LABELS.protonId] === protonId).map((e) => e.type));
      expect([...kinds].sort()).toEqual(['added', 'deleted', 'modified']);
      expect(events.filter((e) => e.type === 'error')).toEqual([]);
      expect(runtime.informer.stats.lists).toBe(2);

      // Stop: the controller stops, the Lease is released (read, patch).
      await leadership.stop();
      expect(work.stopped).toBe(1);
      const released = await coordination.readNamespacedLease({ name: leaseName, namespace: protonsNamespace });
      expect(released.spec?.holderIdentity).toBe('');
      expect(warnings).toEqual([]);
    } finally {
      await leadership.stop();
      await runtime.stop();
    }
  }, 180_000);

  it('refuses the service account everything else: Secrets, other namespaces, PriorityClass changes, Nodes, bare pods, RBAC, other Leases', async () => {
    const core = sa.makeApiClient(CoreV1Api);
    const apps = sa.makeApiClient(AppsV1Api);
    const scheduling = sa.makeApiClient(SchedulingV1Api);
    const rbac = sa.makeApiClient(RbacAuthorizationV1Api);
    const coordination = sa.makeApiClient(CoordinationV1Api);
    const [node] = (await admin().makeApiClient(CoreV1Api).listNode()).items;
    const aDeployment = (namespace: string): V1Deployment => ({
      metadata: { name: 'intruder', namespace },
      spec: {
        selector: { matchLabels: { app: 'intruder' } },
        template: { metadata: { labels: { app: 'intruder' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      },
    });
    const aPod: V1Pod = { metadata: { name: 'intruder' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    // Writes are dry runs: were one allowed, nothing would change.
    const refusals: [string, () => Promise<unknown>][] = [
      ['list Secrets in its own namespace', () => core.listNamespacedSecret({ namespace: apiNamespace })],
      ['list Secrets where protons run', () => core.listNamespacedSecret({ namespace: protonsNamespace })],
      ['read a Secret', () => core.readNamespacedSecret({ name: 'workload-api', namespace: apiNamespace })],
      ['read its ConfigMap', () => core.readNamespacedConfigMap({ name: 'workload-api', namespace: apiNamespace })],
      ['create a Deployment in its own namespace', () => apps.createNamespacedDeployment({ namespace: apiNamespace, body: aDeployment(apiNamespace), dryRun: 'All' })],
      ['create a Deployment in default', () => apps.createNamespacedDeployment({ namespace: 'default', body: aDeployment('default'), dryRun: 'All' })],
      ['list Deployments in another namespace', () => apps.listNamespacedDeployment({ namespace: 'default' })],
      ['watch Deployments in another namespace', () => apps.listNamespacedDeployment({ namespace: 'default', watch: true, timeoutSeconds: 1 })],
      ['watch Services in another namespace', () => core.listNamespacedService({ namespace: 'default', watch: true, timeoutSeconds: 1 })],
      ['delete a PriorityClass', () => scheduling.deletePriorityClass({ name: PRIORITY_CLASSES.low.name, dryRun: 'All' })],
      ['create a PriorityClass', () => scheduling.createPriorityClass({ body: { metadata: { name: 'intruder' }, value: 1_000_000_000, globalDefault: true }, dryRun: 'All' })],
      ['read a PriorityClass not of workloads', () => scheduling.readPriorityClass({ name: 'system-cluster-critical' })],
      ['list PriorityClasses', () => scheduling.listPriorityClass()],
      ['label a Node', () => core.patchNode({ name: node!.metadata!.name!, body: { metadata: { labels: { intruder: 'yes' } } }, dryRun: 'All' }, MERGE_PATCH)],
      ['create a pod directly', () => core.createNamespacedPod({ namespace: protonsNamespace, body: aPod, dryRun: 'All' })],
      ['delete pods', () => core.deleteCollectionNamespacedPod({ namespace: protonsNamespace, dryRun: 'All' })],
      ['read a pod', () => core.readNamespacedPod({ name: 'any', namespace: protonsNamespace })],
      [
        'bind itself cluster-admin where protons run',
        () =>
          rbac.createNamespacedRoleBinding({
            namespace: protonsNamespace,
            body: {
              metadata: { name: 'intruder' },
              roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
              subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: apiNamespace }],
            },
            dryRun: 'All',
          }),
      ],
      ['widen its Role', () => rbac.patchNamespacedRole({ name: manifests.role.metadata!.name!, namespace: protonsNamespace, body: { rules: [] }, dryRun: 'All' }, MERGE_PATCH)],
      ['take another Lease', () => coordination.patchNamespacedLease({ name: 'kube-scheduler', namespace: protonsNamespace, body: { spec: { holderIdentity: 'intruder' } }, dryRun: 'All' }, MERGE_PATCH)],
      ['delete its Lease', () => coordination.deleteNamespacedLease({ name: 'workload-api-controller', namespace: protonsNamespace, dryRun: 'All' })],
      ['mint tokens for itself', () => core.createNamespacedServiceAccountToken({ name: serviceAccount, namespace: apiNamespace, body: { spec: { audiences: [] } } })],
      ['list namespaces', () => core.listNamespace()],
    ];
    const statuses = await Promise.all(refusals.map(async ([what, call]) => [what, httpStatusOf(await failureOf(call))] as const));
    expect(Object.fromEntries(statuses)).toEqual(Object.fromEntries(refusals.map(([what]) => [what, 403])));

    // And in the authorizer's own words, each verb on each resource the runtime touches.
    const authz = sa.makeApiClient(AuthorizationV1Api);
    const can = async (verb: string, group: string, resource: string, namespace?: string, name?: string) => {
      const review = await authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, group, resource, ...(namespace && { namespace }), ...(name && { name }) } } },
      });
      return review.status?.allowed ?? false;
    };
    const table: [verb: string, group: string, resource: string, allowed: boolean, name?: string][] = [
      // list and watch: the informers the controller reads from (ADR 0044).
      ...['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].map((v) => [v, 'apps', 'deployments', true] as [string, string, string, boolean]),
      ['deletecollection', 'apps', 'deployments', false],
      ...['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'].map((v) => [v, '', 'services', true] as [string, string, string, boolean]),
      ['deletecollection', '', 'services', false],
      ...['list', 'watch', 'patch'].map((v) => [v, '', 'pods', true] as [string, string, string, boolean]),
      ['get', '', 'pods', false],
      ['create', '', 'pods', false],
      ['delete', '', 'pods', false],
      ['create', '', 'pods/exec', false],
      ['create', 'coordination.k8s.io', 'leases', true],
      ['get', 'coordination.k8s.io', 'leases', true, 'workload-api-controller'],
      ['patch', 'coordination.k8s.io', 'leases', true, 'workload-api-controller'],
      ['update', 'coordination.k8s.io', 'leases', false, 'workload-api-controller'],
      ['get', 'coordination.k8s.io', 'leases', false, 'another'],
      ['list', 'coordination.k8s.io', 'leases', false],
      ['create', '', 'events', false],
      ['create', 'events.k8s.io', 'events', false],
      ['get', '', 'secrets', false],
      ['create', '', 'serviceaccounts/token', false],
      ['create', 'rbac.authorization.k8s.io', 'rolebindings', false],
      ['escalate', 'rbac.authorization.k8s.io', 'roles', false],
      ['bind', 'rbac.authorization.k8s.io', 'clusterroles', false],
      ['impersonate', '', 'serviceaccounts', false],
    ];
    const answers = await Promise.all(table.map(async ([verb, group, resource, , name]) => [`${verb} ${group || 'core'}/${resource}${name ? `/${name}` : ''}`, await can(verb, group, resource, protonsNamespace, name)] as const));
    expect(Object.fromEntries(answers)).toEqual(Object.fromEntries(table.map(([verb, group, resource, allowed, name]) => [`${verb} ${group || 'core'}/${resource}${name ? `/${name}` : ''}`, allowed])));
    // Nothing at all in its own namespace (beyond what every authenticated user may do).
    expect(await can('create', 'apps', 'deployments', apiNamespace)).toBe(false);
    expect(await can('get', '', 'configmaps', apiNamespace)).toBe(false);
    // PriorityClasses: get on the four of workloads, and nothing else.
    for (const pc of Object.values(PRIORITY_CLASSES)) expect(await can('get', 'scheduling.k8s.io', 'priorityclasses', undefined, pc.name), pc.name).toBe(true);
    expect(await can('get', 'scheduling.k8s.io', 'priorityclasses', undefined, 'system-cluster-critical')).toBe(false);
    for (const verb of ['create', 'list', 'watch', 'update', 'patch', 'delete']) expect(await can(verb, 'scheduling.k8s.io', 'priorityclasses'), verb).toBe(false);
  });
});
