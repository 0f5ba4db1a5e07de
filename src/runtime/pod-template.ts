/**
 * The pod template of a proton, as one pure function both adapters use: the Kubernetes adapter
 * puts it into the proton's Deployment, the simulated cluster renders its pods from it. So a
 * pod reads the same (labels, annotations, containers, priority) whichever runtime made it.
 */
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import type { Importance } from '../domain/model.js';
import { ANNOTATIONS, LABELS, MANAGED_BY, PRIORITY_CLASSES, renderProbe } from './conventions.js';
import type { ProtonContainer } from './proton-runtime.js';

/** The grace period of every proton's pods (`terminationGracePeriodSeconds`). */
export const TERMINATION_GRACE_SECONDS = 30;

/** The name of the primary container's port; a workload's route targets it. */
export const PRIMARY_PORT_NAME = 'http';

/** What a pod template is made of. */
export interface PodTemplateInput {
  readonly workloadId: string;
  readonly protonId: string;
  /** The template revision (`protonRevision`). */
  readonly revision: string;
  /** The importance label (patched in place later without a restart). */
  readonly importance: Importance;
  /** The importance whose priority class the pods get (fixed at pod creation). */
  readonly priorityImportance: Importance;
  readonly restartedAt?: Date;
  readonly containers: readonly ProtonContainer[];
}

/** A pod template: metadata and spec. */
export interface PodTemplate {
  readonly metadata: { readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
  readonly spec: V1PodSpec;
}

/** The labels every object of a proton carries. */
export function protonLabels(p: { readonly workloadId: string; readonly protonId: string }, importance: Importance): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.workloadId]: p.workloadId,
    [LABELS.protonId]: p.protonId,
    [LABELS.importance]: importance,
  };
}

/** The pod template of a proton. */
export function podTemplate(input: PodTemplateInput): PodTemplate {
  const primary = input.containers.find((c) => c.primary) ?? input.containers[0];
  return {
    metadata: {
      labels: { ...protonLabels(input, input.importance), [LABELS.revision]: input.revision },
      annotations: {
        ...(primary && { [ANNOTATIONS.defaultContainer]: primary.name }),
        ...(input.restartedAt && { [ANNOTATIONS.restartedAt]: input.restartedAt.toISOString() }),
      },
    },
    spec: {
      containers: input.containers.map(podContainer),
      priorityClassName: PRIORITY_CLASSES[input.priorityImportance].name,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    },
  };
}

/** A container of the pod template; the primary one exposes its port under the name `http`. */
export function podContainer(c: ProtonContainer): V1Container {
  const requests = {
    ...(c.resources?.cpu && { cpu: c.resources.cpu }),
    ...(c.resources?.memory && { memory: c.resources.memory }),
  };
  // Memory is a limit too (an over-use is OOMKilled); CPU only a request (throttling is enough).
  const limits = { ...(c.resources?.memory && { memory: c.resources.memory }) };
  return {
    name: c.name,
    image: c.image,
    ...(c.entrypoint && { command: [...c.entrypoint] }),
    ...(c.port !== undefined && { ports: [{ name: PRIMARY_PORT_NAME, containerPort: c.port, protocol: 'TCP' }] }),
    env: c.env.map((e) => ({ name: e.name, value: e.value })),
    resources: {
      ...(Object.keys(requests).length > 0 && { requests }),
      ...(Object.keys(limits).length > 0 && { limits }),
    },
    ...(c.readinessProbe && { readinessProbe: renderProbe(c.readinessProbe, c.port) }),
    ...(c.livenessProbe && { livenessProbe: renderProbe(c.livenessProbe, c.port) }),
    ...(c.startupProbe && { startupProbe: renderProbe(c.startupProbe, c.port) }),
    imagePullPolicy: 'IfNotPresent',
  };
}
