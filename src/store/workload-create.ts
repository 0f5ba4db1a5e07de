/**
 * A new workload's rows written in one statement: `workload_create` (migration
 * Migration20261203010000_create_workload) inserts an inline artifact (its repository, row and
 * OWNER grant), the workload, its OWNER grant and its `created` event, and returns the event's
 * sequence (ADR 0005, decision 22). The rows are the entities the service built and never
 * flushes: each is turned into its columns through the ORM's metadata, so a column added to an
 * entity travels without a second list to keep.
 */
import { helper, ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Artifact, ArtifactRepository, ArtifactSharedRole, Workload, WorkloadSharedRole } from './entities/index.js';
import type { NewWorkloadEvent } from './events.js';
import { queryRows } from './sql.js';

/** What a create writes: the inline artifact's rows when it brings its own spec, and the workload's. */
export interface NewWorkloadRows {
  readonly inline?: { readonly repository: ArtifactRepository; readonly artifact: Artifact; readonly grants: readonly ArtifactSharedRole[] };
  readonly workload: Workload;
  readonly grants: readonly WorkloadSharedRole[];
  readonly event: NewWorkloadEvent;
}

/**
 * Writes a new workload's rows (in `em`'s transaction, if any, else as a statement of its own)
 * and returns the sequence of its `created` event. A rule of the database that refuses it (a
 * name taken, a draft taken, an artifact deleted) writes nothing and throws the ORM's typed error.
 */
export async function insertNewWorkload(em: EntityManager, rows: NewWorkloadRows): Promise<number> {
  const e = rows.event;
  const argument = {
    ...(rows.inline && { repository: columnsOf(rows.inline.repository), artifact: columnsOf(rows.inline.artifact), artifactGrants: rows.inline.grants.map(columnsOf) }),
    workload: columnsOf(rows.workload),
    workloadGrants: rows.grants.map(columnsOf),
    event: { type: e.type, message: e.message, actor: e.actor, data: e.data ?? {}, occurred_at: e.occurredAt },
  };
  const [row] = await queryRows<{ sequence: number }>(em, 'select workload_create(?::jsonb) as sequence', [JSON.stringify(argument)]);
  if (typeof row?.sequence !== 'number') throw new Error(`workload_create returned no sequence for workload ${rows.workload.id}`);
  return row.sequence;
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
