/** Where the Kubernetes credentials come from: a kubeconfig file, or the pod's service account. */
import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

/** How to reach the cluster (parsed by `config.ts`). */
export interface KubeConfigSource {
  /** A kubeconfig file (`KUBECONFIG`); wins over everything else. */
  readonly kubeconfigPath?: string;
  /** Running in a pod (`KUBERNETES_SERVICE_HOST` is set): use its service account. */
  readonly inCluster?: boolean;
}

/** Loads credentials: the kubeconfig file if given, the service account inside a pod, else `~/.kube/config`. */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  if (source.kubeconfigPath) kc.loadFromFile(source.kubeconfigPath);
  else if (source.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  return reusingConnections(kc);
}

type AgentFactory = (cluster: { server?: string; proxyUrl?: string } | null, options: Record<string, unknown>) => Agent;

/**
 * Makes `kc` hand every request of the same cluster and credentials one keep-alive agent. The
 * client (1.4) builds a new agent per request, so each call to the API server opened a new TLS
 * connection and a new secure context (the CA, certificate and key parsed again): a sixth of the
 * CPU of a process whose only client was a status patch per 150 ms (bench/propagation). Agents
 * are keyed by everything they are built from, so new credentials (a rotated certificate, a
 * reloaded kubeconfig) get a new one. Wraps the client's agent factory (`createAgent`, private in
 * its types); test/runtime/kubernetes/kube-config.test.ts fails if a new version renames it.
 */
export function reusingConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createAgent?: AgentFactory };
  const create = target.createAgent?.bind(kc);
  if (!create) throw new Error('@kubernetes/client-node no longer has KubeConfig.createAgent: connection reuse needs another hook');
  const agents = new Map<string, Agent>();
  target.createAgent = (cluster, options) => {
    const key = agentKey(cluster, options);
    let agent = agents.get(key);
    if (!agent) {
      agent = create(cluster, { ...options, keepAlive: true });
      agents.set(key, agent);
    }
    return agent;
  };
  return kc;
}

function agentKey(cluster: { server?: string; proxyUrl?: string } | null, options: Record<string, unknown>): string {
  const hash = createHash('sha256');
  hash.update(`${cluster?.server ?? ''}\n${cluster?.proxyUrl ?? ''}\n`);
  for (const name of Object.keys(options).sort()) {
    const value = options[name];
    if (value === undefined) continue;
    hash.update(`${name}=`);
    hash.update(Buffer.isBuffer(value) ? value : typeof value === 'string' ? value : JSON.stringify(value) ?? '');
    hash.update('\n');
  }
  return hash.digest('hex');
}
