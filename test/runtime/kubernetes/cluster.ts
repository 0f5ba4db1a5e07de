/**
 * The real API server the Kubernetes tests run against: the kwok cluster of
 * `scripts/k8s-testenv.sh up`, found through K8S_TESTENV_KUBECONFIG. Without it the suite is
 * skipped, except under REQUIRE_ALL_BACKENDS=1 (CI), where it fails. Each test file works in a
 * namespace of its own.
 */
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { describe, test } from 'vitest';
import { KubernetesProtonRuntime, loadKubeConfig, type KubernetesRuntimeOptions } from '../../../src/runtime/kubernetes/index.js';

const kubeconfigPath = process.env.K8S_TESTENV_KUBECONFIG;
const requireAll = process.env.REQUIRE_ALL_BACKENDS === '1';

/** Why the Kubernetes suite cannot run here, if it cannot. */
export const kubernetesMissing = kubeconfigPath ? undefined : 'K8S_TESTENV_KUBECONFIG is not set (run scripts/k8s-testenv.sh up)';

/** The kubeconfig file of the test cluster. */
export function testKubeconfigPath(): string {
  if (!kubeconfigPath) throw new Error(kubernetesMissing);
  return kubeconfigPath;
}

/** Registers `body` when a cluster is configured; skips it otherwise, or fails under REQUIRE_ALL_BACKENDS=1. */
export function describeOnKubernetes(title: string, body: () => void): void {
  const name = `${title} [kubernetes]`;
  if (kubernetesMissing && requireAll) {
    describe(name, () => {
      test('needs a Kubernetes API server', () => {
        throw new Error(`REQUIRE_ALL_BACKENDS=1 but Kubernetes is unavailable: ${kubernetesMissing}`);
      });
    });
  } else {
    describe.skipIf(Boolean(kubernetesMissing))(name, body);
  }
}

/** A client configuration for the test cluster (or another kubeconfig), loaded as the product loads one. */
export function testKubeConfig(path = testKubeconfigPath()): KubeConfig {
  return loadKubeConfig({ kubeconfigPath: path });
}

/** A fresh namespace, ready for pods (its default ServiceAccount exists); `remove` deletes it. */
export async function createTestNamespace(kc: KubeConfig, prefix = 'wl-test'): Promise<{ name: string; remove: () => Promise<void> }> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'workload-api.test/namespace': 'true' } } } });
  await until(async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
  }, 30_000);
  return {
    name,
    remove: async () => {
      await core.deleteNamespace({ name }).catch(() => undefined);
    },
  };
}

/** A started Kubernetes runtime on the namespace, with quick recovery for tests. */
export async function startedRuntime(
  kc: KubeConfig,
  namespace: string,
  options: Partial<KubernetesRuntimeOptions> = {},
): Promise<KubernetesProtonRuntime> {
  const runtime = new KubernetesProtonRuntime({
    kubeConfig: kc,
    namespace,
    informer: { initialBackoffMs: 100, maxBackoffMs: 2_000, ...options.informer },
    onError: () => {},
    ...options,
  });
  await runtime.start();
  return runtime;
}

/** Raw API clients for assertions that look past the port. */
export function apis(kc: KubeConfig) {
  return { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

/** Labels a pod so that the kwok Stages play a scenario on it (e.g. `crash-loop`). */
export async function setPodScenario(kc: KubeConfig, namespace: string, pod: V1Pod, scenario: string): Promise<void> {
  const { core } = apis(kc);
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await core.patchNamespacedPod(
    { name: pod.metadata!.name!, namespace, body: { metadata: { labels: { 'workload-api.test/scenario': scenario } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Retries `check` until it passes or the deadline ends (then throws its last error). */
export async function until<T>(check: () => Promise<T> | T, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
