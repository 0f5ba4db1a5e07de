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
import type { Orm } from '../store/orm.js';
import { explainStatus, type Decision } from './decide.js';
import { canonicalJson, serializeLifecycle, type StoredLifecycle } from './lifecycle-store.js';

/** Writes one pass's decision; returns the last event's sequence (to publish), or null if nothing was written. */
export async function recordPass(
  orm: Orm,
  workloadId: string,
  before: StoredLifecycle,
  decision: Decision,
  reports: ReadonlyMap<string, ProtonStatusReport>,
  now: Date,
): Promise<number | null> {
  const { next, events, finishedDeleting } = decision;
  return orm.em.fork().transactional(async (em) => {
    const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    // An operation changed the workload since we read it: our view is stale, the next pass sees theirs.
    if (!workload || canonicalJson(workload.lifecycle) !== canonicalJson(serializeLifecycle(before))) return null;
    const rows = await em.find(ProtonEntity, { workload: workloadId, removedAt: null }, { populate: ['artifact'] });
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
    const all: RecordedEvent[] = [...protonEvents, ...events];
    if (finishedDeleting) {
      workload.deletedAt = now;
      for (const row of rows) row.removedAt ??= now;
      all.push({ data: { type: 'deleted' }, message: 'workload deleted: its protons and routing are gone; the artifact stays' });
    }
    // One statement for all of the pass's events (they used to cost a flush and a round trip each).
    return appendRecordedEvents(em, workloadId, all, null, now);
  });
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
