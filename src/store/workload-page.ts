import type { EntityName } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../domain/ids.js';
import { effectiveRole, highestRole, type Grant, type Principal } from '../domain/sharing.js';
import type { ArtifactStatus, Importance, SharingRole, WorkloadStatus } from '../domain/model.js';
import { grantMatchSql } from './access.js';
import { keysetSql, likePattern, type PageWindow, type SortDirection } from './pagination.js';
import { rowReader, selectColumns } from './read-model.js';
import { jsonColumn, queryRows } from './sql.js';
import {
  ArtifactEntity, ProtonEntity, ReplacementEntity, WorkloadEntity, WorkloadSharedRoleEntity,
  type Artifact, type Proton, type Replacement, type Workload, type WorkloadSharedRole,
} from './entities/index.js';

/**
 * One page of workloads with what a list shows beside each: its artifact, its current protons
 * (and their artifacts), its replacements and grants when asked for, and the caller's effective role on each
 * workload and artifact, all read in one statement (ADR 0061): one answer is one moment of the
 * database. The objects are plain views of the rows (ADR 0061 decision 8).
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
  /** Each workload's replacements, newest first, when asked for (`withReplacements`). */
  readonly replacements?: ReadonlyMap<string, Replacement[]>;
  /** Each workload's grants, oldest first, when asked for (`withGrants`). */
  readonly grants?: ReadonlyMap<string, WorkloadSharedRole[]>;
  /** How many workloads match across all pages, when asked for (`withCount`). */
  readonly totalCount?: number;
}

type GrantJson = { subjectType: Grant['subjectType']; subjectId: string; role: SharingRole };
type ProtonJson = Record<string, unknown> & { artifact_row: Record<string, unknown> | null; artifact_grants: GrantJson[] | null };
type PageRow = Record<string, unknown> & {
  id: string;
  viewer_grants: GrantJson[] | null;
  artifact_row: Record<string, unknown>;
  artifact_grants: GrantJson[] | null;
  proton_rows: ProtonJson[];
  replacement_rows?: Record<string, unknown>[];
  grant_rows?: Record<string, unknown>[];
  total_count?: number | string;
};

/** What a list of workloads may be narrowed to (every field optional; null is "any"). */
export interface WorkloadFilter {
  /** The one workload with this id (a single workload's view). */
  id?: string | null;
  status?: WorkloadStatus[] | null;
  importance?: Importance[] | null;
  artifactStatus?: ArtifactStatus | null;
  artifactId?: string | null;
  search?: string | null;
}

export type WorkloadOrderField = 'createdAt' | 'updatedAt' | 'name';
export interface WorkloadOrder {
  field: WorkloadOrderField;
  direction: SortDirection;
}

/** The artifact's properties a page leaves out without `withSpecs`. */
const WITHOUT_SPEC: ReadonlySet<string> = new Set(['spec']);

/** The columns a list orders by: fixed, never from input. */
const ORDER_COLUMNS: Record<WorkloadOrderField, string> = { createdAt: 'created_at', updatedAt: 'updated_at', name: 'name' };

type Sql = { sql: string; params: unknown[] };

/** `?` placeholders for `values`, for an `in (...)` list. */
const placeholders = (values: readonly unknown[]) => values.map(() => '?').join(', ');

/**
 * The live workloads (alias `w`) that match `filter` and that the caller holds a role on (all,
 * for a platform admin): the conditions a page and its count share.
 */
function matchingWorkloads(who: Principal, filter: WorkloadFilter): Sql {
  const parts = ['w.deleted_at is null'];
  const params: unknown[] = [];
  if (filter.id != null) {
    // An id that is no UUID names no workload (and must not reach a uuid comparison).
    parts.push(isUuid(filter.id) ? 'w.id = ?' : 'false');
    if (isUuid(filter.id)) params.push(filter.id);
  }
  if (filter.status?.length) {
    parts.push(`w.status in (${placeholders(filter.status)})`);
    params.push(...filter.status);
  }
  if (filter.importance?.length) {
    parts.push(`w.importance in (${placeholders(filter.importance)})`);
    params.push(...filter.importance);
  }
  if (filter.artifactStatus) {
    parts.push('w.artifact_status = ?');
    params.push(filter.artifactStatus);
  }
  if (filter.artifactId) {
    // An id that is no UUID names no artifact (and must not reach a uuid comparison).
    parts.push(isUuid(filter.artifactId) ? 'w.artifact_id = ?' : 'false');
    if (isUuid(filter.artifactId)) params.push(filter.artifactId);
  }
  if (filter.search) {
    const pattern = likePattern(filter.search);
    parts.push('(w.name ilike ? or w.description ilike ?)');
    params.push(pattern, pattern);
  }
  if (!who.isPlatformAdmin) {
    const match = grantMatchSql(who);
    parts.push(`exists (select 1 from workload_shared_role g where g.workload_id = w.id and ${match.sql})`);
    params.push(...match.params);
  }
  return { sql: parts.join(' and '), params };
}

/** How many live workloads match `filter` among those the caller may see. */
export async function countWorkloads(em: EntityManager, who: Principal, filter: WorkloadFilter): Promise<number> {
  const where = matchingWorkloads(who, filter);
  const [row] = await queryRows<{ n: number | string }>(em, `select count(*) as n from workload w where ${where.sql}`, where.params);
  return Number(row!.n);
}

/**
 * Reads the page of workloads `filter`, `order` and `window` select among those the caller may see,
 * with JSON aggregates for what loaders would read in a statement per relation: the artifact row,
 * the current protons (ordered as `protonsOf` orders them), a proton's artifact where it differs
 * from the workload's, and the caller's matching grants on each workload and artifact. The rows
 * become plain views (`rowReader`), not managed entities.
 *
 * Roles are computed by the same pure rule as the role loaders (`effectiveRole`): a workload's
 * from its matching grants; an artifact's from its own matching grants plus OBSERVER, since the
 * caller holds a role on a live workload that runs it or whose proton runs it (`artifactRoles`).
 *
 * `withRelations: false` leaves the artifacts and protons out (the page then has none of them,
 * and what asks for them later loads them): a list of names and statuses costs about 40% less.
 * `withSpecs: false` leaves the artifacts' specs out (ADR 0061 decision 19).
 * `withReplacements` adds each workload's replacements (as `replacementsOf` orders them), and
 * `withGrants` its grants (as `grantsOf` orders them).
 */
export async function readWorkloadPage(
  em: EntityManager,
  who: Principal,
  filter: WorkloadFilter,
  order: WorkloadOrder,
  window: PageWindow,
  options: PageOptions = {},
): Promise<WorkloadPage> {
  const match = who.isPlatformAdmin ? null : grantMatchSql(who);
  const withRelations = options.withRelations ?? true;
  const columns = checkedColumns(options.columns);
  // An artifact as JSON of the columns its reader takes: its spec (most of the row: a container
  // group's images, commands, variables) only when asked for; left out, it is not even read.
  const artifactJson = (alias: string) =>
    `(select row_to_json(r) from (select ${selectColumns(em, ArtifactEntity, alias, options.withSpecs ?? true ? undefined : WITHOUT_SPEC, columns.artifact)}) r)`;
  const grantsOf = (table: string, column: string, key: string) =>
    match
      ? `(select json_agg(json_build_object('subjectType', g.subject_type, 'subjectId', g.subject_id, 'role', g.role))
            from ${table} g where g.${column} = ${key} and ${match.sql})`
      : 'null';
  const selects = [
    `${grantsOf('workload_shared_role', 'workload_id', 'w.id')} as viewer_grants`,
    ...(withRelations
      ? [
          `(select ${artifactJson('a')} from artifact a where a.id = w.artifact_id) as artifact_row`,
          `${grantsOf('artifact_shared_role', 'artifact_id', 'w.artifact_id')} as artifact_grants`,
          // Each proton as JSON of its reader's columns and, where it runs another artifact than
          // the workload's, that artifact and the caller's grants on it.
          `(select coalesce(json_agg((select row_to_json(r) from (select ${selectColumns(em, ProtonEntity, 'p', undefined, columns.proton)},
          case when p.artifact_id = w.artifact_id then null else (select ${artifactJson('pa')} from artifact pa where pa.id = p.artifact_id) end as artifact_row,
          case when p.artifact_id = w.artifact_id then null else ${grantsOf('artifact_shared_role', 'artifact_id', 'p.artifact_id')} end as artifact_grants) r)
        order by p.role asc, p.created_at asc), '[]'::json)
        from proton p where p.workload_id = w.id and p.removed_at is null) as proton_rows`,
        ]
      : []),
    ...(options.withReplacements
      ? [`(select coalesce(json_agg(to_jsonb(r) order by r.created_at desc, r.id desc), '[]'::json) from replacement r where r.workload_id = w.id) as replacement_rows`]
      : []),
    ...(options.withGrants
      ? [`(select coalesce(json_agg(to_jsonb(sr) order by sr.granted_at, sr.id), '[]'::json) from workload_shared_role sr where sr.workload_id = w.id) as grant_rows`]
      : []),
  ];
  const where = matchingWorkloads(who, filter);
  // The total rides on every row as an uncorrelated subquery, worked out once per statement.
  const count = options.withCount ? `, (select count(*) from workload w where ${where.sql}) as total_count` : '';
  const keyset = keysetSql('w', ORDER_COLUMNS[order.field], order.direction, window, order.field === 'name' ? undefined : (v) => new Date(v));
  const conditions = [where, ...keyset.conditions];
  const rows = await queryRows<PageRow>(
    em,
    `select ${selectColumns(em, WorkloadEntity, 'w', undefined, columns.workload)}, ${selects.join(',\n')}${count}
       from workload w
      where ${conditions.map((c) => c.sql).join(' and ')}
      order by ${keyset.orderBy}
      limit ?`,
    // The select's grant subqueries repeat the caller's match parameters, in the order they appear.
    [
      ...(match ? (withRelations ? [...match.params, ...match.params, ...match.params] : match.params) : []),
      ...(options.withCount ? where.params : []),
      ...conditions.flatMap((c) => c.params),
      keyset.limit,
    ],
    // A list's statement plans in about as long as it runs: its connections keep it prepared.
    { prepared: true },
  );

  const readWorkload = rowReader(em, WorkloadEntity, columns.workload);
  const readArtifact = rowReader(em, ArtifactEntity, columns.artifact);
  const readProton = rowReader(em, ProtonEntity, columns.proton);
  const readReplacement = rowReader(em, ReplacementEntity);
  const readGrant = rowReader(em, WorkloadSharedRoleEntity);
  const artifacts = new Map<string, Artifact>();
  const artifactRoles = new Map<string, SharingRole | null>();
  const workloadRoles = new Map<string, SharingRole | null>();
  const protons = new Map<string, Proton[]>();
  const replacements = options.withReplacements ? new Map<string, Replacement[]>() : undefined;
  const workloadGrants = options.withGrants ? new Map<string, WorkloadSharedRole[]>() : undefined;
  const workloads: Workload[] = [];
  const roleOf = (grants: readonly GrantJson[]) => effectiveRole(grants, who);
  // An artifact's role: its own grants', or OBSERVER through a workload the caller holds a role
  // on (`throughWorkload`: the workload's matching grants read as OBSERVER).
  const addArtifact = (row: Record<string, unknown>, ownGrants: GrantJson[] | null, throughWorkload: SharingRole | null) => {
    const artifact = readArtifact(row);
    artifacts.set(artifact.id, artifact);
    const own = ownGrants === null ? null : roleOf(ownGrants);
    artifactRoles.set(artifact.id, own === null ? throughWorkload : throughWorkload === null ? own : highestRole([own, throughWorkload]));
  };
  // A reader takes its table's columns by name and leaves the rest: a row is read as it came.
  for (const row of rows) {
    const { viewer_grants, artifact_row, artifact_grants, proton_rows, replacement_rows, grant_rows } = row;
    const grants = jsonColumn(viewer_grants) ?? [];
    const workloadRole = roleOf(grants);
    const throughWorkload = workloadRole === null ? null : who.isPlatformAdmin ? 'OWNER' : 'OBSERVER';
    if (withRelations) addArtifact(jsonColumn(artifact_row), jsonColumn(artifact_grants), throughWorkload);
    const workload = readWorkload(row);
    workloads.push(workload);
    workloadRoles.set(workload.id, workloadRole);
    replacements?.set(workload.id, jsonColumn(replacement_rows ?? []).map(readReplacement));
    workloadGrants?.set(workload.id, jsonColumn(grant_rows ?? []).map(readGrant));
    if (!withRelations) continue;
    protons.set(
      workload.id,
      jsonColumn(proton_rows).map((protonRow) => {
        if (protonRow.artifact_row) addArtifact(protonRow.artifact_row, protonRow.artifact_grants, throughWorkload);
        return readProton(protonRow);
      }),
    );
  }
  // A page past the end has no row to carry the total: it is counted apart.
  const totalCount = !options.withCount ? undefined : rows.length > 0 ? Number(rows[0]!.total_count) : await countWorkloads(em, who, filter);
  return {
    workloads, protons, artifacts: [...artifacts.values()], workloadRoles, artifactRoles,
    ...(replacements && { replacements }),
    ...(workloadGrants && { grants: workloadGrants }),
    ...(totalCount !== undefined && { totalCount }),
  };
}

/** What a page reads beside its workloads' rows (`readWorkloadPage`). */
export interface PageOptions {
  withCount?: boolean;
  withRelations?: boolean;
  /**
   * Whether the page's artifacts carry their specs (default true). Without, an artifact's `spec`
   * is null: not read (the column itself is never null).
   */
  withSpecs?: boolean;
  withReplacements?: boolean;
  withGrants?: boolean;
  /**
   * Which properties of the workloads, artifacts and protons the page reads (each with `id`); every
   * column of a table not named. A view then has only those properties (ADR 0061 decision 23), so
   * they must be all that any field of the operation reads of the objects the page primes.
   */
  columns?: PageColumns;
}

/** The properties a page reads of each table's rows; all of a table not named. */
export interface PageColumns {
  workload?: ReadonlySet<string>;
  artifact?: ReadonlySet<string>;
  proton?: ReadonlySet<string>;
}

/** `columns`, each set refused without `id` (the page keys its views by it). */
function checkedColumns(columns: PageColumns = {}): PageColumns {
  for (const [table, only] of Object.entries(columns)) {
    if (only && !only.has('id')) throw new Error(`a page's ${table} columns must include id`);
  }
  return columns;
}

/**
 * One workload the caller may see, as a page of one (`readWorkloadPage`): the workload, and what
 * `options` asks for beside it, in one statement, so that its status, its protons and its
 * replacement are one moment. Undefined when there is no such live workload or the caller holds
 * no role on it.
 */
export async function readWorkloadView(em: EntityManager, who: Principal, id: string, options: Omit<PageOptions, 'withCount'> = {}): Promise<WorkloadPage | undefined> {
  const page = await readWorkloadPage(em, who, { id }, { field: 'createdAt', direction: 'DESC' }, { limit: 1, inverted: false }, options);
  return page.workloads.length > 0 ? page : undefined;
}

/** The replacements of each of `workloadIds` (newest first), in one statement, as plain views. */
export function readReplacements(em: EntityManager, workloadIds: readonly string[]): Promise<Replacement[][]> {
  return rowsOfWorkloads(em, ReplacementEntity, 'created_at desc, id desc', workloadIds);
}

/** The grants of each of `workloadIds` (oldest first), in one statement, as plain views. */
export function readWorkloadGrants(em: EntityManager, workloadIds: readonly string[]): Promise<WorkloadSharedRole[][]> {
  return rowsOfWorkloads(em, WorkloadSharedRoleEntity, 'granted_at, id', workloadIds);
}

/** The rows of `entity`'s table that belong to each of `workloadIds` (its `workload_id`), ordered by `orderBy`. */
async function rowsOfWorkloads<T extends { workload: { id: string } }>(
  em: EntityManager,
  entity: EntityName<T>,
  orderBy: string,
  workloadIds: readonly string[],
): Promise<T[][]> {
  const ids = workloadIds.filter(isUuid);
  const table = em.getMetadata(entity).tableName;
  const rows = ids.length === 0 ? [] : await queryRows<Record<string, unknown>>(em, `select * from ${table} where workload_id in (${placeholders(ids)}) order by ${orderBy}`, ids);
  const read = rowReader<T>(em, entity);
  const byWorkload = new Map<string, T[]>();
  for (const row of rows) {
    const view = read(row);
    const list = byWorkload.get(view.workload.id);
    if (list) list.push(view);
    else byWorkload.set(view.workload.id, [view]);
  }
  return workloadIds.map((id) => byWorkload.get(id) ?? []);
}
