import type { EntityManager } from '@mikro-orm/postgresql';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import type { DesiredState } from '../domain/model.js';
import type { QuotaScope, WorkloadUsageFacts } from '../domain/quota.js';
import { jsonColumn, queryRows } from './sql.js';

/** One subject whose usage a quota bounds. */
export interface QuotaSubject {
  scope: QuotaScope;
  /** The owner's user id, or the organization's name. */
  id: string;
}

/**
 * Serializes every change of usage of these subjects until the transaction ends: a transaction-
 * scoped advisory lock per subject, always taken owner first, then organization, so two writers
 * never wait on each other in opposite orders. Readers of usage after the lock see what earlier
 * holders committed (each statement of a READ COMMITTED transaction takes a fresh snapshot).
 */
export async function lockQuotaSubjects(em: EntityManager, subjects: readonly QuotaSubject[]): Promise<void> {
  const ordered = [...subjects].sort((a, b) => (a.scope === b.scope ? a.id.localeCompare(b.id) : a.scope === 'owner' ? -1 : 1));
  for (const s of ordered) {
    await queryRows(em, 'select pg_advisory_xact_lock(hashtextextended(?, 0))', [`quota:${s.scope}:${s.id}`]);
  }
}

interface UsageRow {
  owner_id: string;
  organization: string | null;
  desired_state: DesiredState;
  runtime: WorkloadRuntime | string;
  spec: ArtifactSpec | string;
  /** Its other protons not yet removed, with their artifacts' specs. */
  others: { runtime: WorkloadRuntime; spec: ArtifactSpec }[] | string;
}


/**
 * The usage facts of every live workload (not deleted, not terminated, not being deleted) of each
 * subject, in one statement however many subjects: a workload of both an owner and an
 * organization asked for is read once and counted for each.
 */
export async function usageFactsOf(em: EntityManager, subjects: readonly QuotaSubject[]): Promise<WorkloadUsageFacts[][]> {
  if (subjects.length === 0) return [];
  const owners = subjects.filter((s) => s.scope === 'owner').map((s) => s.id);
  const organizations = subjects.filter((s) => s.scope === 'organization').map((s) => s.id);
  const rows = await queryRows<UsageRow>(
    em,
    `select w.owner_id, w.organization, w.desired_state, w.runtime, a.spec,
        coalesce((select json_agg(json_build_object('runtime', p.runtime, 'spec', pa.spec) order by p.created_at, p.id)
           from proton p join artifact pa on pa.id = p.artifact_id
          where p.workload_id = w.id and p.removed_at is null and p.role <> 'active'), '[]'::json) as others
       from workload w join artifact a on a.id = w.artifact_id
      where (w.owner_id in (select value from jsonb_array_elements_text(?::jsonb))
             or w.organization in (select value from jsonb_array_elements_text(?::jsonb)))
        and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'`,
    [JSON.stringify(owners), JSON.stringify(organizations)],
  );
  const facts = rows.map((r) => ({
    owner: r.owner_id,
    organization: r.organization,
    facts: { desiredState: r.desired_state, spec: jsonColumn(r.spec), runtime: jsonColumn(r.runtime), otherProtons: jsonColumn(r.others) } satisfies WorkloadUsageFacts,
  }));
  return subjects.map((s) => facts.filter((f) => (s.scope === 'owner' ? f.owner === s.id : f.organization === s.id)).map((f) => f.facts));
}
