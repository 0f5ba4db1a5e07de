import { Migration } from '@mikro-orm/migrations';
import { BATCH_LOCKS } from './Migration20261206000000_create_batch.js';

/**
 * A batch of creates (one or more) written as sets when every one of them passes (ADR 0005,
 * decision 29).
 *
 * - `workload_create_all(items)`: when every item's quota admits it after the items before it,
 *   inserts every item's rows table by table, one statement a table, and answers each item's
 *   `{sequence}` in order. The sums are exact only in whole numbers (what the API's requests are:
 *   replicas, millicores, bytes), so a limited subject with a fraction in its usage or in an
 *   item's request is decided one by one, as the single check rounds it. Any refusal (a name
 *   taken, a quota reached, any rule of the database) undoes the whole attempt (its exception
 *   block) and answers null; nothing of it is left.
 * - Its workloads are written with their last event's number already 1 and their created events
 *   numbered 1: the event's trigger, given a number, checks that the workload's row has given it
 *   and that the number before it is taken (the key refuses a second), instead of updating each
 *   new row again.
 * - `workload_create_batch(items)`: takes the batch's locks as before, then answers
 *   `workload_create_all`, or, when it answered null, `workload_create_each`: the previous batch,
 *   renamed, which decides each item in turn in its own subtransaction (the locks it takes again
 *   are held already). The answers are the same either way; only their cost differs.
 * - The usage counters' insert trigger runs once a statement over the inserted rows (a transition
 *   table): a set of creates adds to each subject's counters once, in the same lock order.
 */
export class Migration20261208000000_create_as_sets extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter function workload_create_batch(jsonb) rename to workload_create_each;`);
    this.addSql(`
      create function workload_create_all(items jsonb) returns jsonb
      language plpgsql as $$
      declare
        subjects jsonb;
        results jsonb;
      begin
        if jsonb_array_length(items) = 0 then return '[]'::jsonb; end if;
        -- Requests are never negative, so every item passes after those before it exactly when
        -- each limited subject's usage plus all the items' requests stays within its limit.
        subjects := (select jsonb_agg(distinct jsonb_build_object('scope', s->>'scope', 'id', s->>'id'))
                       from jsonb_array_elements(items) i cross join lateral jsonb_array_elements(i->'quota'->'subjects') s);
        if subjects is not null and exists (
          with asked as (
                 select s->>'scope' as scope, s->>'id' as id, r.name, (s->'limits'->>r.name)::float8 as lim, coalesce((i->'quota'->'added'->>r.name)::float8, 0) as more
                   from jsonb_array_elements(items) i
                  cross join lateral jsonb_array_elements(i->'quota'->'subjects') s
                  cross join (values ('workloads'), ('replicas'), ('cpu'), ('memory')) r(name)),
               total as (
                 select a.scope, a.id, a.name, min(a.lim) as lim, sum(a.more) as more, bool_or(a.more < 0 or a.more <> trunc(a.more)) as inexact
                   from asked a where a.lim is not null group by a.scope, a.id, a.name),
               used as (
                 select subjects->(q.i - 1)->>'scope' as scope, subjects->(q.i - 1)->>'id' as id,
                        jsonb_build_object('workloads', q.workloads::float8, 'replicas', q.replicas, 'cpu', q.cpu, 'memory', q.memory) as amounts
                   from quota_usage(subjects) q)
          select 1 from total t join used u on u.scope = t.scope and u.id = t.id
           cross join lateral (select (u.amounts->>t.name)::float8 as used) x
           where t.more > 0 and (t.inexact or x.used <> trunc(x.used) or x.used + t.more > t.lim))
        then
          return null;
        end if;
        insert into artifact_repository select r.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_record(null::artifact_repository, i->'rows'->'repository') r where i->'rows' ? 'repository';
        insert into artifact select a.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_record(null::artifact, i->'rows'->'artifact') a where i->'rows' ? 'artifact';
        insert into artifact_shared_role select g.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_recordset(null::artifact_shared_role, coalesce(i->'rows'->'artifactGrants', '[]'::jsonb)) g;
        insert into workload select w.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_record(null::workload, (i->'rows'->'workload') || '{"last_event_sequence": 1}'::jsonb) w;
        insert into workload_shared_role select g.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_recordset(null::workload_shared_role, coalesce(i->'rows'->'workloadGrants', '[]'::jsonb)) g;
        insert into proton select p.* from jsonb_array_elements(items) i
          cross join lateral jsonb_populate_recordset(null::proton, coalesce(i->'rows'->'protons', '[]'::jsonb)) p;
        with event as (
          insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
          select (i->'rows'->'workload'->>'id')::uuid, 1, i->'rows'->'event'->>'type', i->'rows'->'event'->>'message', i->'rows'->'event'->>'actor',
                 coalesce(i->'rows'->'event'->'data', '{}'::jsonb), (i->'rows'->'event'->>'occurred_at')::timestamptz
            from jsonb_array_elements(items) i
          returning workload_id, sequence)
        select jsonb_agg(jsonb_build_object('sequence', event.sequence) order by x.n) into results
          from jsonb_array_elements(items) with ordinality x(v, n) join event on event.workload_id = (x.v->'rows'->'workload'->>'id')::uuid;
        return results;
      exception when others then
        return null;
      end $$;`);
    this.addSql(`
      create function workload_create_batch(items jsonb) returns jsonb
      language plpgsql as $$
      declare
        k record;
      begin
${BATCH_LOCKS}        return coalesce(workload_create_all(items), workload_create_each(items));
      end $$;`);
    this.addSql(`
      create function quota_subject_usage_added() returns trigger language plpgsql as $$
      begin
        with change(scope, subject_id, replicas, cpu, memory) as (
               select 'owner', n.owner_id, n.demand_replicas, n.demand_cpu, n.demand_memory from added n
                where n.deleted_at is null and n.status <> 'terminated' and n.desired_state <> 'deleted'
               union all
               select 'organization', n.organization, n.demand_replicas, n.demand_cpu, n.demand_memory from added n
                where n.deleted_at is null and n.status <> 'terminated' and n.desired_state <> 'deleted' and n.organization is not null)
        insert into quota_subject_usage as u (scope, subject_id, workloads, replicas, cpu, memory)
        select c.scope, c.subject_id, count(*), sum(c.replicas::numeric), sum(c.cpu::numeric), sum(c.memory::numeric)
          from change c group by c.scope, c.subject_id
         order by c.scope <> 'owner', c.subject_id
        on conflict (scope, subject_id) do update
          set workloads = u.workloads + excluded.workloads, replicas = u.replicas + excluded.replicas,
              cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory;
        return null;
      end $$;`);
    this.addSql(`drop trigger quota_subject_usage_inserted on workload;`);
    this.addSql(`
      create trigger quota_subject_usage_inserted after insert on workload referencing new table as added
        for each statement execute function quota_subject_usage_added();`);
    this.addSql(assignSequence(true));
  }

  override async down(): Promise<void> {
    this.addSql(assignSequence(false));
    this.addSql(`drop trigger quota_subject_usage_inserted on workload;`);
    this.addSql(`create trigger quota_subject_usage_inserted after insert on workload for each row execute function quota_subject_usage_changed();`);
    this.addSql(`drop function quota_subject_usage_added();`);
    this.addSql(`drop function workload_create_batch(jsonb);`);
    this.addSql(`drop function workload_create_all(jsonb);`);
    this.addSql(`alter function workload_create_each(jsonb) rename to workload_create_batch;`);
  }
}

/** The event trigger's function; `given`: it also takes a number its writer gave (see above). */
function assignSequence(given: boolean): string {
  return `
      create or replace function workload_event_assign_sequence() returns trigger language plpgsql as $$
      begin${given ? `
        if new.sequence <> 0 then
          -- Numbered by its writer, which raised the workload row's last number first (a set of
          -- creates writes its rows with 1; a round raises it by its events): a number the row has
          -- given, right after one already taken (the key refuses a second of a number), so the
          -- numbers stay gap-free. A statement's earlier rows are seen by its later rows' triggers.
          perform 1 from workload where id = new.workload_id and last_event_sequence >= new.sequence;
          if not found or (new.sequence > 1 and not exists (
                select 1 from workload_event e where e.workload_id = new.workload_id and e.sequence = new.sequence - 1)) then
            raise exception 'event % of workload % is not the next number its workload gave', new.sequence, new.workload_id
              using errcode = 'foreign_key_violation';
          end if;
          return new;
        end if;` : ''}
        update workload set last_event_sequence = last_event_sequence + 1
          where id = new.workload_id returning last_event_sequence into new.sequence;
        if new.sequence is null then
          raise exception 'workload % does not exist', new.workload_id using errcode = 'foreign_key_violation';
        end if;
        return new;
      end $$;`;
}
