import { Migration } from '@mikro-orm/migrations';

/**
 * One reconcile round's writes as one statement (docs/adr/0005-controller.md,
 * decision 21): the controller decides in TypeScript and hands the whole write set to
 * `workload_record_round`, which applies it in the order the database's rules need, inside the
 * statement's own transaction. A round costs one round trip instead of six (begin, lock, proton
 * and workload updates, the event insert, commit), and the workload row's lock is held for the
 * statement only, not across network round trips.
 *
 * Arguments: the workload; the lifecycle and the last event sequence the pass read (the row is
 * locked and written only while it still holds both: any other writer of a workload appends an
 * event, so a rename or a new importance makes the round stale as an operation does; else -1
 * comes back and nothing is written); the workload's new
 * columns; the changed proton rows (final status and role, and whether the round removes it);
 * the replacement row's new step (or null); the events (type, message, data) in order; the time.
 * Returns the last event's sequence, 0 when the round recorded no event, or -1 when stale.
 */
export class Migration20261203000000_record_round extends Migration {
  override async up(): Promise<void> {
    this.addSql(recordRoundFunction(false));
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists workload_record_round;');
  }
}

/**
 * The round's function. `numbered` (migration Migration20261208100000_round_numbers_events): the
 * round raises the workload row's last event number by its events in the update it makes anyway
 * and numbers its events itself, instead of the event trigger updating the row once per event.
 */
export function recordRoundFunction(numbered: boolean): string {
  return `
      create or replace function workload_record_round(
        p_workload_id uuid, p_expected jsonb, p_expected_sequence integer, p_workload jsonb, p_protons jsonb, p_replacement jsonb, p_events jsonb, p_now timestamptz
      ) returns integer language plpgsql as $$
      declare
        last_sequence integer;
      begin
        perform 1 from workload
          where id = p_workload_id and deleted_at is null and lifecycle is not distinct from p_expected
            and last_event_sequence = p_expected_sequence for update;
        if not found then return -1; end if;

        -- Statuses and removals first, and an old active steps aside: one active proton at a time.
        update proton p set
            status = v.status, status_reason = v.status_reason, status_message = v.status_message,
            role = case when v.role = 'previous' then 'previous' else p.role end,
            removed_at = case when v.removed then coalesce(p.removed_at, p_now) else p.removed_at end,
            updated_at = p_now
          from jsonb_to_recordset(p_protons) as v(id uuid, status text, status_reason text, status_message text, role text, removed boolean)
          where p.id = v.id and p.workload_id = p_workload_id;
        -- Then the protons that take a role (a candidate becoming active at the switch).
        update proton p set role = v.role
          from jsonb_to_recordset(p_protons) as v(id uuid, role text, removed boolean)
          where p.id = v.id and p.workload_id = p_workload_id and not v.removed and v.role <> 'previous' and p.role <> v.role;

        update workload w set
            lifecycle = p_workload->'lifecycle',
            desired_state = p_workload->>'desired_state',
            expires_at = (p_workload->>'expires_at')::timestamptz,
            status = p_workload->>'status',
            status_reason = p_workload->>'status_reason',
            status_message = p_workload->>'status_message',
            artifact_id = (p_workload->>'artifact_id')::uuid,
            runtime = p_workload->'runtime',
            deleted_at = (p_workload->>'deleted_at')::timestamptz,
            updated_at = p_now${numbered ? `,
            last_event_sequence = w.last_event_sequence + jsonb_array_length(p_events)` : ''}
          where w.id = p_workload_id
            and (w.lifecycle, w.desired_state, w.expires_at, w.status, w.status_reason, w.status_message, w.artifact_id, w.runtime, w.deleted_at)
              is distinct from (p_workload->'lifecycle', p_workload->>'desired_state', (p_workload->>'expires_at')::timestamptz,
                p_workload->>'status', p_workload->>'status_reason', p_workload->>'status_message',
                (p_workload->>'artifact_id')::uuid, p_workload->'runtime', (p_workload->>'deleted_at')::timestamptz)${numbered ? `
          returning w.last_event_sequence into last_sequence;
        -- Events and nothing else to write: only the row's last event number.
        if not found and jsonb_array_length(p_events) > 0 then
          update workload set last_event_sequence = last_event_sequence + jsonb_array_length(p_events)
            where id = p_workload_id returning last_event_sequence into last_sequence;
        end if;` : ';'}

        if p_replacement is not null then
          update replacement set
              status = p_replacement->>'status',
              status_reason = p_replacement->>'status_reason',
              status_message = p_replacement->>'status_message',
              finished_at = case when (p_replacement->>'finished')::boolean then p_now else finished_at end,
              updated_at = p_now
            where id = (p_replacement->>'id')::uuid and workload_id = p_workload_id and status <> p_replacement->>'status';
        end if;

        if jsonb_array_length(p_events) = 0 then return 0; end if;${numbered ? `
        -- Numbered here, in the order given, up to the number the row was raised to above.
        insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
          select p_workload_id, last_sequence - jsonb_array_length(p_events) + n::int, e->>'type', e->>'message', null, e->'data', p_now
            from jsonb_array_elements(p_events) with ordinality as x(e, n) order by n;` : `
        -- The sequence trigger numbers the rows in the order they are inserted.
        insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
          select p_workload_id, 0, e->>'type', e->>'message', null, e->'data', p_now
            from jsonb_array_elements(p_events) with ordinality as x(e, n) order by n;
        select last_event_sequence into last_sequence from workload where id = p_workload_id;`}
        return last_sequence;
      end $$;`;
}
