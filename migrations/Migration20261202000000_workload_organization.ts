import { Migration } from '@mikro-orm/migrations';

/**
 * The organization a workload was created in (the creator's `org` claim then; null without one),
 * so that organization quotas can add up its usage. Workloads created before have none and count
 * only against their owner's quota (workload_name_unique_per_owner already indexes owner_id). See docs/adr/0013-importance-and-quotas.md.
 */
export class Migration20261202000000_workload_organization extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table workload add column organization varchar(255) null;`);
    this.addSql(`create index workload_organization_live_index on workload (organization) where deleted_at is null and organization is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists workload_organization_live_index;`);
    this.addSql(`alter table workload drop column organization;`);
  }
}
