import type { EntityManager } from '@mikro-orm/postgresql';
import type { QuotaLimits, QuotaResource, QuotaScope, ResourceAmounts } from '../domain/quota.js';
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
