import { Migration } from '@mikro-orm/migrations';

/**
 * The initial data model. The database, not only the code, keeps the rules that concurrent
 * requests could otherwise break: one live workload per draft artifact, locked artifacts are
 * immutable, versions are unique per repository, the event log is append-only and gap-free.
 */
export class Migration20261126000000_initial_model extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table artifact_repository (
        id uuid primary key,
        name varchar(255) not null,
        owner_id varchar(255) not null,
        last_version integer not null default 0 check (last_version >= 0),
        created_at timestamptz not null
      );`);

    this.addSql(`
      create table artifact (
        id uuid primary key,
        repository_id uuid not null references artifact_repository (id),
        name varchar(255) not null check (length(btrim(name)) > 0),
        description text not null default '',
        status varchar(16) not null check (status in ('draft', 'locked')),
        version integer null check (version > 0),
        spec jsonb not null,
        owner_id varchar(255) not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        locked_at timestamptz null,
        deleted_at timestamptz null,
        constraint artifact_version_iff_locked check ((status = 'locked') = (version is not null and locked_at is not null)),
        constraint artifact_version_unique_per_repository unique (repository_id, version)
      );`);
    this.addSql(`create index artifact_repository_id_index on artifact (repository_id);`);
    this.addSql(`create index artifact_created_at_index on artifact (created_at, id);`);

    // Locking is one-way; a locked artifact's identity, name and spec never change, and it is never deleted.
    this.addSql(`
      create function artifact_keep_locked_immutable() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' then
          if old.status = 'locked' then
            raise exception 'artifact % is locked and cannot be deleted', old.id using errcode = 'WL001';
          end if;
          return old;
        end if;
        if old.status = 'locked' and (
             new.status <> 'locked' or new.name is distinct from old.name or new.spec is distinct from old.spec
             or new.version is distinct from old.version or new.repository_id is distinct from old.repository_id
             or new.locked_at is distinct from old.locked_at or new.deleted_at is not null) then
          raise exception 'artifact % is locked: its name, spec and version never change and it cannot be deleted', old.id
            using errcode = 'WL001';
        end if;
        return new;
      end $$;`);
    this.addSql(`
      create trigger artifact_keep_locked_immutable before update or delete on artifact
        for each row execute function artifact_keep_locked_immutable();`);

    this.addSql(`
      create table workload (
        id uuid primary key,
        name varchar(255) not null check (length(btrim(name)) > 0),
        description text not null default '',
        owner_id varchar(255) not null,
        artifact_id uuid not null references artifact (id),
        artifact_status varchar(16) not null check (artifact_status in ('draft', 'locked')),
        importance varchar(16) not null default 'low' check (importance in ('low', 'moderate', 'high', 'critical')),
        desired_state varchar(16) not null default 'running' check (desired_state in ('running', 'stopped', 'deleted')),
        status varchar(16) not null default 'submitted' check (status in (
          'unknown', 'submitted', 'provisioning', 'launching', 'running', 'suspended', 'interrupted',
          'stopping', 'stopped', 'errored', 'terminated')),
        status_reason varchar(255) null,
        status_message text null,
        runtime jsonb not null,
        expires_at timestamptz null,
        last_event_sequence integer not null default 0 check (last_event_sequence >= 0),
        created_at timestamptz not null,
        updated_at timestamptz not null,
        deleted_at timestamptz null
      );`);
    // At most one live workload per draft artifact: two concurrent creates cannot both win.
    this.addSql(`
      create unique index workload_one_live_per_draft_artifact on workload (artifact_id)
        where artifact_status = 'draft' and status <> 'terminated' and deleted_at is null;`);
    this.addSql(`create unique index workload_name_unique_per_owner on workload (owner_id, name) where deleted_at is null;`);
    this.addSql(`create index workload_artifact_id_index on workload (artifact_id);`);
    this.addSql(`create index workload_created_at_index on workload (created_at, id);`);
    this.addSql(`create index workload_updated_at_index on workload (updated_at, id);`);
    this.addSql(`create index workload_name_index on workload (name, id);`);

    // artifact_status mirrors the artifact's status so that the partial index above can see it;
    // the database keeps the mirror, so no code path can let it drift.
    this.addSql(`
      create function workload_mirror_artifact_status() returns trigger language plpgsql as $$
      begin
        select status into new.artifact_status from artifact where id = new.artifact_id for share;
        return new;
      end $$;`);
    this.addSql(`
      create trigger workload_mirror_artifact_status before insert or update of artifact_id, artifact_status on workload
        for each row execute function workload_mirror_artifact_status();`);
    this.addSql(`
      create function artifact_propagate_status() returns trigger language plpgsql as $$
      begin
        update workload set artifact_status = new.status where artifact_id = new.id and artifact_status <> new.status;
        return null;
      end $$;`);
    this.addSql(`
      create trigger artifact_propagate_status after update of status on artifact
        for each row when (old.status is distinct from new.status) execute function artifact_propagate_status();`);

    this.addSql(`
      create table proton (
        id uuid primary key,
        workload_id uuid not null references workload (id),
        artifact_id uuid not null references artifact (id),
        role varchar(16) not null check (role in ('active', 'candidate')),
        status varchar(16) not null default 'submitted' check (status in (
          'unknown', 'submitted', 'provisioning', 'launching', 'running', 'suspended', 'interrupted',
          'stopping', 'stopped', 'errored', 'terminated', 'initializing', 'warming', 'draining', 'restarting')),
        status_reason varchar(255) null,
        status_message text null,
        runtime jsonb not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        removed_at timestamptz null
      );`);
    this.addSql(`create unique index proton_one_active_per_workload on proton (workload_id) where role = 'active' and removed_at is null;`);
    this.addSql(`create unique index proton_one_candidate_per_workload on proton (workload_id) where role = 'candidate' and removed_at is null;`);
    this.addSql(`create index proton_workload_id_index on proton (workload_id, created_at);`);

    this.addSql(`
      create table replacement (
        id uuid primary key,
        workload_id uuid not null references workload (id),
        from_proton_id uuid null references proton (id),
        to_proton_id uuid null references proton (id),
        from_artifact_id uuid not null references artifact (id),
        to_artifact_id uuid not null references artifact (id),
        status varchar(16) not null default 'submitted' check (status in (
          'submitted', 'initializing', 'warming', 'switching', 'draining', 'completed', 'cancelled', 'errored')),
        warmup_seconds integer not null default 0 check (warmup_seconds >= 0),
        keep_old_version_seconds integer not null default 0 check (keep_old_version_seconds >= 0),
        status_reason varchar(255) null,
        status_message text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        finished_at timestamptz null
      );`);
    this.addSql(`
      create unique index replacement_one_in_progress_per_workload on replacement (workload_id)
        where status not in ('completed', 'cancelled', 'errored');`);
    this.addSql(`create index replacement_workload_id_index on replacement (workload_id, created_at);`);

    for (const resource of ['workload', 'artifact']) {
      this.addSql(`
        create table ${resource}_shared_role (
          id uuid primary key,
          ${resource}_id uuid not null references ${resource} (id) on delete cascade,
          subject_type varchar(16) not null check (subject_type in ('user', 'group', 'organization', 'role')),
          subject_id varchar(255) not null check (length(subject_id) > 0),
          role varchar(16) not null check (role in ('OWNER', 'EDITOR', 'OBSERVER')),
          granted_by varchar(255) not null,
          granted_at timestamptz not null,
          constraint ${resource}_shared_role_unique_subject unique (${resource}_id, subject_type, subject_id)
        );`);
      this.addSql(`create index ${resource}_shared_role_subject_index on ${resource}_shared_role (subject_type, subject_id);`);
    }

    this.addSql(`
      create table workload_event (
        workload_id uuid not null references workload (id),
        sequence integer not null check (sequence > 0),
        type varchar(64) not null,
        message text not null,
        actor varchar(255) null,
        data jsonb not null default '{}',
        occurred_at timestamptz not null,
        primary key (workload_id, sequence)
      );`);
    // The sequence is assigned by the database from the workload row, inside the writer's
    // transaction: gap-free (a rolled-back event rolls its number back) and serialized per workload.
    this.addSql(`
      create function workload_event_assign_sequence() returns trigger language plpgsql as $$
      begin
        update workload set last_event_sequence = last_event_sequence + 1
          where id = new.workload_id returning last_event_sequence into new.sequence;
        if new.sequence is null then
          raise exception 'workload % does not exist', new.workload_id using errcode = 'foreign_key_violation';
        end if;
        return new;
      end $$;`);
    this.addSql(`
      create trigger workload_event_assign_sequence before insert on workload_event
        for each row execute function workload_event_assign_sequence();`);
    this.addSql(`
      create function workload_event_append_only() returns trigger language plpgsql as $$
      begin
        raise exception 'workload events are append-only' using errcode = 'WL002';
      end $$;`);
    this.addSql(`
      create trigger workload_event_append_only before update or delete on workload_event
        for each row execute function workload_event_append_only();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists workload_event, workload_shared_role, artifact_shared_role, replacement, proton, workload, artifact, artifact_repository cascade;');
    this.addSql('drop function if exists workload_event_append_only, workload_event_assign_sequence, artifact_propagate_status, workload_mirror_artifact_status, artifact_keep_locked_immutable;');
  }
}
