import type { EntityManager } from '@mikro-orm/postgresql';
import { DriverException } from '@mikro-orm/core';
import type { ArtifactReference } from '../domain/rulebook.js';
import { queryRows } from './sql.js';

/** The replacement statuses that still hold their artifacts (the SQL form of `isReplacementInProgress`). */
const FINISHED = `('completed', 'cancelled', 'errored')`;

/**
 * Everything that keeps an artifact in use (the rulebook's `isInUse`): non-deleted workloads whose
 * artifact it is, live protons that run it, replacements in progress that switch from or to it.
 * At most `limit` references, oldest workload first; call it after locking the artifact's row.
 */
export async function artifactReferences(em: EntityManager, artifactId: string, limit = 20): Promise<ArtifactReference[]> {
  const rows = await queryRows<{ workload_id: string; workload_name: string; via: ArtifactReference['via']; terminated: boolean }>(
    em,
    `select * from (
       select w.id as workload_id, w.name as workload_name, 'workload' as via, (w.status = 'terminated') as terminated, w.created_at
         from workload w where w.artifact_id = ? and w.deleted_at is null
       union all
       select w.id, w.name, 'proton', false, w.created_at
         from proton p join workload w on w.id = p.workload_id
        where p.artifact_id = ? and p.removed_at is null and p.status <> 'terminated'
       union all
       select w.id, w.name, 'replacement', false, w.created_at
         from replacement r join workload w on w.id = r.workload_id
        where (r.to_artifact_id = ? or r.from_artifact_id = ?) and r.status not in ${FINISHED}
     ) refs order by created_at, workload_id limit ?`,
    [artifactId, artifactId, artifactId, artifactId, limit],
  );
  return rows.map((r) => ({ workloadId: r.workload_id, workloadName: r.workload_name, via: r.via, ...(r.terminated && { terminated: true }) }));
}

/**
 * The workload that holds a draft's one live slot besides `exceptWorkloadId`: a live workload that
 * runs it or a replacement in progress that switches to it.
 */
export async function draftHolder(em: EntityManager, artifactId: string, exceptWorkloadId?: string): Promise<{ id: string; name: string } | null> {
  const except = exceptWorkloadId ?? '00000000-0000-0000-0000-000000000000';
  const rows = await queryRows<{ id: string; name: string }>(
    em,
    `select w.id, w.name from workload w
      where w.artifact_id = ? and w.id <> ? and w.deleted_at is null and w.status <> 'terminated'
     union all
     select w.id, w.name from replacement r join workload w on w.id = r.workload_id
      where r.to_artifact_id = ? and r.workload_id <> ? and r.status not in ${FINISHED}
     limit 1`,
    [artifactId, except, artifactId, except],
  );
  return rows[0] ?? null;
}

/** The rule that one of the in-use triggers raised (see the artifact_in_use migration), if any. */
export function inUseViolation(
  err: unknown,
): { rule: 'DraftTaken' | 'ArtifactDeleted' | 'ArtifactInUse' | 'ArtifactChanged'; workloadId: string | null } | undefined {
  if (!(err instanceof DriverException)) return undefined;
  const code = (err as DriverException & { code?: string }).code;
  const rule =
    code === 'WL003' ? 'DraftTaken' : code === 'WL004' ? 'ArtifactDeleted' : code === 'WL005' ? 'ArtifactInUse' : code === 'WL006' ? 'ArtifactChanged' : undefined;
  if (!rule) return undefined;
  const detail = (err as DriverException & { detail?: unknown }).detail;
  return { rule, workloadId: typeof detail === 'string' ? detail : null };
}
