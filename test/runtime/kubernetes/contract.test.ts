/** The Kubernetes adapter passes the `ProtonRuntime` contract on a real API server (kwok nodes). */
import { afterAll, beforeAll } from 'vitest';
import { describeProtonRuntimeContract } from '../contract.js';
import { createTestNamespace, describeOnKubernetes, startedRuntime, testKubeConfig } from './cluster.js';

describeOnKubernetes('the Kubernetes runtime', () => {
  let namespace: { name: string; remove: () => Promise<void> };
  beforeAll(async () => {
    namespace = await createTestNamespace(testKubeConfig(), 'wl-contract');
  });
  afterAll(async () => {
    await namespace.remove();
  });

  describeProtonRuntimeContract(
    'kubernetes (kwok)',
    async () => {
      const runtime = await startedRuntime(testKubeConfig(), namespace.name);
      return { runtime, dispose: () => runtime.stop() };
    },
    { convergeTimeoutMs: 30_000 },
  );
});
