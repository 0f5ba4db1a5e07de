/** Where the Kubernetes credentials come from: a kubeconfig file, or the pod's service account. */
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
  return kc;
}
