/**
 * What `deploy/` must agree on with the code and with itself, checked without a cluster: the
 * configuration it passes parses (and points the runtime where RBAC grants rights), the probes
 * and ports are the app's, shutdown fits in the grace period, and the image runs as the user the
 * pod asks for. test/runtime/kubernetes/deploy.test.ts applies it to a real API server.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/config.js';
import { LABELS, MANAGED_BY, PRIORITY_CLASSES } from '../../src/runtime/conventions.js';
import { deployment, exampleSecretEnv, loadManifests, manifestFiles, repositoryRoot } from './manifests.js';

const objects = loadManifests();
const d = deployment(objects);
const pod = d.deployment.spec!.template.spec!;
const api = pod.containers.find((c) => c.name === 'api')!;
const filledSecret = { ...exampleSecretEnv(), AUTH_JWT_SECRET: 'x'.repeat(48) };
/** What the API's process sees in its pod: the ConfigMap, then the Secret, then the container's own env. */
const podEnvironment = {
  ...d.configMap.data,
  ...filledSecret,
  ...Object.fromEntries((api.env ?? []).map((e) => [e.name, e.value])),
  KUBERNETES_SERVICE_HOST: '10.96.0.1',
};

describe('the deployment manifests', () => {
  it('are applied in an order that creates each namespace before what lives in it', () => {
    expect(manifestFiles()[0]).toBe('00-namespaces.yaml');
    const namespaces = d.namespaces.map((n) => n.metadata!.name!);
    for (const o of objects) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PriorityClass'].includes(o.kind!);
      if (clusterScoped) {
        expect(o.metadata?.namespace, `${o.kind} ${o.metadata?.name}`).toBeUndefined();
      } else {
        // Explicit, so `kubectl apply` never falls back to the context's namespace.
        expect(namespaces, `${o.kind} ${o.metadata?.name}`).toContain(o.metadata?.namespace);
      }
    }
  });

  it('hold a configuration that the API accepts and that runs it on Kubernetes, in the namespace RBAC grants', () => {
    for (const key of Object.keys(d.configMap.data ?? {})) expect(CONFIG_VARIABLES, `ConfigMap key ${key}`).toContain(key);
    for (const key of Object.keys(filledSecret)) expect(CONFIG_VARIABLES, `Secret key ${key}`).toContain(key);
    const config = loadConfig(podEnvironment);
    expect(config.env).toBe('production');
    expect(config.auth.mode).toBe('jwt');
    expect(config.database.kind).toBe('postgres');
    expect(config.redis).not.toBeNull();
    expect(config.graphiql).toBe(false);
    if (config.runtime.kind !== 'kubernetes') throw new Error('RUNTIME is not kubernetes');
    expect(config.runtime.inCluster).toBe(true);
    expect(config.runtime.kubeconfigPath).toBeUndefined();
    expect(config.runtime.namespace).toBe(d.role.metadata?.namespace);
    expect(config.runtime.namespace).not.toBe(d.deployment.metadata?.namespace);
    const leaseRule = d.role.rules?.find((r) => r.resources?.includes('leases') && r.resourceNames !== undefined);
    expect(leaseRule?.resourceNames).toEqual([config.runtime.leaderElection?.leaseName]);
  });

  it('leave the example Secret unusable until it is filled in', () => {
    expect(() => loadConfig({ ...d.configMap.data, ...exampleSecretEnv() })).toThrow(ConfigError);
    expect(() => loadConfig({ ...d.configMap.data, ...exampleSecretEnv() })).toThrow(/AUTH_JWT_SECRET/);
  });

  it('read the environment from the ConfigMap and the Secret of the namespace, as the service account of the bindings', () => {
    expect(api.envFrom).toEqual([{ configMapRef: { name: d.configMap.metadata!.name } }, { secretRef: { name: 'workload-api' } }]);
    expect(d.configMap.metadata?.namespace).toBe(d.deployment.metadata?.namespace);
    expect(pod.serviceAccountName).toBe(d.serviceAccount.metadata?.name);
    const subject = { kind: 'ServiceAccount', name: d.serviceAccount.metadata?.name, namespace: d.serviceAccount.metadata?.namespace };
    expect(d.roleBinding.subjects).toEqual([subject]);
    expect(d.clusterRoleBinding.subjects).toEqual([subject]);
    expect(d.roleBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: d.role.metadata?.name });
    expect(d.clusterRoleBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: d.clusterRole.metadata?.name });
  });

  it('run two replicas probed on /healthz and /readyz at the port the API listens on', () => {
    const config = loadConfig(podEnvironment);
    expect(d.deployment.spec?.replicas).toBe(2);
    expect(api.ports).toEqual([{ name: 'http', containerPort: config.port, protocol: 'TCP' }]);
    expect(api.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(api.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(api.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(api.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(api.resources?.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('drain before shutting down, and shut down within the grace period', () => {
    const config = loadConfig(podEnvironment);
    // /readyz fails for a while before the listener closes: the Service's endpoints catch up.
    expect(config.shutdownDrainSeconds).toBeGreaterThan(0);
    // The process exits within SHUTDOWN_TIMEOUT_SECONDS of SIGTERM, drain included (main.ts);
    // a preStop hook would run before SIGTERM, inside the same grace period.
    const preStop = api.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + config.shutdownTimeoutSeconds + 5);
  });

  it('run the API as a non-root user, read-only, without capabilities or privilege escalation', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number), seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(api.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // The only writable path is an emptyDir.
    const writable = api.volumeMounts?.map((m) => pod.volumes?.find((v) => v.name === m.name));
    expect(writable?.every((v) => v?.emptyDir !== undefined)).toBe(true);
  });

  it('build an image that runs the compiled API as the pod user and exposes the API port', () => {
    const dockerfile = readFileSync(path.join(repositoryRoot, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m);
    const final = stages[stages.length - 1]!;
    const user = /^USER\s+(\S+)/m.exec(final)?.[1];
    // Numeric, so a kubelet can verify runAsNonRoot even without runAsUser.
    expect(user).toBe(`${pod.securityContext?.runAsUser}:${pod.securityContext?.runAsGroup}`);
    expect(/^EXPOSE\s+(\d+)/m.exec(final)?.[1]).toBe(String(api.ports?.[0]?.containerPort));
    // The entry point is what `npm run build` emits for src/main.ts (nothing compiles at start-up).
    const packageJson = JSON.parse(readFileSync(path.join(repositoryRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(packageJson.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    const build = JSON.parse(readFileSync(path.join(repositoryRoot, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
    const entry = path.posix.join(build.compilerOptions.outDir, path.posix.relative(build.compilerOptions.rootDir, 'src'), 'main.js');
    const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(final)?.[1] ?? '[]') as string[];
    expect(cmd[0]).toBe('node');
    expect(cmd.at(-1)).toBe(entry);
    expect(final).toMatch(new RegExp(`^COPY --from=build (--chown=${user} )?/app/${build.compilerOptions.outDir} `, 'm'));
  });

  it('apply the PriorityClasses the runtime expects, and let the service account only read those', () => {
    expect(Object.fromEntries(d.priorityClasses.map((pc) => [pc.metadata!.name, pc.value]))).toEqual(
      Object.fromEntries(Object.values(PRIORITY_CLASSES).map((pc) => [pc.name, pc.value])),
    );
    for (const pc of d.priorityClasses) expect(pc.globalDefault).toBe(false);
    expect(d.clusterRole.rules).toEqual([
      { apiGroups: ['scheduling.k8s.io'], resources: ['priorityclasses'], resourceNames: Object.values(PRIORITY_CLASSES).map((pc) => pc.name), verbs: ['get'] },
    ]);
  });

  it('send the Service and the disruption budget to the API pods, and keep them out of the pod informer', () => {
    const labels = d.deployment.spec!.template.metadata!.labels!;
    expect(d.deployment.spec?.selector.matchLabels).toEqual(labels);
    expect(labels).toMatchObject(d.service.spec!.selector!);
    expect(d.service.spec?.ports?.map((p) => p.targetPort)).toEqual(['http']);
    expect(d.podDisruptionBudget.spec?.minAvailable).toBe(1);
    expect(labels).toMatchObject(d.podDisruptionBudget.spec!.selector!.matchLabels!);
    expect(labels[LABELS.managedBy]).not.toBe(MANAGED_BY);
  });
});
