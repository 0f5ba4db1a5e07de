import type { EntityManager } from '@mikro-orm/postgresql';
import type { RecordedEvent } from '../domain/events.js';
import type { WorkloadEvent } from './entities/index.js';
import { queryRows } from './sql.js';

/** What an event says; the database assigns its gap-free sequence number. */
export interface NewWorkloadEvent {
  workloadId: string;
  type: string;
  message: string;
  actor: string | null;
  data?: Record<string, unknown>;
  occurredAt: Date;
}

/**
 * Appends an event to a workload's log inside the caller's transaction and returns its sequence.
 * Pending entity changes are flushed first so that the workload row exists and is current.
 */
export async function appendWorkloadEvent(em: EntityManager, event: NewWorkloadEvent): Promise<number> {
  await em.flush();
  const rows = await queryRows<{ sequence: number }>(
    em,
    `insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
     values (?, 0, ?, ?, ?, ?::jsonb, ?) returning sequence`,
    [event.workloadId, event.type, event.message, event.actor, JSON.stringify(event.data ?? {}), event.occurredAt],
  );
  const sequence = rows[0]?.sequence;
  if (typeof sequence !== 'number') throw new Error(`no sequence returned for event of workload ${event.workloadId}`);
  return sequence;
}

/** Appends a typed event: its payload is stored as `data`, its type beside it. */
export function appendRecordedEvent(
  em: EntityManager,
  workloadId: string,
  event: RecordedEvent,
  actor: string | null,
  occurredAt: Date,
): Promise<number> {
  return appendWorkloadEvent(em, { workloadId, type: event.data.type, message: event.message, actor, data: { ...event.data }, occurredAt });
}

/**
 * Appends typed events in order with one statement inside the caller's transaction; returns the
 * last one's sequence, or null for none. Pending entity changes are flushed first.
 */
export async function appendRecordedEvents(
  em: EntityManager,
  workloadId: string,
  events: readonly RecordedEvent[],
  actor: string | null,
  occurredAt: Date,
): Promise<number | null> {
  await em.flush();
  if (events.length === 0) return null;
  const values = events.map(() => '(?, 0, ?, ?, ?, ?::jsonb, ?)').join(', ');
  const params = events.flatMap((e) => [workloadId, e.data.type, e.message, actor, JSON.stringify({ ...e.data }), occurredAt]);
  // The sequence trigger runs per row in the order of the values list.
  const rows = await queryRows<{ sequence: number }>(
    em,
    `insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at) values ${values} returning sequence`,
    params,
  );
  const sequences = rows.map((r) => r.sequence);
  if (sequences.length !== events.length || sequences.some((s) => typeof s !== 'number')) {
    throw new Error(`no sequence returned for events of workload ${workloadId}`);
  }
  return Math.max(...sequences);
}

type EventRow = { workload_id: string; sequence: number; type: string; message: string; actor: string | null; data: Record<string, unknown> | string; occurred_at: Date | string };

/**
 * A window of a workload's event log, in sequence order (`inverted`: newest first), as plain
 * objects of the entity's shape: events are never changed once written, so nothing needs managing,
 * and a live stream reads one page per event it sends (an entity read cost several times the
 * statement; issue 16).
 */
export async function readWorkloadEvents(
  em: EntityManager,
  workloadId: string,
  window: { after: number; limit: number; inverted: boolean; before?: number },
): Promise<WorkloadEvent[]> {
  const rows = await queryRows<EventRow>(
    em,
    `select workload_id, sequence, type, message, actor, data, occurred_at from workload_event
     where workload_id = ? and sequence > ?${window.before !== undefined ? ' and sequence < ?' : ''}
     order by sequence ${window.inverted ? 'desc' : 'asc'} limit ?`,
    window.before !== undefined ? [workloadId, window.after, window.before, window.limit] : [workloadId, window.after, window.limit],
  );
  return rows.map(eventOf);
}

function eventOf(r: EventRow): WorkloadEvent {
  return {
    workloadId: r.workload_id,
    sequence: Number(r.sequence),
    type: r.type,
    message: r.message,
    actor: r.actor,
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
    occurredAt: r.occurred_at instanceof Date ? r.occurred_at : new Date(r.occurred_at),
  } as WorkloadEvent;
}

/** A workload's newest event sequence and whether it is deleted, with the first page of events after `after` up to that sequence. */
export interface WorkloadHeadAndEvents {
  readonly head: { readonly lastEventSequence: number; readonly deletedAt: Date | null } | null;
  /** In sequence order, at most `limit`, none past `head.lastEventSequence` (read in the same statement). */
  readonly events: WorkloadEvent[];
}

/**
 * Events one write committed to a workload's log, as a read of the log gives them: they follow
 * sequence `after` without a gap, and `deletedAt` is the workload's deletion as that write left it.
 */
export interface CommittedEvents {
  readonly after: number;
  readonly events: readonly WorkloadEvent[];
  readonly deletedAt: Date | null;
}

/**
 * What a live event stream reads for each change, in one statement: the workload's head (its
 * newest sequence, its deletion) and the first page of events after `after` that the head covers.
 */
export async function readHeadAndEvents(em: EntityManager, workloadId: string, after: number, limit: number): Promise<WorkloadHeadAndEvents> {
  const [row] = await queryRows<{ last_event_sequence: number | string; deleted_at: Date | string | null; events: EventRow[] | string }>(
    em,
    `select w.last_event_sequence, w.deleted_at, (
       select coalesce(json_agg(e order by e.sequence), '[]'::json) from (
         select workload_id, sequence, type, message, actor, data, occurred_at from workload_event
         where workload_id = w.id and sequence > ? and sequence <= w.last_event_sequence order by sequence limit ?) e
     ) as events
     from workload w where w.id = ?`,
    [after, limit, workloadId],
  );
  if (!row) return { head: null, events: [] };
  const events = typeof row.events === 'string' ? (JSON.parse(row.events) as EventRow[]) : row.events;
  const deletedAt = row.deleted_at === null ? null : row.deleted_at instanceof Date ? row.deleted_at : new Date(row.deleted_at);
  return { head: { lastEventSequence: Number(row.last_event_sequence), deletedAt }, events: events.map(eventOf) };
}

/** The sequence of each live workload's newest event (a workload that is gone has none). */
export async function newestEventSequences(em: EntityManager, workloadIds: readonly string[]): Promise<Map<string, number>> {
  if (workloadIds.length === 0) return new Map();
  const rows = await queryRows<{ id: string; last_event_sequence: number }>(
    em,
    'select id, last_event_sequence from workload where id = any(?::uuid[]) and deleted_at is null',
    [workloadIds],
  );
  return new Map(rows.map((r) => [r.id, r.last_event_sequence]));
}
