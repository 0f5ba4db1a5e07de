import type { EntityManager } from '@mikro-orm/postgresql';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import type { DesiredState } from '../domain/model.js';
import type { QuotaScope, WorkloadUsageFacts } from '../domain/quota.js';
import { queryRows } from './sql.js';

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

interface WorkloadRow {
  id: string;
  desired_state: DesiredState;
  runtime: WorkloadRuntime;
  spec: ArtifactSpec;
}

interface ProtonRow {
  workload_id: string;
  runtime: WorkloadRuntime;
  spec: ArtifactSpec;
}

/** The usage facts of every live workload of a subject: not deleted, not terminated, not being deleted. */
export async function usageFacts(em: EntityManager, subject: QuotaSubject): Promise<WorkloadUsageFacts[]> {
  const column = subject.scope === 'owner' ? 'w.owner_id' : 'w.organization';
  const live = `${column} = ? and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'`;
  const params = [subject.id];
  const workloads = await queryRows<WorkloadRow>(
    em,
    `select w.id, w.desired_state, w.runtime, a.spec from workload w join artifact a on a.id = w.artifact_id where ${live}`,
    params,
  );
  const protons = await queryRows<ProtonRow>(
    em,
    `select p.workload_id, p.runtime, a.spec from proton p join workload w on w.id = p.workload_id join artifact a on a.id = p.artifact_id
      where ${live} and p.removed_at is null and p.role <> 'active'`,
    params,
  );
  const others = new Map<string, { spec: ArtifactSpec; runtime: WorkloadRuntime }[]>();
  for (const p of protons) others.set(p.workload_id, [...(others.get(p.workload_id) ?? []), { spec: p.spec, runtime: p.runtime }]);
  return workloads.map((w) => ({ desiredState: w.desired_state, spec: w.spec, runtime: w.runtime, otherProtons: others.get(w.id) ?? [] }));
}
