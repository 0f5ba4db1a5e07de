/**
 * Readiness, metrics and shutdown of an API replica with `RUNTIME=kubernetes`: the leader is
 * ready only with a synced pod cache, reports its informer, and releases the Lease when it stops.
 */
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { loadConfig } from '../../../src/config.js';
import { KubernetesProtonRuntime } from '../../../src/runtime/kubernetes/index.js';
import { eventually } from '../../support/live.js';
import { scrape } from '../../support/observe.js';
import { testEnvironment } from '../../support/ports.js';
import { createTestNamespace, describeOnKubernetes, testKubeConfig, testKubeconfigPath } from './cluster.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

describeOnKubernetes('observability of a Kubernetes replica', () => {
  it('is ready as the leader with a synced pod cache, unready without one, reports its informer, and releases the Lease on stop', async () => {
    const kc = testKubeConfig();
    const namespace = await createTestNamespace(kc, 'wl-obs');
    cleanups.push(namespace.remove);
    const leaseName = `workload-api-${randomBytes(3).toString('hex')}`;
    const app = await buildApp({
      config: loadConfig(
        testEnvironment({
          RUNTIME: 'kubernetes',
          KUBECONFIG: testKubeconfigPath(),
          KUBERNETES_NAMESPACE: namespace.name,
          LEADER_ELECTION_LEASE_NAME: leaseName,
          LEADER_ELECTION_IDENTITY: 'replica-obs',
          LEADER_ELECTION_LEASE_SECONDS: '3',
          LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '2',
          LEADER_ELECTION_RETRY_SECONDS: '0.25',
        }),
      ),
      database: { kind: 'pglite-memory' },
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    cleanups.push(() => app.stop());
    const url = await app.start();
    await eventually(() => app.leadership.isLeader(), 'leadership');
    const holder = async () => (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: namespace.name })).spec;
    expect((await holder())?.holderIdentity).toBe('replica-obs');

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ failing: [], checks: { database: { ok: true }, informer: { ok: true } } });
    const read = await scrape(url);
    expect(read('workload_api_leader')).toBe(1);
    expect(read('workload_api_pod_informer_synced')).toBe(1);
    expect(read('workload_api_pod_informer_restarts_total')).toBe(0);

    // A leader whose pod cache is gone must not get traffic that acts on it.
    if (!(app.runtime instanceof KubernetesProtonRuntime)) throw new Error('expected the Kubernetes runtime');
    app.runtime.informer.stop();
    const unready = await fetch(`${url}/readyz`);
    expect(unready.status).toBe(503);
    expect(await unready.json()).toMatchObject({ failing: ['informer'], checks: { database: { ok: true }, informer: { ok: false } } });
    expect((await scrape(url))('workload_api_pod_informer_synced')).toBe(0);

    await app.stop();
    expect(app.leadership.isLeader()).toBe(false);
    // Released, not left to expire: another replica takes over at once.
    expect((await holder())?.holderIdentity).toBe('');
  }, 60_000);
});
