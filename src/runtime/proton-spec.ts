/**
 * Building and checking a `ProtonSpec`: from an artifact spec and a workload runtime, its
 * template revision, and the rules every adapter enforces before touching the cluster.
 */
import { createHash } from 'node:crypto';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import type { Importance } from '../domain/model.js';
import type { ProtonContainer, ProtonSpec } from './proton-runtime.js';
import { RuntimeInvalidError } from './proton-runtime.js';

/** What a proton is made of before it becomes a `ProtonSpec`. */
export interface ProtonSpecInput {
  readonly workloadId: string;
  readonly protonId: string;
  readonly artifact: ArtifactSpec;
  readonly runtime: WorkloadRuntime;
  readonly importance: Importance;
  /** Desired replicas; default the runtime's `replicaCount` (pass 0 for a stopped workload). */
  readonly replicas?: number;
  readonly restartedAt?: Date;
}

/** Resolves the artifact's containers with the runtime's per-container resource overrides applied. */
export function protonSpecFromArtifact(input: ProtonSpecInput): ProtonSpec {
  const overrides = new Map((input.runtime.containerResources ?? []).map((r) => [r.containerName, r]));
  const containers = input.artifact.containerGroups.flatMap((g) =>
    g.containers.map((c): ProtonContainer => {
      const override = overrides.get(c.name);
      const cpu = override?.cpu ?? c.resources?.cpu ?? undefined;
      const memory = override?.memory ?? c.resources?.memory ?? undefined;
      return {
        name: c.name,
        image: c.imageUri,
        primary: c.primary,
        ...(c.port != null && { port: c.port }),
        ...(c.entrypoint != null && c.entrypoint.length > 0 && { entrypoint: [...c.entrypoint] }),
        env: (c.environmentVars ?? []).map((e) => ({ name: e.name, value: e.value })),
        ...(c.readinessProbe != null && { readinessProbe: c.readinessProbe }),
        ...(c.livenessProbe != null && { livenessProbe: c.livenessProbe }),
        ...(c.startupProbe != null && { startupProbe: c.startupProbe }),
        ...((cpu !== undefined || memory !== undefined) && {
          resources: { ...(cpu !== undefined && { cpu }), ...(memory !== undefined && { memory }) },
        }),
      };
    }),
  );
  return {
    workloadId: input.workloadId,
    protonId: input.protonId,
    containers,
    replicas: input.replicas ?? input.runtime.replicaCount,
    importance: input.importance,
    ...(input.restartedAt && { restartedAt: input.restartedAt }),
  };
}

// Kubernetes' pod-template-hash alphabet (no vowels, no look-alikes), so revisions read like one.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * The template revision of a spec: a 10-character hash of everything that rolls pods when it
 * changes (containers and `restartedAt`), and of nothing that must not (replicas, importance).
 */
export function protonRevision(spec: ProtonSpec): string {
  const template = { containers: spec.containers, restartedAt: spec.restartedAt?.toISOString() ?? null };
  const digest = createHash('sha256').update(canonicalJson(template)).digest();
  let out = '';
  for (let i = 0; i < 10; i++) out += SAFE_ALPHABET[(digest[i] ?? 0) % SAFE_ALPHABET.length];
  return out;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// `proton-{id}-{revision}-{suffix}` must stay within a 63-character DNS label.
const MAX_ID_LENGTH = 40;

/** Throws `RuntimeInvalidError` naming every problem that a cluster would refuse the spec for. */
export function assertValidProtonSpec(spec: ProtonSpec): void {
  const problems: string[] = [];
  for (const [field, id] of [['workloadId', spec.workloadId], ['protonId', spec.protonId]] as const) {
    if (!DNS_LABEL.test(id) || id.length > MAX_ID_LENGTH) {
      problems.push(`${field} "${id}" must be a lower-case DNS label of at most ${MAX_ID_LENGTH} characters`);
    }
  }
  problems.push(...replicasProblems(spec.replicas));
  if (spec.containers.length === 0) problems.push('a proton needs at least one container');
  const primaries = spec.containers.filter((c) => c.primary).length;
  if (spec.containers.length > 0 && primaries !== 1) problems.push(`exactly one container must be primary (found ${primaries})`);
  const seen = new Set<string>();
  for (const c of spec.containers) {
    if (!DNS_LABEL.test(c.name)) problems.push(`container name "${c.name}" must be a DNS label`);
    if (seen.has(c.name)) problems.push(`duplicate container name "${c.name}"`);
    seen.add(c.name);
    if (c.image.trim() === '') problems.push(`container ${c.name} has no image`);
  }
  if (problems.length > 0) throw new RuntimeInvalidError(`invalid proton ${spec.protonId}: ${[...new Set(problems)].join('; ')}`);
}

/** Throws `RuntimeInvalidError` unless `replicas` is a valid desired pod count. */
export function assertValidReplicas(replicas: number): void {
  const problems = replicasProblems(replicas);
  if (problems.length > 0) throw new RuntimeInvalidError(problems.join('; '));
}

function replicasProblems(replicas: number): string[] {
  return Number.isInteger(replicas) && replicas >= 0 ? [] : [`replicas must be a non-negative integer (got ${replicas})`];
}

/** JSON with object keys sorted, so equal values always hash alike. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
