import type { FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../domain/ids.js';
import { queryRows } from './sql.js';
import { effectiveRole, type Grant, type Principal } from '../domain/sharing.js';
import type { SharingRole } from '../domain/model.js';
import type { Artifact, Workload } from './entities/index.js';

/**
 * The SQL form of `grantMatches`: a condition on grant alias `g` and its parameters. Kept beside
 * the pure rule it mirrors; the access tests check that both agree.
 */
export function grantMatchSql(who: Principal): { sql: string; params: unknown[] } {
  const parts = [`(g.subject_type = 'user' and g.subject_id = ?)`];
  const params: unknown[] = [who.userId];
  const list = (type: string, values: string[]) => {
    if (values.length === 0) return;
    parts.push(`(g.subject_type = '${type}' and g.subject_id in (${values.map(() => '?').join(', ')}))`);
    params.push(...values);
  };
  list('group', who.groups);
  if (who.organization) list('organization', [who.organization]);
  list('role', who.roles);
  return { sql: `(${parts.join(' or ')})`, params };
}

/** The grants that match the caller, as a filter on a grant entity (the ORM form of `grantMatches`). */
function matchingGrants(who: Principal): Record<string, unknown> {
  const any: Record<string, unknown>[] = [{ subjectType: 'user', subjectId: who.userId }];
  if (who.groups.length > 0) any.push({ subjectType: 'group', subjectId: { $in: who.groups } });
  if (who.organization) any.push({ subjectType: 'organization', subjectId: who.organization });
  if (who.roles.length > 0) any.push({ subjectType: 'role', subjectId: { $in: who.roles } });
  return { $or: any };
}

/**
 * Restricts a workload query to the workloads the caller holds any role on (all, for an admin).
 * A subquery over the grants (`$some`), so pages and counts only ever hold what the caller may see.
 */
export function visibleWorkloads(who: Principal): FilterQuery<Workload> {
  if (who.isPlatformAdmin) return {};
  return { sharedRoles: { $some: matchingGrants(who) } } as FilterQuery<Workload>;
}

/**
 * Restricts an artifact query to the artifacts the caller may read: a role on the artifact, or
 * a role on a live workload that runs it (seeing a workload shows what it runs).
 */
export function visibleArtifacts(who: Principal): FilterQuery<Artifact> {
  if (who.isPlatformAdmin) return {};
  const grants = matchingGrants(who);
  return {
    $or: [{ sharedRoles: { $some: grants } }, { workloads: { $some: { deletedAt: null, sharedRoles: { $some: grants } } } }],
  } as FilterQuery<Artifact>;
}

/** The caller's effective role on each workload (null: none), in one query. */
export async function workloadRoles(em: EntityManager, who: Principal, ids: readonly string[]): Promise<(SharingRole | null)[]> {
  return rolesOf(em, who, ids, (keys, inList, match) => ({
    sql: `select g.workload_id as resource_id, g.subject_type, g.subject_id, g.role
            from workload_shared_role g where g.workload_id in (${inList}) and ${match.sql}`,
    params: [...keys, ...match.params],
  }));
}

/**
 * The caller's effective role on each artifact: its own grants, and OBSERVER where it holds a
 * role on a non-deleted workload that runs the artifact or ran it (its protons and replacements
 * refer to it): seeing a workload shows what it runs and what its history refers to, deleted or not.
 */
export async function artifactRoles(em: EntityManager, who: Principal, ids: readonly string[]): Promise<(SharingRole | null)[]> {
  return rolesOf(em, who, ids, (keys, inList, match) => ({
    sql: `select g.artifact_id as resource_id, g.subject_type, g.subject_id, g.role
            from artifact_shared_role g where g.artifact_id in (${inList}) and ${match.sql}
          union all
          select refs.artifact_id as resource_id, g.subject_type, g.subject_id, 'OBSERVER' as role
            from (select w.id as workload_id, w.artifact_id from workload w where w.artifact_id in (${inList})
                  union select p.workload_id, p.artifact_id from proton p where p.artifact_id in (${inList})
                  union select r.workload_id, r.from_artifact_id from replacement r where r.from_artifact_id in (${inList})
                  union select r.workload_id, r.to_artifact_id from replacement r where r.to_artifact_id in (${inList})) refs
            join workload w on w.id = refs.workload_id and w.deleted_at is null
            join workload_shared_role g on g.workload_id = w.id
           where ${match.sql}`,
    params: [...keys, ...match.params, ...keys, ...keys, ...keys, ...keys, ...match.params],
  }));
}

type GrantRow = { resource_id: string; subject_type: Grant['subjectType']; subject_id: string; role: SharingRole };

async function rolesOf(
  em: EntityManager,
  who: Principal,
  ids: readonly string[],
  query: (keys: string[], inList: string, match: { sql: string; params: unknown[] }) => { sql: string; params: unknown[] },
): Promise<(SharingRole | null)[]> {
  if (who.isPlatformAdmin) return ids.map(() => 'OWNER');
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return ids.map(() => null);
  const q = query(valid, valid.map(() => '?').join(', '), grantMatchSql(who));
  const rows = await queryRows<GrantRow>(em, q.sql, q.params);
  const byResource = new Map<string, Grant[]>();
  for (const row of rows) {
    const list = byResource.get(row.resource_id) ?? [];
    list.push({ subjectType: row.subject_type, subjectId: row.subject_id, role: row.role });
    byResource.set(row.resource_id, list);
  }
  return ids.map((id) => effectiveRole(byResource.get(id) ?? [], who));
}

/** Which of the given workloads exist and are not deleted, in one statement. */
export async function liveWorkloadIds(em: EntityManager, ids: readonly string[]): Promise<Set<string>> {
  const valid = [...new Set(ids.filter(isUuid))];
  if (valid.length === 0) return new Set();
  const rows = await queryRows<{ id: string }>(em, `select id from workload where id in (${valid.map(() => '?').join(', ')}) and deleted_at is null`, valid);
  return new Set(rows.map((r) => r.id));
}
