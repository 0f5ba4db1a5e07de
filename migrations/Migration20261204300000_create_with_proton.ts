import { Migration } from '@mikro-orm/migrations';

/**
 * A create writes the workload's first lifecycle and its active proton with it (ADR 0005, decision
 * 23): `workload_create` also inserts the proton rows it is given (`p->'protons'`), after the
 * workload they belong to. Without them (an older caller) it writes what it wrote before.
 */
export class Migration20261204300000_create_with_proton extends Migration {
  override async up(): Promise<void> {
    this.addSql(createFunction(true));
  }

  override async down(): Promise<void> {
    this.addSql(createFunction(false));
  }
}

function createFunction(withProtons: boolean): string {
  return `
      create or replace function workload_create(p jsonb) returns integer language plpgsql as $$
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
        insert into workload_shared_role select * from jsonb_populate_recordset(null::workload_shared_role, coalesce(p->'workloadGrants', '[]'::jsonb));${withProtons ? `
        insert into proton select * from jsonb_populate_recordset(null::proton, coalesce(p->'protons', '[]'::jsonb));` : ''}
        insert into workload_event (workload_id, sequence, type, message, actor, data, occurred_at)
          values ((p->'workload'->>'id')::uuid, 0, p->'event'->>'type', p->'event'->>'message', p->'event'->>'actor',
                  coalesce(p->'event'->'data', '{}'::jsonb), (p->'event'->>'occurred_at')::timestamptz)
          returning sequence into created_sequence;
        return created_sequence;
      end $$;`;
}
