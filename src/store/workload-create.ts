/**
 * A new workload's rows written in one statement: `workload_create` (migration
 * Migration20261203010000_create_workload) inserts an inline artifact (its repository, row and
 * OWNER grant), the workload, its OWNER grant, its first (active) proton and its `created` event,
 * and returns the event's sequence (ADR 0005, decisions 22 and 23); `workload_create_batch`
 * writes several creates on their own specs in one statement (decision 27), as sets of rows when
 * all of them pass and each in turn otherwise (decision 29). The rows are plain
 * views the service built (`newRow`, decision 28), never managed: each is turned into its columns
 * through the ORM's metadata (`rowColumns`), so a column added to an entity travels without a
 * second list to keep.
 */
import type { MetadataStorage } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  ArtifactEntity,
  ArtifactRepositoryEntity,
  ArtifactSharedRoleEntity,
  ProtonEntity,
  WorkloadEntity,
  WorkloadSharedRoleEntity,
  type Artifact,
  type ArtifactRepository,
  type ArtifactSharedRole,
  type Proton,
  type Workload,
  type WorkloadSharedRole,
} from './entities/index.js';
import type { NewWorkloadEvent } from './events.js';
import type { ResourceAmounts } from '../domain/quota.js';
import { isDatabaseUnavailable } from './errors.js';
import { rowColumns } from './read-model.js';
import type { Orm } from './orm.js';
import { jsonColumn, queryRows } from './sql.js';
import { StatementBatches } from './statement-batches.js';
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
 * Writes a new workload's rows in `em`'s transaction (a create on an existing artifact, whose
 * checks hold in it until the write) and returns the sequence of its `created` event. A rule of
 * the database that refuses it (a name taken, a draft taken, an artifact deleted) writes nothing
 * and throws the ORM's typed error. A create on its own spec goes through `CreateBatches`.
 */
export async function insertNewWorkload(em: EntityManager, rows: NewWorkloadRows): Promise<number> {
  const [row] = await queryRows<{ sequence: number }>(em, 'select workload_create(?::jsonb) as sequence', [createArgument(em.getMetadata(), rows)]);
  return sequenceOf(row?.sequence, rows);
}

/** What `workload_create` takes: the rows' columns, as JSON. */
function createArgument(metadata: MetadataStorage, rows: NewWorkloadRows): string {
  const e = rows.event;
  return JSON.stringify({
    ...(rows.inline && {
      repository: rowColumns(metadata, ArtifactRepositoryEntity)(rows.inline.repository),
      artifact: rowColumns(metadata, ArtifactEntity)(rows.inline.artifact),
      artifactGrants: rows.inline.grants.map(rowColumns(metadata, ArtifactSharedRoleEntity)),
    }),
    workload: rowColumns(metadata, WorkloadEntity)(rows.workload),
    workloadGrants: rows.grants.map(rowColumns(metadata, WorkloadSharedRoleEntity)),
    protons: rows.protons.map(rowColumns(metadata, ProtonEntity)),
    event: { type: e.type, message: e.message, actor: e.actor, data: e.data ?? {}, occurred_at: e.occurredAt },
  });
}

/**
 * At most this many creates in one statement. Each is a subtransaction; PostgreSQL keeps up to 64
 * of a transaction's subtransaction ids in shared memory, past which every other session's
 * snapshot has to look them up on disk while the transaction runs. On a server, 32: a statement's
 * own costs (its round trip, its commit's flush, the batch's locks) shared by more creates, and
 * reads run beside it on other connections. On the embedded database, 16: a statement holds its
 * one thread for its whole length, and a read that arrives meanwhile waits for it (ADR 0005
 * decision 27).
 */
export const CREATES_PER_STATEMENT = { server: 32, embedded: 16 } as const;

/** A create's quota check: the subjects a limit of which it could breach, and what it adds. */
export type CreateQuota = { subjects: readonly BoundedSubject[]; added: ResourceAmounts };

/** What writing a create answers: its `created` event's sequence, or the quota limit it would break (nothing written). */
export type CreateOutcome = { sequence: number } | { breach: QuotaBreachRow };

/** One create's outcome in a batch's answer. */
export type BatchResult = { sequence?: number; breach?: QuotaBreachRow; error?: BatchError };
/** A create the database refused inside a batch: its SQLSTATE (`code`), message, and what PostgreSQL names (constraint, table, column). */
export type BatchError = Record<string, string> & { message: string };

/** How batches reach the database: the tables' metadata, the statement, and the driver's typed error for a refused create. */
export interface CreateStatement {
  readonly metadata: MetadataStorage;
  /** At most this many creates in one statement (`CREATES_PER_STATEMENT`). */
  readonly maxPerStatement: number;
  /** Runs `workload_create_batch` over `items` (a JSON array) and returns its results, in order. */
  write(items: string): Promise<BatchResult[]>;
  refusal(error: BatchError): Error;
}

/** The batch statement through `orm`. */
export function createStatementOf(orm: Orm): CreateStatement {
  return {
    metadata: orm.getMetadata(),
    maxPerStatement: orm.embeddedDatabase ? CREATES_PER_STATEMENT.embedded : CREATES_PER_STATEMENT.server,
    async write(items) {
      const [row] = await queryRows<{ results: BatchResult[] | string }>(orm.em.fork() as EntityManager, 'select workload_create_batch(?::jsonb) as results', [items]);
      return row ? jsonColumn(row.results) : [];
    },
    // Typed as the same refusal of a statement of its own would be (a unique violation names its constraint).
    refusal: ({ message, ...fields }) => orm.em.getDriver().convertException(Object.assign(new Error(message), fields)),
  };
}

/**
 * Writes creates that read nothing first (a workload on its own spec) several to a statement
 * (`workload_create_batch`, ADR 0005 decision 27), one statement at a time (`StatementBatches`):
 * a create that arrives with nothing being written is written at once, alone; those that arrive
 * meanwhile go together in the next statement, up to `CREATES_PER_STATEMENT`. Each is decided
 * in the statement as it would be alone (its quota checked after the creates before it, under the
 * same locks) and answered on its own: a name taken or a quota breached refuses that create only,
 * with the typed error or breach it would have had alone. A statement that fails as a whole fails
 * each of its creates; when the database cannot be reached, the creates waiting for the next
 * statement fail with it (each would otherwise wait for its own statement's failure, a connect
 * timeout each when the database hangs).
 *
 * The creates hold one connection however many wait, so they need none of ADR 0013 decision 9's
 * in-process turns.
 */
export class CreateBatches extends StatementBatches<string, CreateOutcome> {
  readonly #metadata: MetadataStorage;
  /** At most this many creates in one statement. */
  readonly maxPerStatement: number;

  constructor(statement: CreateStatement) {
    super({
      maxPerStatement: statement.maxPerStatement,
      failsWaiting: isDatabaseUnavailable,
      write: async (items) => {
        const results = await statement.write(`[${items.join(',')}]`);
        return items.map((_, i): PromiseSettledResult<CreateOutcome> => {
          const result = results[i];
          if (result?.error) return { status: 'rejected', reason: statement.refusal(result.error) };
          if (result?.breach) return { status: 'fulfilled', value: { breach: result.breach } };
          if (typeof result?.sequence === 'number') return { status: 'fulfilled', value: { sequence: result.sequence } };
          return { status: 'rejected', reason: new Error(`workload_create_batch returned no result for item ${i} of ${items.length}`) };
        });
      },
    });
    this.#metadata = statement.metadata;
    this.maxPerStatement = statement.maxPerStatement;
  }

  /** Writes `rows` (checked against `quota`, if any) with the creates waiting beside it. */
  write(rows: NewWorkloadRows, quota?: CreateQuota | null): Promise<CreateOutcome> {
    return this.add(`{"rows":${createArgument(this.#metadata, rows)}${quota ? `,"quota":${JSON.stringify(quota)}` : ''}}`);
  }
}

function sequenceOf(sequence: unknown, rows: NewWorkloadRows): number {
  if (typeof sequence !== 'number') throw new Error(`workload_create returned no sequence for workload ${rows.workload.id}`);
  return sequence;
}
