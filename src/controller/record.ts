/**
 * Phase "record": writes what a pass decided in one transaction (the lifecycle, the workload's
 * status columns, proton statuses and roles, the replacement row, typed events) and publishes
 * after the commit. A pass whose view went stale (an operation changed the workload meanwhile)
 * writes nothing; the next pass sees the operation's state.
 */
import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkloadRuntime } from '../domain/artifact-spec.js';
import { protonStatusChanged, type RecordedEvent } from '../domain/events.js';
import type { DesiredState } from '../domain/model.js';
import { placeOf, ROLE_OF_SLOT } from '../domain/proton-identity.js';
import type { ProtonStatusReport } from '../domain/proton-status.js';
import { isReplacementInProgress } from '../domain/replacement.js';
import { ArtifactEntity, ProtonEntity, ReplacementEntity, WorkloadEntity, type Proton, type Workload } from '../store/entities/index.js';
import { appendRecordedEvents } from '../store/events.js';
import { queryRows } from '../store/sql.js';
import type { Orm } from '../store/orm.js';
import { explainStatus, type Decision } from './decide.js';
import { canonicalJson, serializeLifecycle, type StoredLifecycle } from './lifecycle-store.js';

/**
 * One workload as a pass read it, once: its own EntityManager, the workload (artifact populated)
 * and its proton rows. Every round of the pass records through it, so a round's transaction
 * reads nothing back; `lifecycle` is the stored lifecycle as last read or written, which the
 * transaction's first statement compares (and locks) to tell whether an operation got in between.
 */
export interface PassView {
  readonly em: EntityManager;
  readonly workload: Workload;
  readonly rows: readonly Proton[];
  lifecycle: Record<string, unknown> | null;
}

/** Reads what a pass needs of one workload (two statements), or undefined when it is gone. */
export async function readPassView(orm: Orm, workloadId: string): Promise<PassView | undefined> {
  const em = orm.em.fork();
  const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { populate: ['artifact'] });
  if (!workload) return undefined;
  const rows = await em.find(ProtonEntity, { workload: workloadId, removedAt: null }, { populate: ['artifact'] });
  return { em, workload, rows, lifecycle: workload.lifecycle ?? null };
}

/** The proton rows of a view that no round of the pass has removed. */
export function liveRows(view: PassView): Proton[] {
  return view.rows.filter((row) => row.removedAt === null);
}

/**
 * Writes one round's decision in one transaction that reads nothing back: a lock on the workload
 * row that also checks its lifecycle is still `view.lifecycle`, the changed rows, the events in
 * one statement; returns the last event's sequence (to publish after the commit), null when
 * nothing needed an event, or 'stale' when an operation changed the workload since the view was
 * read (nothing is written; the next pass sees the operation's state). After a failure the view's
 * entities may hold what was not written: read a new view.
 */
export async function recordRound(
  view: PassView,
  before: StoredLifecycle,
  decision: Decision,
  reports: ReadonlyMap<string, ProtonStatusReport>,
  now: Date,
): Promise<number | null | 'stale'> {
  const { em, workload } = view;
  const { next, events, finishedDeleting } = decision;
  await em.begin();
  try {
    const locked = await queryRows<{ id: string }>(
      em,
      'select id from workload where id = ? and deleted_at is null and lifecycle is not distinct from ?::jsonb for update',
      [workload.id, view.lifecycle === null ? null : JSON.stringify(view.lifecycle)],
    );
    if (locked.length === 0) {
      await em.rollback();
      return 'stale';
    }
    const rows = liveRows(view);
    const protonEvents: RecordedEvent[] = [];
    const setStatus = (row: Proton, status: Proton['status'], reason: string | null, message: string | null) => {
      if (row.status !== status) protonEvents.push(protonStatusChanged(row, row.status, status, reason ?? undefined));
      if (row.status === status && row.statusReason === reason && row.statusMessage === message) return;
      row.status = status;
      row.statusReason = reason;
      row.statusMessage = message;
      row.updatedAt = now;
    };
    for (const row of rows) {
      const r = reports.get(row.id);
      if (r) setStatus(row, r.status, r.reason ?? null, r.message ?? null);
    }
    // Roles follow the lifecycle state; the old active steps aside first (one active at a time).
    for (const row of rows) {
      const place = placeOf(next.state, row.id);
      if (place === undefined) {
        row.removedAt = now;
        setStatus(row, 'terminated', null, null);
      } else if (place === 'oldActive' && row.role !== 'previous') row.role = 'previous';
    }
    await em.flush();
    for (const row of rows) {
      const place = placeOf(next.state, row.id);
      if (place === undefined || place === 'retiring' || row.role === ROLE_OF_SLOT[place]) continue;
      row.role = ROLE_OF_SLOT[place];
      // The switch: the workload now runs what its new active proton runs.
      if (place === 'active') {
        workload.artifact = row.artifact;
        workload.runtime = row.runtime;
      }
    }
    await em.flush();
    await recordReplacement(em, next, now);
    const activeId = next.state.active?.protonId;
    writeWorkload(workload, next, activeId ? reports.get(activeId) : undefined, now);
    const all = [...protonEvents, ...events];
    if (finishedDeleting) {
      workload.deletedAt = now;
      for (const row of rows) row.removedAt ??= now;
      all.push({ data: { type: 'deleted' }, message: 'workload deleted: its protons and routing are gone; the artifact stays' });
    }
    const sequence = await appendRecordedEvents(em, workload.id, all, null, now);
    await em.commit();
    view.lifecycle = workload.lifecycle ?? null;
    return sequence;
  } catch (error) {
    await em.rollback().catch(() => undefined);
    throw error;
  }
}

/** Writes one pass's decision through a view of its own (tests, and a pass whose view a failure spoiled). */
export async function recordPass(
  orm: Orm,
  workloadId: string,
  before: StoredLifecycle,
  decision: Decision,
  reports: ReadonlyMap<string, ProtonStatusReport>,
  now: Date,
): Promise<number | null> {
  const view = await readPassView(orm, workloadId);
  // An operation changed the workload since `before` was read: our view is stale, the next pass sees theirs.
  if (!view || canonicalJson(view.lifecycle) !== canonicalJson(serializeLifecycle(before))) return null;
  const sequence = await recordRound(view, before, decision, reports, now);
  return sequence === 'stale' ? null : sequence;
}

/** Mirrors the replacement's state onto its row. */
async function recordReplacement(em: EntityManager, next: StoredLifecycle, now: Date): Promise<void> {
  const r = next.state.replacement;
  if (!next.replacementId || !r) return;
  const record = await em.findOne(ReplacementEntity, { id: next.replacementId });
  if (!record || record.status === r.status) return;
  record.status = r.status;
  record.statusReason = r.reason ?? null;
  record.statusMessage = r.message ?? null;
  record.updatedAt = now;
  if (!isReplacementInProgress(r)) record.finishedAt = now;
}

/** Mirrors the lifecycle state onto the workload's queryable columns. */
export function writeWorkload(workload: Workload, stored: StoredLifecycle, active: ProtonStatusReport | undefined, now: Date): void {
  const s = stored.state;
  workload.lifecycle = serializeLifecycle(stored);
  workload.desiredState = s.desiredState as DesiredState;
  workload.expiresAt = s.expiresAt ?? null;
  const explained = explainStatus(s, active);
  if (
    workload.status !== s.status ||
    workload.statusReason !== (explained.reason ?? null) ||
    workload.statusMessage !== (explained.message ?? null)
  ) {
    workload.status = s.status;
    workload.statusReason = explained.reason ?? null;
    workload.statusMessage = explained.message ?? null;
    workload.updatedAt = now;
  }
}

/** A new proton row for a slot of the workload. */
export function createProtonRow(
  em: EntityManager,
  workload: Workload,
  artifactId: string,
  role: Proton['role'],
  runtime: WorkloadRuntime,
  now: Date,
): Proton {
  return em.create(ProtonEntity, {
    id: randomUUID(),
    workload,
    artifact: em.getReference(ArtifactEntity, artifactId),
    role,
    status: 'submitted',
    statusReason: null,
    statusMessage: null,
    runtime,
    restartedAt: null,
    createdAt: now,
    updatedAt: now,
    removedAt: null,
  });
}
