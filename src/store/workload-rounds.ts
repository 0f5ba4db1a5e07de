/**
 * What a reconcile pass reads of one workload and how a round writes, in plain statements: a
 * pass reads the workload and its live protons (with their artifacts' specs) in one statement,
 * and a round writes in one call of `workload_record_round` (migration
 * Migration20261203000000_record_round), so neither goes through the ORM's unit of work: a round
 * is one round trip, and the rows are plain values the controller owns (ADR 0005, decision 21).
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import type { ArtifactStatus, DesiredState, Importance, ProtonRole, ProtonStatus, ReplacementStatus, WorkloadStatus } from '../domain/model.js';
import type { Proton, Workload } from './entities/index.js';
import { jsonColumn, queryRows } from './sql.js';

/** A workload's columns as a pass reads and writes them. */
export interface RoundWorkload {
  readonly id: string;
  readonly importance: Importance;
  readonly createdAt: Date;
  artifactId: string;
  /** The status of the artifact the workload runs (mirrored on its row). */
  artifactStatus: ArtifactStatus;
  runtime: WorkloadRuntime;
  lifecycle: Record<string, unknown> | null;
  /** The sequence of the workload's last event: every writer of a workload appends one. */
  lastEventSequence: number;
  desiredState: DesiredState;
  expiresAt: Date | null;
  status: WorkloadStatus;
  statusReason: string | null;
  statusMessage: string | null;
}

/** A live proton row as a pass reads it, with the spec of the artifact it runs. */
export interface RoundProton {
  readonly id: string;
  readonly artifactId: string;
  readonly spec: ArtifactSpec;
  readonly runtime: WorkloadRuntime;
  readonly restartedAt: Date | null;
  role: ProtonRole;
  status: ProtonStatus;
  statusReason: string | null;
  statusMessage: string | null;
  removed: boolean;
}

/** A workload's columns and its live protons (oldest first), as a pass reads them. */
export interface RoundRows {
  readonly workload: RoundWorkload;
  readonly protons: RoundProton[];
}

/** The workload and its live protons (oldest first), or undefined when it is gone. */
export async function readRoundRows(em: EntityManager, workloadId: string): Promise<RoundRows | undefined> {
  const [row] = await queryRows<{
    id: string;
    importance: Importance;
    created_at: Date | string;
    artifact_id: string;
    artifact_status: ArtifactStatus;
    runtime: WorkloadRuntime | string;
    lifecycle: Record<string, unknown> | string | null;
    last_event_sequence: number;
    desired_state: DesiredState;
    expires_at: Date | string | null;
    status: WorkloadStatus;
    status_reason: string | null;
    status_message: string | null;
    protons: ProtonJson[] | string;
  }>(
    em,
    `select w.id, w.importance, w.created_at, w.artifact_id, w.artifact_status, w.runtime, w.lifecycle, w.last_event_sequence, w.desired_state, w.expires_at, w.status, w.status_reason, w.status_message,
       coalesce((select json_agg(json_build_object(
           'id', p.id, 'artifact_id', p.artifact_id, 'spec', a.spec, 'runtime', p.runtime, 'restarted_at', p.restarted_at,
           'role', p.role, 'status', p.status, 'status_reason', p.status_reason, 'status_message', p.status_message)
         order by p.created_at, p.id)
         from proton p join artifact a on a.id = p.artifact_id
         where p.workload_id = w.id and p.removed_at is null), '[]'::json) as protons
     from workload w where w.id = ? and w.deleted_at is null`,
    [workloadId],
  );
  if (!row) return undefined;
  const workload: RoundWorkload = {
    id: row.id,
    importance: row.importance,
    createdAt: new Date(row.created_at),
    artifactId: row.artifact_id,
    artifactStatus: row.artifact_status,
    runtime: jsonColumn(row.runtime),
    lifecycle: row.lifecycle === null ? null : jsonColumn(row.lifecycle),
    lastEventSequence: row.last_event_sequence,
    desiredState: row.desired_state,
    expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
    status: row.status,
    statusReason: row.status_reason,
    statusMessage: row.status_message,
  };
  const protons = jsonColumn(row.protons).map((p) => ({
    id: p.id,
    artifactId: p.artifact_id,
    spec: p.spec,
    runtime: p.runtime,
    restartedAt: p.restarted_at === null ? null : new Date(p.restarted_at),
    role: p.role,
    status: p.status,
    statusReason: p.status_reason,
    statusMessage: p.status_message,
    removed: false,
  }));
  return { workload, protons };
}

/**
 * What `readRoundRows` would read of a workload just created with `protons` (each with the
 * artifact it runs, spec included), its `created` event at `sequence`: the values the create
 * wrote, in the read's shape, so that the first pass need not read them back (ADR 0005, decision 25).
 */
export function createdRoundRows(
  workload: Pick<Workload, 'id' | 'importance' | 'createdAt' | 'artifactStatus' | 'runtime' | 'lifecycle' | 'desiredState' | 'expiresAt' | 'status' | 'statusReason' | 'statusMessage'> & { artifact: { id: string } },
  protons: readonly (Pick<Proton, 'id' | 'runtime' | 'restartedAt' | 'role' | 'status' | 'statusReason' | 'statusMessage'> & { artifact: { id: string; spec: ArtifactSpec } })[],
  sequence: number,
): RoundRows {
  return {
    workload: {
      id: workload.id,
      importance: workload.importance,
      createdAt: workload.createdAt,
      artifactId: workload.artifact.id,
      artifactStatus: workload.artifactStatus,
      runtime: workload.runtime,
      lifecycle: workload.lifecycle ?? null,
      lastEventSequence: sequence,
      desiredState: workload.desiredState,
      expiresAt: workload.expiresAt ?? null,
      status: workload.status,
      statusReason: workload.statusReason ?? null,
      statusMessage: workload.statusMessage ?? null,
    },
    protons: protons.map((p) => ({
      id: p.id,
      artifactId: p.artifact.id,
      spec: p.artifact.spec,
      runtime: p.runtime,
      restartedAt: p.restartedAt ?? null,
      role: p.role,
      status: p.status,
      statusReason: p.statusReason ?? null,
      statusMessage: p.statusMessage ?? null,
      removed: false,
    })),
  };
}

type ProtonJson = {
  id: string;
  artifact_id: string;
  spec: ArtifactSpec;
  runtime: WorkloadRuntime;
  restarted_at: string | null;
  role: ProtonRole;
  status: ProtonStatus;
  status_reason: string | null;
  status_message: string | null;
};


/** A proton row a round changes: its final status and role, and whether the round removes it. */
export interface ProtonWrite {
  readonly id: string;
  readonly status: ProtonStatus;
  readonly statusReason: string | null;
  readonly statusMessage: string | null;
  readonly role: ProtonRole;
  readonly removed: boolean;
}

/** What one round writes. */
export interface RoundWrite {
  readonly workloadId: string;
  /** The lifecycle and last event sequence the pass read: nothing is written unless the row still holds both. */
  readonly expected: { readonly lifecycle: Record<string, unknown> | null; readonly sequence: number };
  readonly workload: Omit<RoundWorkload, 'id' | 'importance' | 'createdAt' | 'artifactStatus' | 'lastEventSequence'> & { readonly deletedAt: Date | null };
  readonly protons: readonly ProtonWrite[];
  readonly replacement?: { readonly id: string; readonly status: ReplacementStatus; readonly statusReason: string | null; readonly statusMessage: string | null; readonly finished: boolean };
  readonly events: readonly { readonly type: string; readonly message: string; readonly data: Record<string, unknown> }[];
  readonly now: Date;
}

/** Writes a round in one statement: the last event's sequence, null when it recorded no event, 'stale' when the workload changed since it was read. */
export async function recordWorkloadRound(em: EntityManager, write: RoundWrite): Promise<number | null | 'stale'> {
  const w = write.workload;
  const [row] = await queryRows<{ sequence: number }>(
    em,
    'select workload_record_round(?::uuid, ?::jsonb, ?::integer, ?::jsonb, ?::jsonb, ?::jsonb, ?::jsonb, ?::timestamptz) as sequence',
    [
      write.workloadId,
      write.expected.lifecycle === null ? null : JSON.stringify(write.expected.lifecycle),
      write.expected.sequence,
      JSON.stringify({
        lifecycle: w.lifecycle,
        desired_state: w.desiredState,
        expires_at: w.expiresAt,
        status: w.status,
        status_reason: w.statusReason,
        status_message: w.statusMessage,
        artifact_id: w.artifactId,
        runtime: w.runtime,
        deleted_at: w.deletedAt,
      }),
      JSON.stringify(
        write.protons.map((p) => ({ id: p.id, status: p.status, status_reason: p.statusReason, status_message: p.statusMessage, role: p.role, removed: p.removed })),
      ),
      write.replacement
        ? JSON.stringify({
            id: write.replacement.id,
            status: write.replacement.status,
            status_reason: write.replacement.statusReason,
            status_message: write.replacement.statusMessage,
            finished: write.replacement.finished,
          })
        : null,
      JSON.stringify(write.events),
      write.now,
    ],
  );
  const sequence = row?.sequence;
  if (typeof sequence !== 'number') throw new Error(`workload_record_round returned no sequence for workload ${write.workloadId}`);
  if (sequence < 0) return 'stale';
  return sequence === 0 ? null : sequence;
}

/** A workload's first lifecycle, and the active proton row it names. */
export interface InitialWrite {
  readonly workloadId: string;
  readonly lifecycle: Record<string, unknown>;
  readonly columns: Pick<RoundWorkload, 'desiredState' | 'expiresAt' | 'status' | 'statusReason' | 'statusMessage'>;
  /** The active proton's id: it runs the workload's artifact with the workload's runtime. */
  readonly protonId: string;
  readonly now: Date;
}

/**
 * Records a workload's first lifecycle and inserts its active proton, in one statement, unless
 * the workload has a lifecycle already (an operation initialized it first) or is deleted: the
 * new proton's row as a pass reads it (with its artifact's spec), or undefined when this write did
 * not do it.
 */
export async function initializeWorkload(em: EntityManager, write: InitialWrite): Promise<RoundProton | undefined> {
  const c = write.columns;
  const [row] = await queryRows<{ id: string; artifact_id: string; runtime: WorkloadRuntime | string; spec: ArtifactSpec | string }>(
    em,
    `with w as (
       update workload set lifecycle = ?::jsonb, desired_state = ?, expires_at = ?::timestamptz, status = ?, status_reason = ?, status_message = ?
        where id = ? and lifecycle is null and deleted_at is null
        returning id, artifact_id, runtime),
     p as (
       insert into proton (id, workload_id, artifact_id, role, status, runtime, created_at, updated_at)
         select ?::uuid, w.id, w.artifact_id, 'active', 'submitted', w.runtime, ?::timestamptz, ?::timestamptz from w
       returning id, artifact_id, runtime)
     select p.id, p.artifact_id, p.runtime, a.spec from p join artifact a on a.id = p.artifact_id`,
    [JSON.stringify(write.lifecycle), c.desiredState, c.expiresAt, c.status, c.statusReason, c.statusMessage, write.workloadId, write.protonId, write.now, write.now],
  );
  if (!row) return undefined;
  return {
    id: row.id,
    artifactId: row.artifact_id,
    spec: jsonColumn(row.spec),
    runtime: jsonColumn(row.runtime),
    restartedAt: null,
    role: 'active',
    status: 'submitted',
    statusReason: null,
    statusMessage: null,
    removed: false,
  };
}
