import { Migration } from '@mikro-orm/migrations';

/**
 * A write of a workload that keeps its artifact no longer locks the artifact's row.
 *
 * `workload_mirror_artifact_status` fires on any update naming `artifact_id`, and every round of
 * the controller names it (`workload_record_round` writes all the columns it decides), so each
 * round took the artifact's row `for share` while it held the workload's row: one more tuple
 * lock written per round, a wait on any edit or in-use check of the artifact, and, with a draft's
 * edit that had locked the artifact first, a deadlock. The mirror only needs reading when the
 * artifact or the mirrored status changes; otherwise the row already holds the right status.
 */
export class Migration20261206100000_mirror_unchanged extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create or replace function workload_mirror_artifact_status() returns trigger language plpgsql as $$
      begin
        if tg_op = 'UPDATE' and new.artifact_id is not distinct from old.artifact_id
           and new.artifact_status is not distinct from old.artifact_status then
          return new;
        end if;
        select status into new.artifact_status from artifact where id = new.artifact_id for share;
        return new;
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`
      create or replace function workload_mirror_artifact_status() returns trigger language plpgsql as $$
      begin
        select status into new.artifact_status from artifact where id = new.artifact_id for share;
        return new;
      end $$;`);
  }
}
