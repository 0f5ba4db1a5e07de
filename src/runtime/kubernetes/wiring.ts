/**
 * How `buildApp` gets the cluster runtime and the leadership that runs the controller, from the
 * parsed configuration: the simulated default is one process that always leads; Kubernetes mode
 * is a `KubernetesProtonRuntime` plus, unless disabled, a Lease election.
 */
import type { Logger } from 'pino';
import type { ProtonRuntime } from '../proton-runtime.js';
import { loadKubeConfig } from './kube-config.js';
import { KubernetesProtonRuntime } from './kubernetes-runtime.js';
import { leaseLeadership, singleProcessLeadership, type LeaderWork, type Leadership } from './leadership.js';

export { KubernetesProtonRuntime };

/** The Kubernetes part of the configuration (`Config['runtime']` when `RUNTIME=kubernetes`). */
export interface KubernetesRuntimeConfig {
  readonly kind: 'kubernetes';
  readonly namespace: string;
  readonly kubeconfigPath?: string;
  readonly inCluster: boolean;
  readonly leaderElection: {
    readonly leaseName: string;
    readonly identity?: string;
    readonly leaseDurationMs: number;
    readonly renewDeadlineMs: number;
    readonly retryPeriodMs: number;
  } | null;
}

/** Where protons run, as configured. */
export type RuntimeConfig = { readonly kind: 'simulated' } | KubernetesRuntimeConfig;

/** A Kubernetes runtime on the configured namespace and credentials. */
export function createKubernetesRuntime(config: KubernetesRuntimeConfig, logger: Logger): KubernetesProtonRuntime {
  const log = logger.child({ component: 'kubernetes' });
  return new KubernetesProtonRuntime({
    kubeConfig: loadKubeConfig({ ...(config.kubeconfigPath && { kubeconfigPath: config.kubeconfigPath }), inCluster: config.inCluster }),
    namespace: config.namespace,
    onError: (err, context) => log.warn({ err, context }, 'kubernetes runtime: recovering'),
  });
}

/** Who runs the controller: always this process, or the holder of the configured Lease. */
export function leadershipFor(runtimeConfig: RuntimeConfig, controller: LeaderWork, runtime: ProtonRuntime, logger: Logger): Leadership {
  if (runtimeConfig.kind !== 'kubernetes' || runtimeConfig.leaderElection === null) return singleProcessLeadership(controller);
  const log = logger.child({ component: 'leader-election' });
  const election = runtimeConfig.leaderElection;
  const kubeConfig = loadKubeConfig({
    ...(runtimeConfig.kubeconfigPath && { kubeconfigPath: runtimeConfig.kubeconfigPath }),
    inCluster: runtimeConfig.inCluster,
  });
  const leadership = leaseLeadership(
    {
      start: async () => {
        log.info({ identity: leadership.elector?.identity, lease: election.leaseName }, 'became the leader: starting the controller');
        await controller.start();
      },
      stop: async () => {
        log.info({ identity: leadership.elector?.identity }, 'no longer the leader: stopping the controller');
        await controller.stop();
      },
    },
    runtime,
    {
      kubeConfig,
      namespace: runtimeConfig.namespace,
      leaseName: election.leaseName,
      ...(election.identity && { identity: election.identity }),
      leaseDurationMs: election.leaseDurationMs,
      renewDeadlineMs: election.renewDeadlineMs,
      retryPeriodMs: election.retryPeriodMs,
      onError: (err, context) => log.warn({ err, context }, 'leader election: attempt failed'),
    },
  );
  return leadership;
}
