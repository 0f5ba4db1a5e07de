/**
 * Names, labels and annotations every runtime adapter puts on cluster objects, so that pods
 * from either adapter read alike and the controller finds its objects by label alone.
 */
import type { V1Pod, V1Probe } from '@kubernetes/client-node';
import type { ProbeSpec } from '../domain/artifact-spec.js';
import type { Importance } from '../domain/model.js';
import { IMPORTANCES } from '../domain/model.js';

/** Labels on protons (Deployments), their pods and routes (Services). */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  workloadId: 'workload-api/workload-id',
  protonId: 'workload-api/proton-id',
  importance: 'workload-api/importance',
  /** The template revision a pod was created from (`protonRevision`). */
  revision: 'workload-api/revision',
  /** Kubernetes' own ReplicaSet hash; the simulated cluster sets it equal to the revision. */
  podTemplateHash: 'pod-template-hash',
} as const;

/** The value of `LABELS.managedBy` on everything this product creates. */
export const MANAGED_BY = 'workload-api';

/** Annotations on pods (and pod templates). */
export const ANNOTATIONS = {
  /** Names the primary container; `observePod` reads it. */
  defaultContainer: 'kubectl.kubernetes.io/default-container',
  /** The restart request, as `kubectl rollout restart` writes it. */
  restartedAt: 'kubectl.kubernetes.io/restartedAt',
} as const;

/** The PriorityClass each importance maps to, with its value (higher is scheduled first, preempts lower). */
export const PRIORITY_CLASSES: Readonly<Record<Importance, { readonly name: string; readonly value: number }>> = {
  low: { name: 'workload-low', value: 1000 },
  moderate: { name: 'workload-moderate', value: 10_000 },
  high: { name: 'workload-high', value: 100_000 },
  critical: { name: 'workload-critical', value: 1_000_000 },
};

/** Name of the Deployment (simulated: the pod name prefix) of a proton. */
export function protonObjectName(protonId: string): string {
  return `proton-${protonId}`;
}

/** Name of the Service that is the workload's stable route. */
export function routeObjectName(workloadId: string): string {
  return `workload-${workloadId}`;
}

/** The workload id a pod is labelled with, if any. */
export function podWorkloadId(pod: V1Pod): string | undefined {
  return pod.metadata?.labels?.[LABELS.workloadId];
}

/** The proton id a pod is labelled with, if any. */
export function podProtonId(pod: V1Pod): string | undefined {
  return pod.metadata?.labels?.[LABELS.protonId];
}

/** The template revision a pod was created from, if labelled. */
export function podRevision(pod: V1Pod): string | undefined {
  return pod.metadata?.labels?.[LABELS.revision];
}

/** The importance a pod is labelled with, if it is a valid one. */
export function podImportance(pod: V1Pod): Importance | undefined {
  const value = pod.metadata?.labels?.[LABELS.importance];
  return (IMPORTANCES as readonly string[]).includes(value ?? '') ? (value as Importance) : undefined;
}

/** A container probe as both adapters render it: an HTTP GET with Kubernetes' defaults filled in. */
export function renderProbe(p: ProbeSpec, containerPort: number | undefined): V1Probe {
  return {
    httpGet: { path: p.path, port: p.port ?? containerPort ?? 8080, scheme: 'HTTP' },
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}
