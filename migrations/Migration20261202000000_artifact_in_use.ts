import { Migration } from '@mikro-orm/migrations';

/**
 * The in-use rule across workloads, protons, replacements and artifacts, kept by the database so
 * that two concurrent requests cannot both win (docs/adr/0012-rulebook-and-in-use.md):
 * - a draft's one live slot includes a replacement switching to it: a workload may not take a
 *   draft that another workload's replacement in progress targets, and a replacement may not
 *   target a draft that another live workload runs or another replacement targets;
 * - an artifact in use (a non-deleted workload runs it, a live proton runs it, a replacement in
 *   progress switches from or to it) cannot be deleted; one a replacement in progress refers to
 *   cannot be locked (promote, the only way to lock a running draft, is refused during one);
 * - a deleted artifact cannot be taken by a new workload or replacement.
 * Every check first locks the artifact's row (`for no key update`; an update of the row takes the
 * same lock), so the checks on one artifact run one at a time and each sees the others' commits.
 * The triggers raise SQLSTATE WL003 (draft taken), WL004 (artifact deleted), WL005 (in use),
 * WL006 (the artifact was locked while a workload was created on it as a draft).
 */
export class Migration20261202000000_artifact_in_use extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function workload_claim_artifact() returns trigger language plpgsql as $$
      declare
        a record;
        holder uuid;
      begin
        if new.deleted_at is not null or new.status = 'terminated' then return new; end if;
        if tg_op = 'UPDATE' and new.artifact_id is not distinct from old.artifact_id then return new; end if;
        select status, deleted_at into a from artifact where id = new.artifact_id for no key update;
        if a.deleted_at is not null then
          raise exception 'artifact % is deleted', new.artifact_id using errcode = 'WL004';
        end if;
        -- The writer decided the TTL from the status it read; a lock in between would leave a
        -- workload on a locked artifact with a TTL.
        if tg_op = 'INSERT' and a.status = 'locked' and new.expires_at is not null then
          raise exception 'artifact % was locked while a draft workload was created on it', new.artifact_id using errcode = 'WL006';
        end if;
        if a.status = 'draft' then
          select r.workload_id into holder from replacement r
           where r.to_artifact_id = new.artifact_id and r.workload_id <> new.id
             and r.status not in ('completed', 'cancelled', 'errored')
           limit 1;
          if holder is not null then
            raise exception 'draft artifact % is the target of a replacement of workload %', new.artifact_id, holder
              using errcode = 'WL003', detail = holder::text;
          end if;
        end if;
        return new;
      end $$;`);
    // Named to fire before workload_mirror_artifact_status (triggers fire in name order).
    this.addSql(`
      create trigger workload_claim_artifact before insert or update of artifact_id on workload
        for each row execute function workload_claim_artifact();`);

    this.addSql(`
      create function replacement_claim_target() returns trigger language plpgsql as $$
      declare
        a record;
        holder uuid;
      begin
        select status, deleted_at into a from artifact where id = new.to_artifact_id for no key update;
        if a.deleted_at is not null then
          raise exception 'artifact % is deleted', new.to_artifact_id using errcode = 'WL004';
        end if;
        if a.status = 'draft' then
          select w.id into holder from workload w
           where w.artifact_id = new.to_artifact_id and w.id <> new.workload_id
             and w.deleted_at is null and w.status <> 'terminated'
           limit 1;
          if holder is null then
            select r.workload_id into holder from replacement r
             where r.to_artifact_id = new.to_artifact_id and r.workload_id <> new.workload_id
               and r.status not in ('completed', 'cancelled', 'errored')
             limit 1;
          end if;
          if holder is not null then
            raise exception 'draft artifact % is taken by workload %', new.to_artifact_id, holder
              using errcode = 'WL003', detail = holder::text;
          end if;
        end if;
        return new;
      end $$;`);
    this.addSql(`
      create trigger replacement_claim_target before insert on replacement
        for each row execute function replacement_claim_target();`);

    this.addSql(`
      create function artifact_keep_in_use() returns trigger language plpgsql as $$
      declare
        holder uuid;
      begin
        if old.deleted_at is null and new.deleted_at is not null then
          select w.id into holder from workload w where w.artifact_id = old.id and w.deleted_at is null limit 1;
          if holder is null then
            select p.workload_id into holder from proton p
             where p.artifact_id = old.id and p.removed_at is null and p.status <> 'terminated' limit 1;
          end if;
          if holder is null then
            select r.workload_id into holder from replacement r
             where (r.to_artifact_id = old.id or r.from_artifact_id = old.id)
               and r.status not in ('completed', 'cancelled', 'errored') limit 1;
          end if;
          if holder is not null then
            raise exception 'artifact % is in use by workload %', old.id, holder using errcode = 'WL005', detail = holder::text;
          end if;
        end if;
        if old.status = 'draft' and new.status = 'locked' then
          select r.workload_id into holder from replacement r
           where (r.to_artifact_id = old.id or r.from_artifact_id = old.id)
             and r.status not in ('completed', 'cancelled', 'errored') limit 1;
          if holder is not null then
            raise exception 'artifact % is in use by a replacement of workload %', old.id, holder
              using errcode = 'WL005', detail = holder::text;
          end if;
        end if;
        return new;
      end $$;`);
    this.addSql(`
      create trigger artifact_keep_in_use before update of deleted_at, status on artifact
        for each row execute function artifact_keep_in_use();`);
    this.addSql(`create index proton_artifact_id_index on proton (artifact_id);`);
    this.addSql(`create index replacement_to_artifact_id_index on replacement (to_artifact_id);`);
    this.addSql(`create index replacement_from_artifact_id_index on replacement (from_artifact_id);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists replacement_from_artifact_id_index, replacement_to_artifact_id_index, proton_artifact_id_index;`);
    this.addSql(`drop trigger if exists artifact_keep_in_use on artifact;`);
    this.addSql(`drop trigger if exists replacement_claim_target on replacement;`);
    this.addSql(`drop trigger if exists workload_claim_artifact on workload;`);
    this.addSql(`drop function if exists artifact_keep_in_use, replacement_claim_target, workload_claim_artifact;`);
  }
}
