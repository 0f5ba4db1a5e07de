import { Migration } from '@mikro-orm/migrations';

/**
 * A new workload's rows as one statement (docs/adr/0005-controller.md, decision 22):
 * `workload_create` inserts, in the order the database's rules need, an inline artifact's
 * repository, artifact and OWNER grant (when the workload brings its own spec), the workload, its
 * OWNER grant, and its `created` event, and returns the event's sequence. Each insert is its own
 * statement inside the function, so the triggers of the in-use rule and of the event sequence see
 * the rows inserted before them; every rule that refuses (a name taken, a draft taken, an
 * artifact deleted) undoes the whole call. A create that needs no reads under a lock (its own
 * spec, no limited quota) is then one round trip instead of eight (begin, six inserts, commit).
 *
 * The argument is a JSON object: `repository`, `artifact` (optional) and `workload` are rows keyed
 * by column name, `artifactGrants` and `workloadGrants` arrays of such rows, and `event` the
 * created event (type, message, actor, data, occurred_at). A column missing from a row is null.
 */
export class Migration20261203010000_create_workload extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function workload_create(p jsonb) returns integer language plpgsql as $$
      declare
        created_sequence integer;
      begin
        if p ? 'repository' then
          insert into artifact_repository select * from jsonb_populate_record(null::artifact_repository, p->'repository');
        end if;
        if p ? 'artifact' then
          insert into artifact select * from jsonb_populate_record(null::artifact, p->'artifact');
        end if;
        insert into artifact_shared_role select * from jsonb_populate_recordset(null::artifact_shared_role, coalesce(p->'artifactGrants', '[]'::jsonb));
        insert into workload select * from jsonb_populate_record(null::workload, p->'workload');
        insert into workload_shared_role select * from jsonb_populate_recordset(null::workload_shared_role, coalesce(p->'workloadGrants', '[]'::jsonb));
        insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
          values ((p->'workload'->>'id')::uuid, 0, p->'event'->>'type', p->'event'->>'message', p->'event'->>'actor',
                  coalesce(p->'event'->'data', '{}'::jsonb), (p->'event'->>'occurred_at')::timestamptz)
          returning sequence into created_sequence;
        return created_sequence;
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop function if exists workload_create(jsonb);');
  }
}
