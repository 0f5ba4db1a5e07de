/**
 * The informers of the Kubernetes runtime: pods (the port's `watchPods`/`listPods`), and the
 * Deployments and Services a controller pass reads (ADR 0044). All three are `Informer`s
 * (./informer.ts) on the product's label selector in the runtime's namespace.
 */
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1Deployment, type V1Pod, type V1Service } from '@kubernetes/client-node';
import type { PodEvent, PodEventHandler, Unsubscribe } from '../proton-runtime.js';
import { Informer, type InformerEvent, type InformerOptions } from './informer.js';

export { backoffDelay, deepFreeze } from './informer.js';

/** Tuning of a pod informer (any informer of the runtime); the defaults suit production. */
export type PodInformerOptions = InformerOptions;

const collection = (namespace: string, group: string, plural: string) =>
  `${group === '' ? '/api/v1' : `/apis/${group}/v1`}/namespaces/${encodeURIComponent(namespace)}/${plural}`;

/** A self-healing list+watch of pods whose events are the port's `PodEvent`s. */
export class PodInformer extends Informer<V1Pod> {
  constructor(kubeConfig: KubeConfig, options: InformerOptions) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    super(
      kubeConfig,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        path: collection(options.namespace, '', 'pods'),
        list: (labelSelector) => core.listNamespacedPod({ namespace: options.namespace, labelSelector }),
      },
      options,
    );
  }

  /** Subscribes a handler of pod events; with `replay`, it first gets an `added` event per cached pod. */
  subscribePods(handler: PodEventHandler, replay = false): Unsubscribe {
    return this.subscribe((event) => handler(podEvent(event)), replay);
  }
}

function podEvent(event: InformerEvent<V1Pod>): PodEvent {
  switch (event.type) {
    case 'added':
    case 'deleted':
      return { type: event.type, pod: event.object };
    case 'modified':
      return { type: 'modified', pod: event.object, previous: event.previous };
    case 'error':
      return event;
  }
}

/** An informer of the runtime's Deployments (one per proton). */
export function deploymentInformer(kubeConfig: KubeConfig, options: InformerOptions): Informer<V1Deployment> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  return new Informer<V1Deployment>(
    kubeConfig,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      path: collection(options.namespace, 'apps', 'deployments'),
      list: (labelSelector) => apps.listNamespacedDeployment({ namespace: options.namespace, labelSelector }),
    },
    options,
  );
}

/** An informer of the runtime's Services (one per workload route). */
export function serviceInformer(kubeConfig: KubeConfig, options: InformerOptions): Informer<V1Service> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return new Informer<V1Service>(
    kubeConfig,
    {
      apiVersion: 'v1',
      kind: 'Service',
      path: collection(options.namespace, '', 'services'),
      list: (labelSelector) => core.listNamespacedService({ namespace: options.namespace, labelSelector }),
    },
    options,
  );
}
