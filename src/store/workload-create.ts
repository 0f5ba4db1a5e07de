/**
 * A new workload's rows written in one statement: `workload_create` (migration
 * Migration20261203010000_create_workload) inserts an inline artifact (its repository, row and
 * OWNER grant), the workload, its OWNER grant, its first (active) proton and its `created` event,
 * and returns the event's sequence (ADR 0005, decisions 22 and 23). The rows are the entities the service built and never
 * flushes: each is turned into its columns through the ORM's metadata, so a column added to an
 * entity travels without a second list to keep.
 */
import { helper, ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Artifact, ArtifactRepository, ArtifactSharedRole, Proton, Workload, WorkloadSharedRole } from './entities/index.js';
import type { NewWorkloadEvent } from './events.js';
import type { ResourceAmounts } from '../domain/quota.js';
import { jsonColumn, queryRows } from './sql.js';
import type { BoundedSubject, QuotaBreachRow } from './usage.js';

/** What a create writes: the inline artifact's rows when it brings its own spec, and the workload's. */
export interface NewWorkloadRows {
  readonly inline?: { readonly repository: ArtifactRepository; readonly artifact: Artifact; readonly grants: readonly ArtifactSharedRole[] };
  readonly workload: Workload;
  readonly grants: readonly WorkloadSharedRole[];
  /** The workload's first protons (its active one), written with it. */
  readonly protons: readonly Proton[];
  readonly event: NewWorkloadEvent;
}

/**
 * Writes a new workload's rows (in `em`'s transaction, if any, else as a statement of its own)
 * and returns the sequence of its `created` event. A rule of the database that refuses it (a
 * name taken, a draft taken, an artifact deleted) writes nothing and throws the ORM's typed error.
 *
 * With `quota`, the same statement first takes the subjects' quota locks and checks the new
 * workload's demand against their usage (`workload_create_admitted`, ADR 0013 decision 11): the
 * locks are held for that one statement, not across round trips, and a breach writes nothing and
 * is answered instead of the sequence.
 */
export async function insertNewWorkload(
  em: EntityManager,
  rows: NewWorkloadRows,
  quota?: { subjects: readonly BoundedSubject[]; added: ResourceAmounts } | null,
): Promise<{ sequence: number } | { breach: QuotaBreachRow }> {
  const e = rows.event;
  const argument = JSON.stringify({
    ...(rows.inline && { repository: columnsOf(rows.inline.repository), artifact: columnsOf(rows.inline.artifact), artifactGrants: rows.inline.grants.map(columnsOf) }),
    workload: columnsOf(rows.workload),
    workloadGrants: rows.grants.map(columnsOf),
    protons: rows.protons.map(columnsOf),
    event: { type: e.type, message: e.message, actor: e.actor, data: e.data ?? {}, occurred_at: e.occurredAt },
  });
  if (quota) {
    const [row] = await queryRows<{ result: { sequence?: number; breach?: QuotaBreachRow } | string }>(
      em,
      'select workload_create_admitted(?::jsonb, ?::jsonb) as result',
      [JSON.stringify(quota), argument],
    );
    const result = row ? jsonColumn(row.result) : undefined;
    if (result?.breach) return { breach: result.breach };
    return { sequence: sequenceOf(result?.sequence, rows) };
  }
  const [row] = await queryRows<{ sequence: number }>(em, 'select workload_create(?::jsonb) as sequence', [argument]);
  return { sequence: sequenceOf(row?.sequence, rows) };
}

function sequenceOf(sequence: unknown, rows: NewWorkloadRows): number {
  if (typeof sequence !== 'number') throw new Error(`workload_create returned no sequence for workload ${rows.workload.id}`);
  return sequence;
}

/** An entity's columns, keyed by column name: its scalars, and the key of each entity it refers to. */
export function columnsOf(entity: object): Record<string, unknown> {
  const meta = helper(entity).__meta;
  const values = entity as Record<string, unknown>;
  const columns: Record<string, unknown> = {};
  for (const prop of meta.props) {
    if (prop.persist === false || !prop.fieldNames?.[0]) continue;
    const value = values[prop.name];
    if (prop.kind === ReferenceKind.SCALAR) columns[prop.fieldNames[0]] = value ?? null;
    else if (prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) {
      columns[prop.fieldNames[0]] = value == null ? null : helper(value as object).getPrimaryKey();
    }
  }
  return columns;
}
