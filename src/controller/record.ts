/**
 * Phase "record": writes what a pass decided in one statement, its own transaction (the
 * lifecycle, the workload's status columns, proton statuses and roles, the replacement row, typed
 * events); the caller publishes after it. A pass whose view went stale (an operation changed the workload meanwhile)
 * writes nothing; the next pass sees the operation's state.
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkloadRuntime } from '../domain/artifact-spec.js';
import { protonStatusChanged, type RecordedEvent } from '../domain/events.js';
import type { OperationContext } from '../domain/lifecycle.js';
import type { DesiredState, ProtonStatus } from '../domain/model.js';
import { placeOf, ROLE_OF_SLOT } from '../domain/proton-identity.js';
import type { ProtonStatusReport } from '../domain/proton-status.js';
import { isReplacementInProgress } from '../domain/replacement.js';
import { ArtifactEntity, ProtonEntity, type Proton, type Workload, type WorkloadEvent } from '../store/entities/index.js';
import type { CommittedEvents } from '../store/events.js';
import type { Orm } from '../store/orm.js';
import { initializeWorkload, readRoundRows, recordWorkloadRound, type ProtonWrite, type RoundProton, type RoundWorkload } from '../store/workload-rounds.js';
import { explainStatus, type Decision } from './decide.js';
import { firstLifecycle, jsonEqual, serializeLifecycle, toJsonValue, type StoredLifecycle } from './lifecycle-store.js';

/**
 * One workload as a pass read it, once: the workload's columns and its live proton rows, plain
 * values read in one statement. Every round of the pass records through it and then updates it
 * to what it wrote, so a round reads nothing back; `workload.lifecycle` is the stored lifecycle as
 * last read or written, which the round's write compares (and locks) to tell whether an operation
 * got in between.
 */
export interface PassView {
  readonly orm: Orm;
  readonly workload: RoundWorkload;
  readonly rows: RoundProton[];
}

/** Reads what a pass needs of one workload (one statement), or undefined when it is gone. */
export async function readPassView(orm: Orm, workloadId: string): Promise<PassView | undefined> {
  const read = await readRoundRows(orm.em, workloadId);
  return read && { orm, workload: read.workload, rows: read.protons };
}

/** The proton rows of a view that no round of the pass has removed. */
export function liveRows(view: PassView): RoundProton[] {
  return view.rows.filter((row) => !row.removed);
}

/**
 * Writes one round's decision in one statement (`workload_record_round`): the workload row is
 * locked and written only while it still holds the view's lifecycle and last event sequence (no
 * operation, update or sharing change got in between); the changed proton rows,
 * the replacement's step and the events go with it. Returns the last event's sequence (to publish
 * after the commit), null when nothing needed an event, or 'stale' when an operation changed the
 * workload since the view was read (nothing is written; the next pass sees the operation's
 * state). The view is brought up to what was written only when the write succeeded; then
 * `onCommitted` is told the events written, as a read of the log would give them (for the live
 * streams of this process, ADR 0033 decision 7).
 */
export async function recordRound(
  view: PassView,
  before: StoredLifecycle,
  decision: Decision,
  reports: ReadonlyMap<string, ProtonStatusReport>,
  now: Date,
  onCommitted?: (committed: CommittedEvents) => void,
): Promise<number | null | 'stale'> {
  const { workload } = view;
  const { next, events, finishedDeleting } = decision;
  const rows = liveRows(view);
  const protonEvents: RecordedEvent[] = [];
  const writes = new Map<string, ProtonWrite>();
  const change = (row: RoundProton, patch: Partial<Omit<ProtonWrite, 'id'>>) => {
    const current = writes.get(row.id) ?? { id: row.id, status: row.status, statusReason: row.statusReason, statusMessage: row.statusMessage, role: row.role, removed: row.removed };
    writes.set(row.id, { ...current, ...patch });
  };
  const setStatus = (row: RoundProton, status: ProtonStatus, reason: string | null, message: string | null) => {
    if (row.status !== status) protonEvents.push(protonStatusChanged(row, row.status, status, reason ?? undefined));
    if (row.status === status && row.statusReason === reason && row.statusMessage === message) return;
    change(row, { status, statusReason: reason, statusMessage: message });
  };
  for (const row of rows) {
    const r = reports.get(row.id);
    if (r) setStatus(row, r.status, r.reason ?? null, r.message ?? null);
  }
  // Roles follow the lifecycle state; the old active steps aside before another takes its role.
  let artifactId = workload.artifactId;
  let runtime = workload.runtime;
  for (const row of rows) {
    const place = placeOf(next.state, row.id);
    if (place === undefined || finishedDeleting) {
      if (place === undefined) setStatus(row, 'terminated', null, null);
      change(row, { removed: true });
    } else if (place !== 'retiring' && row.role !== ROLE_OF_SLOT[place]) {
      change(row, { role: ROLE_OF_SLOT[place] });
      // The switch: the workload now runs what its new active proton runs.
      if (place === 'active') {
        artifactId = row.artifactId;
        runtime = row.runtime;
      }
    }
  }
  const replacement = next.state.replacement;
  const columns = workloadColumns(next, next.state.active?.protonId ? reports.get(next.state.active.protonId) : undefined);
  const all = [...protonEvents, ...events];
  if (finishedDeleting) all.push({ data: { type: 'deleted' }, message: 'workload deleted: its protons and routing are gone; the artifact stays' });
  const nextLifecycle = serializeLifecycle(next);
  const sequence = await recordWorkloadRound(view.orm.em, {
    workloadId: workload.id,
    expected: { lifecycle: workload.lifecycle, sequence: workload.lastEventSequence },
    workload: { ...columns, lifecycle: nextLifecycle, artifactId, runtime, deletedAt: finishedDeleting ? now : null },
    protons: [...writes.values()],
    ...(next.replacementId &&
      replacement && {
        replacement: {
          id: next.replacementId,
          status: replacement.status,
          statusReason: replacement.reason ?? null,
          statusMessage: replacement.message ?? null,
          finished: !isReplacementInProgress(replacement),
        },
      }),
    events: all.map((e) => ({ type: e.data.type, message: e.message, data: { ...e.data } })),
    now,
  });
  if (sequence === 'stale') return sequence;
  // The statement numbers the events after the sequence it found, which is the view's (else it is stale).
  if (onCommitted && sequence !== null && sequence === workload.lastEventSequence + all.length) {
    onCommitted({ after: workload.lastEventSequence, events: all.map((e, i) => loggedEvent(workload.id, workload.lastEventSequence + i + 1, e, now)), deletedAt: finishedDeleting ? now : null });
  }
  Object.assign(workload, columns, { lifecycle: nextLifecycle, artifactId, runtime, lastEventSequence: sequence ?? workload.lastEventSequence });
  for (const row of rows) {
    const written = writes.get(row.id);
    if (written) Object.assign(row, { status: written.status, statusReason: written.statusReason, statusMessage: written.statusMessage, role: written.role, removed: written.removed });
  }
  return sequence;
}

/** A round's event as the log holds it: the statement writes its data as JSON, no actor (the system), at the round's time. */
function loggedEvent(workloadId: string, sequence: number, e: RecordedEvent, now: Date): WorkloadEvent {
  return { workloadId, sequence, type: e.data.type, message: e.message, actor: null, data: toJsonValue({ ...e.data }) as Record<string, unknown>, occurredAt: now } as WorkloadEvent;
}

/**
 * A new workload's first lifecycle and the columns that mirror it: the create rule's state as of
 * its creation (with the expiry its row holds), its active slot naming proton `protonId` as the
 * rule's `startActiveProton` effect does (applyRecordEffects). A create writes it with the
 * workload and that proton (ADR 0005, decision 23); `recordFirstLifecycle` writes it for a
 * workload that has none.
 */
export function initialLifecycle(
  w: { readonly artifactId: string; readonly artifactStatus: RoundWorkload['artifactStatus']; readonly createdAt: Date; readonly expiresAt: Date | null },
  ctxAt: (at: Date) => OperationContext,
  protonId: string,
): { lifecycle: Record<string, unknown>; columns: ReturnType<typeof workloadColumns> } {
  const { state } = firstLifecycle(w, ctxAt).stored;
  const stored: StoredLifecycle = { state: { ...state, active: { artifactId: w.artifactId, status: 'submitted', ...state.active, protonId } } };
  return { lifecycle: serializeLifecycle(stored), columns: workloadColumns(stored, undefined) };
}

/**
 * The first pass of a workload without a lifecycle (one created before creates wrote it):
 * records its first lifecycle and inserts the active proton that state names, in one statement,
 * before anything touches the runtime (an operation's `loadOrInitialize` does the same through the
 * ORM), and brings the view up to what it wrote: the pass goes on without reading the workload
 * again. False when an operation initialized it first: read it again.
 */
export async function recordFirstLifecycle(view: PassView, ctxAt: (at: Date) => OperationContext, now: Date): Promise<boolean> {
  const w = view.workload;
  const protonId = randomUUID();
  const { lifecycle, columns } = initialLifecycle(w, ctxAt, protonId);
  const proton = await initializeWorkload(view.orm.em, { workloadId: w.id, lifecycle, columns, protonId, now });
  if (!proton) return false;
  Object.assign(w, columns, { lifecycle });
  view.rows.push(proton);
  return true;
}

/**
 * Writes one pass's decision through a view of its own (tests, and a pass whose view a failure
 * spoiled); `onCommitted` gets the events it committed, as `recordRound`'s does.
 */
export async function recordPass(
  orm: Orm,
  workloadId: string,
  before: StoredLifecycle,
  decision: Decision,
  reports: ReadonlyMap<string, ProtonStatusReport>,
  now: Date,
  onCommitted?: (committed: CommittedEvents) => void,
): Promise<number | null> {
  const view = await readPassView(orm, workloadId);
  // An operation changed the workload since `before` was read: our view is stale, the next pass sees theirs.
  if (!view || !jsonEqual(view.workload.lifecycle, serializeLifecycle(before))) return null;
  const sequence = await recordRound(view, before, decision, reports, now, onCommitted);
  return sequence === 'stale' ? null : sequence;
}

/** The workload's queryable columns that mirror a lifecycle state (its status explained by the active proton's report). */
function workloadColumns(
  stored: StoredLifecycle,
  active: ProtonStatusReport | undefined,
): Pick<RoundWorkload, 'desiredState' | 'expiresAt' | 'status' | 'statusReason' | 'statusMessage'> {
  const s = stored.state;
  const explained = explainStatus(s, active);
  return {
    desiredState: s.desiredState as DesiredState,
    expiresAt: s.expiresAt ?? null,
    status: s.status,
    statusReason: explained.reason ?? null,
    statusMessage: explained.message ?? null,
  };
}

/** Mirrors the lifecycle state onto a workload entity's queryable columns (an operation's or a first pass's write). */
export function writeWorkload(workload: Workload, stored: StoredLifecycle, active: ProtonStatusReport | undefined, now: Date): void {
  const { status, statusReason, statusMessage, ...rest } = workloadColumns(stored, active);
  workload.lifecycle = serializeLifecycle(stored);
  Object.assign(workload, rest);
  if (workload.status !== status || workload.statusReason !== statusReason || workload.statusMessage !== statusMessage) {
    Object.assign(workload, { status, statusReason, statusMessage, updatedAt: now });
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
