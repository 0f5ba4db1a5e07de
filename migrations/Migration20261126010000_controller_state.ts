import { Migration } from '@mikro-orm/migrations';

/**
 * What the controller needs to resume after a crash: the workload's whole lifecycle state, the
 * old active proton of a replacement (role `previous`), a proton's restart request, and when a
 * workload was promoted.
 */
export class Migration20261126010000_controller_state extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table workload add column lifecycle jsonb null;`);
    this.addSql(`alter table workload add column promoted_at timestamptz null;`);
    this.addSql(`alter table proton drop constraint proton_role_check;`);
    this.addSql(`alter table proton add constraint proton_role_check check (role in ('active', 'candidate', 'previous'));`);
    this.addSql(`alter table proton add column restarted_at timestamptz null;`);
    this.addSql(`create index workload_needs_attention_index on workload (status) where deleted_at is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists workload_needs_attention_index;`);
    this.addSql(`alter table proton drop column restarted_at;`);
    this.addSql(`alter table proton drop constraint proton_role_check;`);
    this.addSql(`alter table proton add constraint proton_role_check check (role in ('active', 'candidate'));`);
    this.addSql(`alter table workload drop column promoted_at;`);
    this.addSql(`alter table workload drop column lifecycle;`);
  }
}
