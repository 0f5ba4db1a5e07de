import type { EntityManager } from '@mikro-orm/postgresql';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import type { QuotaLimits, QuotaResource, QuotaScope, ResourceAmounts } from '../domain/quota.js';
import { NotFoundError } from '../domain/errors.js';
import { jsonColumn, queryRows } from './sql.js';

/** One subject whose usage a quota bounds. */
export interface QuotaSubject {
  scope: QuotaScope;
  /** The owner's user id, or the organization's name. */
  id: string;
}

/** A subject with its limits, as the database's quota functions take it. */
export interface BoundedSubject extends QuotaSubject {
  limits: QuotaLimits;
}

/** The first limit a request would break: the subject, the resource, its limit, usage and what was asked. */
export interface QuotaBreachRow {
  scope: QuotaScope;
  id: string;
  resource: QuotaResource;
  limit: number;
  used: number;
  requested: number;
}

/**
 * The usage of each subject (ADR 0013, decisions 4 and 11), summed by PostgreSQL in one statement
 * however many subjects (`quota_usage`, migration Migration20261204000000_quota_usage): every live
 * workload counts itself; while it is meant to run, its runtime's replicas times what one replica
 * of its artifact requests (kept on the artifact's row); and each of its other protons not yet
 * removed, the same with its own runtime and artifact. A plain read: nothing is locked.
 */
export async function usageOf(em: EntityManager, subjects: readonly QuotaSubject[]): Promise<ResourceAmounts[]> {
  if (subjects.length === 0) return [];
  const rows = await queryRows<{ i: number } & ResourceAmounts>(em, 'select * from quota_usage(?::jsonb)', [JSON.stringify(subjects.map(({ scope, id }) => ({ scope, id })))]);
  return rows.map((r) => ({ workloads: Number(r.workloads), replicas: Number(r.replicas), cpu: Number(r.cpu), memory: Number(r.memory) }));
}

/**
 * In `em`'s transaction, in one statement (`quota_admit`): takes each subject's quota lock
 * (`pg_advisory_xact_lock`, owner before organization, held to the end of the transaction), then
 * reads their usage and answers the first limit that `added` would break (subjects in order, then
 * workloads, replicas, CPU, memory; only what a request adds is checked), or null.
 */
export async function admitQuota(em: EntityManager, subjects: readonly BoundedSubject[], added: ResourceAmounts): Promise<QuotaBreachRow | null> {
  const [row] = await queryRows<{ breach: QuotaBreachRow | string | null }>(em, 'select quota_admit(?::jsonb, ?::jsonb) as breach', [JSON.stringify(subjects), JSON.stringify(added)]);
  return row?.breach == null ? null : jsonColumn(row.breach);
}

/** A live workload whose usage counts an artifact's spec, and the runtimes it counts it under. */
export interface SpecHolder {
  workloadId: string;
  ownerId: string;
  organization: string | null;
  /** Its runtime while it is meant to run on the artifact, and each other proton of the artifact not yet removed. */
  runtimes: WorkloadRuntime[];
}

/**
 * The live workloads whose usage (decision 4) counts what `artifactId` requests: the one running
 * it (a draft has at most one), and any whose other protons not yet removed run it. A plain read.
 */
export async function specHolders(em: EntityManager, artifactId: string): Promise<SpecHolder[]> {
  const rows = await queryRows<{ id: string; owner_id: string; organization: string | null; runtimes: WorkloadRuntime[] | string }>(
    em,
    `select w.id, w.owner_id, w.organization,
            coalesce((select json_agg(x.runtime order by x.n) from (
               select w.runtime, 0 as n where w.artifact_id = ?::uuid and w.desired_state = 'running'
               union all
               select p.runtime, 1 from proton p
                where p.workload_id = w.id and p.artifact_id = ?::uuid and p.removed_at is null and p.role <> 'active') x), '[]'::json) as runtimes
       from workload w
      where (w.artifact_id = ?::uuid or w.id in (select p.workload_id from proton p where p.artifact_id = ?::uuid and p.removed_at is null))
        and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'
      order by w.id`,
    [artifactId, artifactId, artifactId, artifactId],
  );
  return rows.map((r) => ({ workloadId: r.id, ownerId: r.owner_id, organization: r.organization, runtimes: jsonColumn(r.runtimes) }));
}

/** Whether an artifact's stored spec is still `spec`. */
export async function sameSpec(em: EntityManager, artifactId: string, spec: ArtifactSpec): Promise<boolean> {
  const [row] = await queryRows<{ same: boolean }>(em, 'select spec = ?::jsonb as same from artifact where id = ?', [JSON.stringify(spec), artifactId]);
  return row?.same === true;
}

/**
 * Locks workloads' rows (`for no key update`, in id order) until the transaction ends: what a
 * spec edit's trigger would lock when it updates their demand, taken first, as every writer of a
 * workload takes its row before quota locks and artifact rows (ADR 0013, decision 12).
 */
export async function lockWorkloadRows(em: EntityManager, workloadIds: readonly string[]): Promise<void> {
  if (workloadIds.length === 0) return;
  await queryRows(em, 'select id from workload where id = any(?::uuid[]) order by id for no key update', [[...workloadIds]]);
}

/**
 * An artifact's stored spec, read now (not from the identity map); with `lock`, its row is held
 * (`for no key update`, as the in-use rule takes it) until the transaction ends.
 */
export async function artifactSpec(em: EntityManager, artifactId: string, options: { lock?: boolean } = {}): Promise<ArtifactSpec> {
  const [row] = await queryRows<{ spec: ArtifactSpec | string }>(em, `select spec from artifact where id = ?${options.lock ? ' for no key update' : ''}`, [artifactId]);
  if (!row) throw new NotFoundError('Artifact', artifactId);
  return jsonColumn(row.spec);
}
