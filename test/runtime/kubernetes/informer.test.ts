/**
 * The pod informer recovers from what real connections do: a watch that goes silent without
 * closing, and an API server restarted while pods vanish. In each case the pods it hands out end
 * equal to a fresh list, and the pods that vanished meanwhile arrive as `deleted` events.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, type KubernetesProtonRuntime } from '../../../src/runtime/kubernetes/index.js';
import { PodTracker, isServing, protonSpec } from '../support.js';
import { apis, createTestNamespace, describeOnKubernetes, startedRuntime, testKubeConfig, until } from './cluster.js';
import { BreakableProxy, apiServerAddress } from './tcp-proxy.js';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, '../../../scripts/k8s-testenv.sh');

describe('informer back-off', () => {
  it.each([
    [0, 100, 50, 100],
    [1, 100, 100, 200],
    [3, 100, 400, 800],
    [10, 100, 15_000, 30_000],
    [50, 100, 15_000, 30_000],
  ])('waits, before retry %i from %i ms, between %i and %i ms (full jitter, capped at 30 s)', (attempt, initial, min, max) => {
    expect(backoffDelay(attempt, initial, 30_000, () => 0)).toBe(min);
    expect(backoffDelay(attempt, initial, 30_000, () => 1)).toBe(max);
  });
});

/** `name@resourceVersion` of pods, sorted: two views agree when these do. */
function keys(pods: Iterable<V1Pod>): string[] {
  return [...pods].map((p) => `${p.metadata?.name}@${p.metadata?.resourceVersion}`).sort();
}

/** The pods of the namespace as the API server lists them now. */
async function freshList(kc: KubeConfig, namespace: string): Promise<V1Pod[]> {
  return (await apis(kc).core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/managed-by=workload-api' })).items;
}

describeOnKubernetes('the pod informer', () => {
  let namespace: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    namespace = await createTestNamespace(testKubeConfig(), 'wl-informer');
  });
  afterAll(async () => {
    await namespace?.remove();
  });

  it('restarts a watch that went silent without closing, and catches up with a relist', async () => {
    const kc = testKubeConfig();
    const proxy = await BreakableProxy.start(apiServerAddress(kc));
    const watched = await startedRuntime(proxy.kubeConfigThrough(kc), namespace.name, {
      informer: { deadWatchMs: 1500, listTimeoutMs: 2000, initialBackoffMs: 100, maxBackoffMs: 500 },
    });
    const writer = await startedRuntime(kc, namespace.name);
    const tracker = new PodTracker(watched);
    try {
      const spec = protonSpec({ replicas: 1 });
      await writer.applyProton(spec);
      await until(() => expect(tracker.serving()).toHaveLength(1));
      proxy.freeze();
      await writer.scaleProton(spec.protonId, 3);
      await until(() => expect(tracker.serving()).toHaveLength(3), 30_000);
      expect(watched.informer.stats.deadWatches).toBeGreaterThanOrEqual(1);
      await until(async () => expect(keys(tracker.pods.values())).toEqual(keys(await freshList(kc, namespace.name))));
      await writer.deleteProton(spec.protonId);
    } finally {
      tracker.close();
      await watched.stop();
      await writer.stop();
      await proxy.close();
    }
  });
});

describeOnKubernetes('the pod informer across an API server restart', () => {
  const cluster = `wl-restart-${randomBytes(3).toString('hex')}`;
  let kc: KubeConfig;
  let namespace: { name: string; remove: () => Promise<void> };
  const testenv = async (...args: string[]) => {
    const { stdout } = await run('bash', [script, ...args], { env: { ...process.env, K8S_TESTENV_NODES: '1' }, timeout: 240_000 });
    return stdout.trim().split('\n').at(-1) ?? '';
  };

  beforeAll(async () => {
    // A cluster of its own: restarting the shared one would break the other test files.
    kc = testKubeConfig(await testenv('up', cluster));
    namespace = await createTestNamespace(kc, 'wl-restart');
  }, 240_000);
  afterAll(async () => {
    await testenv('down', cluster).catch(() => undefined);
  }, 120_000);

  it('recovers after the API server restarts, with every pod that vanished meanwhile reported deleted', async () => {
    const proxy = await BreakableProxy.start(apiServerAddress(kc));
    let watched: KubernetesProtonRuntime | undefined;
    let writer: KubernetesProtonRuntime | undefined;
    let tracker: PodTracker | undefined;
    let stopErrors: (() => void) | undefined;
    try {
      watched = await startedRuntime(proxy.kubeConfigThrough(kc), namespace.name, {
        informer: { listTimeoutMs: 3000, initialBackoffMs: 100, maxBackoffMs: 1000 },
      });
      writer = await startedRuntime(kc, namespace.name);
      tracker = new PodTracker(watched);
      const errors: string[] = [];
      stopErrors = watched.watchPods((e) => {
        if (e.type === 'error') errors.push(e.error.kind);
      });
      const kept = protonSpec({ replicas: 3 });
      const removed = protonSpec({ replicas: 2 });
      await writer.applyProton(kept);
      await writer.applyProton(removed);
      await until(() => expect(tracker!.serving()).toHaveLength(5), 60_000);
      const removedPods = tracker.live().filter((p) => p.metadata?.labels?.['workload-api/proton-id'] === removed.protonId);

      // The API server restarts under the open watch (killed, then started again on the same etcd).
      await testenv('restart-apiserver', cluster);
      // The handlers were told that events may have been missed, as the port says.
      await until(() => expect(errors).toContain('Unavailable'), 10_000);
      // Then the watcher is cut off while pods go away and a proton shrinks.
      proxy.refuse();
      const direct = apis(kc);
      await until(async () => {
        await writer!.deleteProton(removed.protonId);
        await writer!.scaleProton(kept.protonId, 1);
      }, 60_000, 500);
      await until(async () => {
        const pods = await freshList(kc, namespace.name);
        expect(pods.filter(isServing)).toHaveLength(1);
        expect(pods).toHaveLength(1);
        // Foreground deletion: the Deployment goes only after the garbage collector removed its pods.
        expect((await direct.apps.listNamespacedDeployment({ namespace: namespace.name })).items).toHaveLength(1);
      }, 60_000);

      proxy.pass();
      await until(async () => expect(keys(tracker!.pods.values())).toEqual(keys(await freshList(kc, namespace.name))), 60_000);
      const deleted = new Set(tracker.events.flatMap((e) => (e.type === 'deleted' ? [e.pod.metadata?.name] : [])));
      for (const pod of removedPods) expect(deleted.has(pod.metadata?.name), `${pod.metadata?.name} reported deleted`).toBe(true);
      expect(watched.isSynced()).toBe(true);

      // And it keeps working: a new proton is seen through the restored watch.
      const after = protonSpec({ replicas: 1 });
      await watched.applyProton(after);
      await until(async () => expect((await watched!.listPods({ protonId: after.protonId })).filter(isServing)).toHaveLength(1), 30_000);
    } finally {
      tracker?.close();
      stopErrors?.();
      await watched?.stop();
      await writer?.stop();
      await proxy.close();
    }
  }, 240_000);
});
