/**
 * Quotas and the importance policy: what a workload asks of the cluster, how usage adds up per
 * owner and per organization, and which limit a request would break. Pure: limits and usage are
 * parameters; the store gathers the facts and the service takes the locks.
 */
import { parseQuantity, type ArtifactSpec, type WorkloadRuntime } from './artifact-spec.js';
import type { Importance } from './model.js';

/** What a quota limits: live workloads, replicas, CPU (millicores) and memory (bytes) requested. */
export const QUOTA_RESOURCES = ['workloads', 'replicas', 'cpu', 'memory'] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];

/** Whose usage a quota bounds: the workload's owner, or the organization it was created in. */
export const QUOTA_SCOPES = ['owner', 'organization'] as const;
export type QuotaScope = (typeof QUOTA_SCOPES)[number];

/** An amount of each resource; cpu in millicores and memory in bytes (whole numbers, no rounding drift). */
export type ResourceAmounts = Record<QuotaResource, number>;

/** The limit of each resource; null is unlimited. */
export type QuotaLimits = Record<QuotaResource, number | null>;

/** Nothing at all. */
export const NO_AMOUNTS: ResourceAmounts = Object.freeze({ workloads: 0, replicas: 0, cpu: 0, memory: 0 });

/**
 * What a container without a request of its own is charged per replica (like a LimitRange's
 * default request), so that leaving requests out is no way around the CPU and memory quotas.
 */
export const UNSPECIFIED_CONTAINER_REQUEST = Object.freeze({ cpuMillicores: 100, memoryBytes: 128 * 2 ** 20 });

/** Millicores of a CPU quantity such as `500m` or `2`, rounded up; undefined if malformed. */
export function cpuMillicores(quantity: string): number | undefined {
  const value = parseQuantity(quantity);
  return value === undefined ? undefined : Math.ceil(value * 1000 - 1e-9);
}

/** Bytes of a memory quantity such as `512Mi` or `2G`, rounded up; undefined if malformed. */
export function memoryBytes(quantity: string): number | undefined {
  const value = parseQuantity(quantity);
  return value === undefined ? undefined : Math.ceil(value - 1e-6);
}

/**
 * What one proton of `spec` run with `runtime` requests: its replicas, and replicas times the
 * sum of its containers' requests (the runtime's overrides first, then the artifact's, then
 * UNSPECIFIED_CONTAINER_REQUEST). Counts no workload.
 */
export function protonDemand(spec: ArtifactSpec, runtime: WorkloadRuntime): ResourceAmounts {
  const overrides = new Map((runtime.containerResources ?? []).map((r) => [r.containerName, r]));
  let cpu = 0;
  let memory = 0;
  for (const container of spec.containerGroups.flatMap((g) => g.containers)) {
    const override = overrides.get(container.name);
    const cpuQuantity = override?.cpu ?? container.resources?.cpu;
    const memoryQuantity = override?.memory ?? container.resources?.memory;
    cpu += (cpuQuantity != null ? cpuMillicores(cpuQuantity) : undefined) ?? UNSPECIFIED_CONTAINER_REQUEST.cpuMillicores;
    memory += (memoryQuantity != null ? memoryBytes(memoryQuantity) : undefined) ?? UNSPECIFIED_CONTAINER_REQUEST.memoryBytes;
  }
  const replicas = runtime.replicaCount;
  return { workloads: 0, replicas, cpu: cpu * replicas, memory: memory * replicas };
}

/** The sum of several amounts. */
export function sumAmounts(parts: Iterable<ResourceAmounts>): ResourceAmounts {
  const total = { ...NO_AMOUNTS };
  for (const part of parts) for (const r of QUOTA_RESOURCES) total[r] += part[r];
  return total;
}

/** What a change from one demand to another adds (never negative per resource). */
export function addedDemand(before: ResourceAmounts, after: ResourceAmounts): ResourceAmounts {
  const added = { ...NO_AMOUNTS };
  for (const r of QUOTA_RESOURCES) added[r] = Math.max(0, after[r] - before[r]);
  return added;
}

/** An amount in the unit the API speaks: cpu in cores, everything else as counted. */
export function inApiUnits(resource: QuotaResource, amount: number): number {
  return resource === 'cpu' ? amount / 1000 : amount;
}

/** A resource amount for people: `3 workloads`, `1.5 CPU`, `512Mi memory`. */
export function describeAmount(resource: QuotaResource, amount: number): string {
  switch (resource) {
    case 'workloads':
      return `${amount} workload${amount === 1 ? '' : 's'}`;
    case 'replicas':
      return `${amount} replica${amount === 1 ? '' : 's'}`;
    case 'cpu':
      return `${amount / 1000} CPU`;
    case 'memory': {
      const units: [string, number][] = [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
      const unit = units.find(([, size]) => amount >= size && amount % (size / 1024) === 0);
      return unit ? `${Number((amount / unit[1]).toFixed(3))}${unit[0]} memory` : `${amount} bytes of memory`;
    }
  }
}

/**
 * Who may set each importance: `everyone`, or the platform roles listed (platform admins always
 * may). Importance maps to a cluster-wide PriorityClass, so the high ones can preempt others' pods.
 */
export type ImportancePolicy = Record<Importance, 'everyone' | readonly string[]>;

/** The platform roles that `importance` needs, or null when anyone may set it. */
export function rolesNeededFor(policy: ImportancePolicy, importance: Importance): readonly string[] | null {
  const allowed = policy[importance];
  return allowed === 'everyone' ? null : allowed;
}

/** Whether a caller with `roles` (and admin or not) may set `importance`. */
export function maySetImportance(
  policy: ImportancePolicy,
  importance: Importance,
  who: { roles: readonly string[]; isPlatformAdmin: boolean },
): boolean {
  const needed = rolesNeededFor(policy, importance);
  return needed === null || who.isPlatformAdmin || needed.some((role) => who.roles.includes(role));
}
