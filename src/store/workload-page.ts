import { raw, type EntityData, type EntityName, type FilterQuery } from '@mikro-orm/core';
import type { QBFilterQuery } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import { effectiveRole, type Grant, type Principal } from '../domain/sharing.js';
import type { SharingRole } from '../domain/model.js';
import { grantMatchSql } from './access.js';
import { ArtifactEntity, ProtonEntity, WorkloadEntity, type Artifact, type Proton, type Workload } from './entities/index.js';

/**
 * One page of workloads with what a list shows beside each: its artifact, its current protons
 * (and their artifacts), and the caller's effective role on each workload and artifact, all read
 * in one statement (ADR 0061).
 */
export interface WorkloadPage {
  readonly workloads: Workload[];
  /** The current (not removed) protons of each workload of the page, active first. */
  readonly protons: ReadonlyMap<string, Proton[]>;
  /** The artifacts the page refers to: the workloads' and their protons'. */
  readonly artifacts: readonly Artifact[];
  /** The caller's effective role on each workload of the page. */
  readonly workloadRoles: ReadonlyMap<string, SharingRole | null>;
  /** The caller's effective role on each artifact of `artifacts`. */
  readonly artifactRoles: ReadonlyMap<string, SharingRole | null>;
}

type GrantJson = { subjectType: Grant['subjectType']; subjectId: string; role: SharingRole };
type ProtonJson = Record<string, unknown> & { artifact_row: Record<string, unknown> | null; artifact_grants: GrantJson[] | null };
type PageRow = Record<string, unknown> & {
  id: string;
  viewer_grants: GrantJson[] | null;
  artifact_row: Record<string, unknown>;
  artifact_grants: GrantJson[] | null;
  proton_rows: ProtonJson[];
};

/**
 * A managed entity from a row of its table, as `em.find` makes one (the entity factory, merged
 * into the identity map). `em.map` would merge with cascade and validation, which cost several
 * times the whole GraphQL execution of a page.
 */
function hydrate<T extends object>(em: EntityManager, entity: EntityName<T>, row: Record<string, unknown>): T {
  const meta = em.getMetadata(entity);
  const data = em.getDriver().mapResult(row as EntityData<T>, meta) as EntityData<T>;
  return em.getEntityFactory().create<T>(entity, data, { merge: true, refresh: true, convertCustomTypes: true });
}

/**
 * Reads the page `where`/`orderBy`/`limit` selects (the caller's visibility is part of `where`)
 * with JSON aggregates for what MikroORM would load in a statement per relation: the artifact row,
 * the current protons (ordered as `protonsOf` orders them), a proton's artifact where it differs
 * from the workload's, and the caller's matching grants on each workload and artifact.
 *
 * Roles are computed by the same pure rule as the role loaders (`effectiveRole`): a workload's
 * from its matching grants; an artifact's from its own matching grants plus OBSERVER, since the
 * caller holds a role on a live workload that runs it or whose proton runs it (`artifactRoles`).
 */
export async function readWorkloadPage(
  em: EntityManager,
  who: Principal,
  where: FilterQuery<Workload>,
  orderBy: Record<string, 'asc' | 'desc'>,
  limit: number,
): Promise<WorkloadPage> {
  const match = who.isPlatformAdmin ? null : grantMatchSql(who);
  const grantsOf = (table: string, column: string, key: string) =>
    match
      ? `(select json_agg(json_build_object('subjectType', g.subject_type, 'subjectId', g.subject_id, 'role', g.role))
            from ${table} g where g.${column} = ${key} and ${match.sql})`
      : 'null';
  const selects = [
    `${grantsOf('workload_shared_role', 'workload_id', 'w.id')} as viewer_grants`,
    `(select to_jsonb(a) from artifact a where a.id = w.artifact_id) as artifact_row`,
    `${grantsOf('artifact_shared_role', 'artifact_id', 'w.artifact_id')} as artifact_grants`,
    `(select coalesce(json_agg(to_jsonb(p) || jsonb_build_object(
          'artifact_row', case when p.artifact_id = w.artifact_id then null else (select to_jsonb(pa) from artifact pa where pa.id = p.artifact_id) end,
          'artifact_grants', case when p.artifact_id = w.artifact_id then null else ${grantsOf('artifact_shared_role', 'artifact_id', 'p.artifact_id')} end)
        order by p.role asc, p.created_at asc), '[]'::json)
        from proton p where p.workload_id = w.id and p.removed_at is null) as proton_rows`,
  ];
  // Each grant subquery repeats the caller's match parameters, in the order they appear.
  const params = match ? [...match.params, ...match.params, ...match.params] : [];
  const rows = await em
    .createQueryBuilder(WorkloadEntity, 'w')
    .select(['w.*', raw(selects.join(',\n'), params)])
    .where(where as QBFilterQuery<Workload>)
    .orderBy(orderBy)
    .limit(limit)
    .execute<PageRow[]>('all', false);

  const artifacts = new Map<string, Artifact>();
  const artifactRoles = new Map<string, SharingRole | null>();
  const workloadRoles = new Map<string, SharingRole | null>();
  const protons = new Map<string, Proton[]>();
  const workloads: Workload[] = [];
  const roleOf = (grants: readonly GrantJson[]) => effectiveRole(grants, who);
  const addArtifact = (row: Record<string, unknown>, ownGrants: GrantJson[] | null, workloadGrants: readonly GrantJson[]) => {
    const artifact = hydrate(em, ArtifactEntity, row);
    artifacts.set(artifact.id, artifact);
    const role = roleOf([...(ownGrants ?? []), ...workloadGrants.map((g) => ({ ...g, role: 'OBSERVER' as const }))]);
    artifactRoles.set(artifact.id, role);
  };
  for (const { viewer_grants, artifact_row, artifact_grants, proton_rows, ...workloadRow } of rows) {
    const grants = viewer_grants ?? [];
    addArtifact(artifact_row, artifact_grants, grants);
    const workload = hydrate(em, WorkloadEntity, workloadRow);
    workloads.push(workload);
    workloadRoles.set(workload.id, roleOf(grants));
    protons.set(
      workload.id,
      proton_rows.map(({ artifact_row: protonArtifact, artifact_grants: protonArtifactGrants, ...protonRow }) => {
        if (protonArtifact) addArtifact(protonArtifact, protonArtifactGrants, grants);
        return hydrate(em, ProtonEntity, protonRow);
      }),
    );
  }
  return { workloads, protons, artifacts: [...artifacts.values()], workloadRoles, artifactRoles };
}
