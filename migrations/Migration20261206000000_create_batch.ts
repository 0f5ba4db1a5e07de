import { Migration } from '@mikro-orm/migrations';

/**
 * Creates written several to a statement (ADR 0005, decision 27): `workload_create_batch(items)`
 * writes each item (`{rows, quota?}`: what `workload_create` or `workload_create_admitted` takes)
 * in turn, each in its own subtransaction, and answers one result per item in order:
 * `{sequence}`, `{breach}` (the quota refused it; nothing written) or `{error}` (a rule of the
 * database refused it: its SQLSTATE, message, detail and constraint; nothing of it written). One
 * item refused never undoes another.
 *
 * Before any item, the batch takes every lock its items would take, in the order every single
 * decision takes them: the quota locks of the subjects with a limit (owners, then organizations,
 * each by id; as `quota_admit`), then the usage counters' rows of every item's owner and
 * organization (owners, then organizations; as the counters' trigger). An item's own statements
 * then only take locks the batch holds, so a batch waits as a single create would, and never
 * holds one subject's lock while waiting for an earlier one in that order.
 */
export class Migration20261206000000_create_batch extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create or replace function workload_create_batch(items jsonb) returns jsonb
      language plpgsql as $$
      declare
        item jsonb;
        results jsonb := '[]'::jsonb;
        k record;
        e_code text; e_message text; e_detail text; e_constraint text; e_table text; e_column text; e_schema text;
      begin
${BATCH_LOCKS}        for item in select value from jsonb_array_elements(items) loop
          begin
            if item ? 'quota' then
              results := results || jsonb_build_array(workload_create_admitted(item->'quota', item->'rows'));
            else
              results := results || jsonb_build_array(jsonb_build_object('sequence', workload_create(item->'rows')));
            end if;
          exception when others then
            get stacked diagnostics e_code = returned_sqlstate, e_message = message_text, e_detail = pg_exception_detail,
              e_constraint = constraint_name, e_table = table_name, e_column = column_name, e_schema = schema_name;
            results := results || jsonb_build_array(jsonb_build_object('error', jsonb_strip_nulls(jsonb_build_object(
              'code', e_code, 'message', e_message, 'detail', nullif(e_detail, ''), 'constraint', nullif(e_constraint, ''),
              'table', nullif(e_table, ''), 'column', nullif(e_column, ''), 'schema', nullif(e_schema, '')))));
          end;
        end loop;
        return results;
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists workload_create_batch(jsonb);`);
  }
}

/**
 * The batch's first locks (see above), in a PL/pgSQL body that declares `k record` and names its
 * argument `items`; the batch of a later migration takes them the same way.
 */
export const BATCH_LOCKS = `        for k in
          select d.scope, d.id from (
            select distinct s->>'scope' as scope, s->>'id' as id
              from jsonb_array_elements(items) i, jsonb_array_elements(coalesce(i->'quota'->'subjects', '[]'::jsonb)) s) d
           order by d.scope <> 'owner', d.id
        loop
          perform pg_advisory_xact_lock(hashtextextended('quota:' || k.scope || ':' || k.id, 0));
        end loop;
        perform 1 from quota_subject_usage u
          where (u.scope, u.subject_id) in (
            select 'owner', i->'rows'->'workload'->>'owner_id' from jsonb_array_elements(items) i
            union
            select 'organization', i->'rows'->'workload'->>'organization' from jsonb_array_elements(items) i
             where i->'rows'->'workload'->>'organization' is not null)
          order by u.scope <> 'owner', u.subject_id
          for update of u;
`;
