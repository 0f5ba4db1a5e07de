/**
 * The Kubernetes objects of the port, as pure functions: a proton's Deployment, a workload's
 * Service, and what an observed Deployment says about its proton. No I/O here, so every mapping
 * is testable without a cluster.
 */
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { IMPORTANCES, type Importance } from '../../domain/model.js';
import { ANNOTATIONS, LABELS, MANAGED_BY, protonObjectName, routeObjectName } from '../conventions.js';
import { PRIMARY_PORT_NAME, podTemplate, protonLabels } from '../pod-template.js';
import type { ObservedProton, ProtonSpec, RuntimeFilter, WorkloadRoute } from '../proton-runtime.js';
import { protonRevision } from '../proton-spec.js';

/** The label a Service selector carries when it routes nowhere: no pod has it, so nothing is selected. */
export const ROUTE_NOWHERE_LABEL = 'workload-api/route';

/** The name of the Service port every route exposes; it targets the primary container's named port. */
export const ROUTE_PORT = { name: PRIMARY_PORT_NAME, port: 80 } as const;

/** Label selector of every object this product manages. */
export const MANAGED_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

/** The Deployment that runs a proton. Importance goes into the pod template only with `templateImportance`. */
export function protonDeployment(spec: ProtonSpec, namespace: string, templateImportance: Importance = spec.importance): V1Deployment {
  const selector = { [LABELS.managedBy]: MANAGED_BY, [LABELS.protonId]: spec.protonId };
  const template = podTemplate({
    workloadId: spec.workloadId,
    protonId: spec.protonId,
    revision: protonRevision(spec),
    importance: templateImportance,
    priorityImportance: templateImportance,
    ...(spec.restartedAt && { restartedAt: spec.restartedAt }),
    containers: spec.containers,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: protonObjectName(spec.protonId),
      namespace,
      labels: protonLabels(spec, spec.importance),
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: selector },
      // New pods become ready before old ones go: never below the desired ready count.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      revisionHistoryLimit: 2,
      template: { metadata: { ...template.metadata }, spec: template.spec },
    },
  };
}


/** The Service selector that routes a workload's traffic to a proton's pods, or to none. */
export function routeSelector(workloadId: string, protonId: string | null): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.workloadId]: workloadId,
    ...(protonId === null ? { [ROUTE_NOWHERE_LABEL]: 'none' } : { [LABELS.protonId]: protonId }),
  };
}

/** The Service that is a workload's stable route. */
export function routeService(workloadId: string, protonId: string | null, namespace: string): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: routeObjectName(workloadId),
      namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY, [LABELS.workloadId]: workloadId },
    },
    spec: {
      type: 'ClusterIP',
      selector: routeSelector(workloadId, protonId),
      ports: [{ name: ROUTE_PORT.name, port: ROUTE_PORT.port, targetPort: ROUTE_PORT.name, protocol: 'TCP' }],
    },
  };
}

/** The route a Service implements. */
export function routeOf(service: V1Service): WorkloadRoute {
  const selector = service.spec?.selector ?? {};
  return {
    workloadId: selector[LABELS.workloadId] ?? service.metadata?.labels?.[LABELS.workloadId] ?? '',
    protonId: selector[LABELS.protonId] ?? null,
  };
}

/** Whether a string is one of the importances. */
export function isImportance(value: string | undefined): value is Importance {
  return (IMPORTANCES as readonly string[]).includes(value ?? '');
}

/** The pod counts of a proton, from its pods: live (not being deleted), of the current revision, and ready. */
export function podCounts(pods: readonly V1Pod[], revision: string): ObservedProton['status'] {
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  return {
    replicas: live.length,
    updatedReplicas: live.filter((p) => p.metadata?.labels?.[LABELS.revision] === revision).length,
    readyReplicas: live.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length,
  };
}

/** A proton as its Deployment (and the proton's pods) describe it. */
export function observeDeployment(deployment: V1Deployment, pods: readonly V1Pod[]): ObservedProton {
  const labels = deployment.metadata?.labels ?? {};
  const templateLabels = deployment.spec?.template.metadata?.labels ?? {};
  const restartedAt = deployment.spec?.template.metadata?.annotations?.[ANNOTATIONS.restartedAt];
  const importance = labels[LABELS.importance];
  const revision = templateLabels[LABELS.revision] ?? '';
  return Object.freeze({
    workloadId: labels[LABELS.workloadId] ?? '',
    protonId: labels[LABELS.protonId] ?? '',
    importance: isImportance(importance) ? importance : 'low',
    replicas: deployment.spec?.replicas ?? 0,
    revision,
    ...(restartedAt && { restartedAt: new Date(restartedAt) }),
    generation: deployment.metadata?.generation ?? 0,
    creationTimestamp: new Date(deployment.metadata?.creationTimestamp ?? 0),
    ...(deployment.metadata?.deletionTimestamp && { deletionTimestamp: new Date(deployment.metadata.deletionTimestamp) }),
    status: Object.freeze(podCounts(pods, revision)),
  });
}

/** The label selector of a filter, within what this API manages. */
export function selectorOf(filter: RuntimeFilter): string {
  return [
    MANAGED_SELECTOR,
    ...(filter.workloadId !== undefined ? [`${LABELS.workloadId}=${filter.workloadId}`] : []),
    ...(filter.protonId !== undefined ? [`${LABELS.protonId}=${filter.protonId}`] : []),
  ].join(',');
}

/** Whether a pod matches a filter. */
export function matches(pod: V1Pod, filter: RuntimeFilter): boolean {
  return matchesLabels(pod.metadata?.labels, filter);
}

/** Whether an object's labels match a filter. */
export function matchesLabels(labels: Record<string, string> = {}, filter: RuntimeFilter): boolean {
  if (filter.workloadId !== undefined && labels[LABELS.workloadId] !== filter.workloadId) return false;
  if (filter.protonId !== undefined && labels[LABELS.protonId] !== filter.protonId) return false;
  return true;
}

/** Whether two label maps are equal. */
export function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
