/** The Kubernetes adapter of the `ProtonRuntime` port, its pod informer and Lease leader election. */
export { KubernetesProtonRuntime } from './kubernetes-runtime.js';
export type { KubernetesRuntimeOptions } from './kubernetes-runtime.js';
export { PodInformer, backoffDelay, deepFreeze, deploymentInformer, serviceInformer } from './informers.js';
export { Informer } from './informer.js';
export type { InformerEvent } from './informer.js';
export type { PodInformerOptions } from './informers.js';
export { LeaseLeaderElector, defaultIdentity, microTime } from './leader-election.js';
export type { LeaderElectionOptions } from './leader-election.js';
export { leaseLeadership, singleProcessLeadership } from './leadership.js';
export type { LeaderWork, Leadership } from './leadership.js';
export { loadKubeConfig } from './kube-config.js';
export type { KubeConfigSource } from './kube-config.js';
export { toRuntimeError } from './errors.js';
