/** Kubernetes settings are parsed once, at the edge, with every mistake named. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { testEnvironment } from '../../support/ports.js';

describe('Kubernetes configuration', () => {
  it('runs the simulated cluster unless told otherwise', () => {
    expect(loadConfig(testEnvironment()).runtime).toEqual({ kind: 'simulated' });
  });

  it('reads namespace, kubeconfig and leader election for RUNTIME=kubernetes', () => {
    const config = loadConfig(
      testEnvironment({ RUNTIME: 'kubernetes', KUBERNETES_NAMESPACE: 'workloads', KUBECONFIG: '/etc/kube/config', LEADER_ELECTION_IDENTITY: 'pod-a' }),
    );
    expect(config.runtime).toEqual({
      kind: 'kubernetes',
      namespace: 'workloads',
      kubeconfigPath: '/etc/kube/config',
      inCluster: false,
      leaderElection: { leaseName: 'workload-api-controller', identity: 'pod-a', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  });

  it('uses the service account inside a cluster, and can run without leader election', () => {
    const config = loadConfig(testEnvironment({ RUNTIME: 'kubernetes', KUBERNETES_SERVICE_HOST: '10.0.0.1', LEADER_ELECTION: 'false' }));
    expect(config.runtime).toMatchObject({ kind: 'kubernetes', namespace: 'default', inCluster: true, leaderElection: null });
  });

  it.each([
    [{ RUNTIME: 'docker' }, 'RUNTIME'],
    [{ KUBERNETES_NAMESPACE: 'Not_A_Namespace' }, 'KUBERNETES_NAMESPACE'],
    [{ LEADER_ELECTION_LEASE_SECONDS: '5', LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '5' }, 'LEADER_ELECTION_'],
  ])('refuses %o, naming %s', (env, name) => {
    expect(() => loadConfig(testEnvironment(env))).toThrow(ConfigError);
    expect(() => loadConfig(testEnvironment(env))).toThrow(name);
  });
});
