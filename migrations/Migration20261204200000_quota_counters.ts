import { Migration } from '@mikro-orm/migrations';

/**
 * A quota subject's usage kept as counters (ADR 0013, decision 14), so a quota check reads two
 * rows instead of summing every live workload of the owner and of the organization (O(n) a
 * create, O(n²) a burst).
 *
 * - `quota_subject_usage`: per subject (`owner` or `organization`, its id) the count of its live
 *   workloads and the sum of their own demand (`workload.demand_*`, ADR 0013 decision 13). A
 *   workload is live while it is not deleted, not terminated and not being deleted.
 * - Kept by a trigger after every insert and delete of a workload, and after every update that
 *   changes whether it is live, whom it counts for or its demand, whoever writes the row (a
 *   controller round's status step from PENDING to RUNNING changes none of these: no work). The
 *   counters change by the row's old and new contributions in one upsert, owner before
 *   organization (the order of the quota locks); deltas that cancel write nothing. `numeric`
 *   counters: adding and taking away the same amounts returns exactly to where they were.
 * - `quota_usage(subjects)`: the same result as before; a replacement's other protons (rare,
 *   short) are still worked out, found through a partial index of the protons that are not active.
 */
export class Migration20261204200000_quota_counters extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table quota_subject_usage (
        scope text not null check (scope in ('owner', 'organization')),
        subject_id varchar(255) not null,
        workloads bigint not null default 0,
        replicas numeric not null default 0,
        cpu numeric not null default 0,
        memory numeric not null default 0,
        primary key (scope, subject_id));`);
    this.addSql(`
      create or replace function quota_subject_usage_changed() returns trigger language plpgsql as $$
      declare
        was_live boolean := tg_op <> 'INSERT' and old.deleted_at is null and old.status <> 'terminated' and old.desired_state <> 'deleted';
        is_live boolean := tg_op <> 'DELETE' and new.deleted_at is null and new.status <> 'terminated' and new.desired_state <> 'deleted';
      begin
        with change(scope, subject_id, workloads, replicas, cpu, memory) as (
               select 'owner', old.owner_id, -1, -old.demand_replicas, -old.demand_cpu, -old.demand_memory where was_live
               union all
               select 'organization', old.organization, -1, -old.demand_replicas, -old.demand_cpu, -old.demand_memory where was_live and old.organization is not null
               union all
               select 'owner', new.owner_id, 1, new.demand_replicas, new.demand_cpu, new.demand_memory where is_live
               union all
               select 'organization', new.organization, 1, new.demand_replicas, new.demand_cpu, new.demand_memory where is_live and new.organization is not null),
             net as (
               select c.scope, c.subject_id, sum(c.workloads) as workloads, sum(c.replicas::numeric) as replicas, sum(c.cpu::numeric) as cpu, sum(c.memory::numeric) as memory
                 from change c group by c.scope, c.subject_id)
        insert into quota_subject_usage as u (scope, subject_id, workloads, replicas, cpu, memory)
        select n.scope, n.subject_id, n.workloads, n.replicas, n.cpu, n.memory from net n
         where n.workloads <> 0 or n.replicas <> 0 or n.cpu <> 0 or n.memory <> 0
         order by n.scope <> 'owner', n.subject_id
        on conflict (scope, subject_id) do update
          set workloads = u.workloads + excluded.workloads, replicas = u.replicas + excluded.replicas,
              cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory;
        return null;
      end $$;`);
    // OLD is not defined in an insert's trigger nor NEW in a delete's: one trigger per kind of write.
    this.addSql(`create trigger quota_subject_usage_inserted after insert on workload for each row execute function quota_subject_usage_changed();`);
    this.addSql(`create trigger quota_subject_usage_deleted after delete on workload for each row execute function quota_subject_usage_changed();`);
    this.addSql(`
      create trigger quota_subject_usage_updated after update on workload for each row
        when ((old.deleted_at is null and old.status <> 'terminated' and old.desired_state <> 'deleted')
                is distinct from (new.deleted_at is null and new.status <> 'terminated' and new.desired_state <> 'deleted')
              or old.owner_id is distinct from new.owner_id or old.organization is distinct from new.organization
              or old.demand_replicas is distinct from new.demand_replicas or old.demand_cpu is distinct from new.demand_cpu
              or old.demand_memory is distinct from new.demand_memory)
        execute function quota_subject_usage_changed();`);
    this.addSql(`
      insert into quota_subject_usage (scope, subject_id, workloads, replicas, cpu, memory)
      select s.scope, s.subject_id, count(*), sum(w.demand_replicas::numeric), sum(w.demand_cpu::numeric), sum(w.demand_memory::numeric)
        from workload w
        cross join lateral (values ('owner', w.owner_id), ('organization', w.organization)) s(scope, subject_id)
       where s.subject_id is not null and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'
       group by s.scope, s.subject_id;`);
    this.addSql(`create index proton_not_active_index on proton (workload_id) where removed_at is null and role <> 'active';`);
    this.addSql(`
      create or replace function quota_usage(subjects jsonb) returns table (i integer, workloads integer, replicas float8, cpu float8, memory float8)
      language sql stable as $$
      with subject as (
             select e.s->>'scope' as scope, e.s->>'id' as id, e.i::int as i from jsonb_array_elements(subjects) with ordinality as e(s, i)),
           other as (
             select w.owner_id, w.organization, n.replicas,
                    n.replicas * coalesce((n.overridden).cpu, pa.request_cpu) as cpu, n.replicas * coalesce((n.overridden).memory, pa.request_memory) as memory
               from proton p
               join workload w on w.id = p.workload_id
               join artifact pa on pa.id = p.artifact_id
               cross join lateral (
                 select (p.runtime->>'replicaCount')::float8 as replicas,
                        case when jsonb_typeof(p.runtime->'containerResources') = 'array' and p.runtime->'containerResources' <> '[]'::jsonb
                             then replica_requests(pa.spec, p.runtime->'containerResources') end as overridden
                 offset 0) n
              where p.removed_at is null and p.role <> 'active'
                and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'
                and (w.owner_id in (select id from subject where scope = 'owner') or w.organization in (select id from subject where scope = 'organization')))
      select s.i, coalesce(u.workloads, 0)::int,
             (coalesce(u.replicas, 0) + coalesce(x.replicas, 0))::float8, (coalesce(u.cpu, 0) + coalesce(x.cpu, 0))::float8,
             (coalesce(u.memory, 0) + coalesce(x.memory, 0))::float8
        from subject s
        left join quota_subject_usage u on u.scope = s.scope and u.subject_id = s.id
        left join lateral (
          select sum(x.replicas) as replicas, sum(x.cpu) as cpu, sum(x.memory) as memory
            from other x where case s.scope when 'owner' then x.owner_id = s.id else x.organization = s.id end) x on true
       order by s.i
      $$;`);
  }

  override async down(): Promise<void> {
    // The sum as it was (Migration20261204100000_workload_demand), over the subjects' live workloads.
    this.addSql(`
      create or replace function quota_usage(subjects jsonb) returns table (i integer, workloads integer, replicas float8, cpu float8, memory float8)
      language sql stable as $$
      with subject as (
             select e.s->>'scope' as scope, e.s->>'id' as id, e.i::int as i from jsonb_array_elements(subjects) with ordinality as e(s, i)),
           live as (
             select w.id, w.owner_id, w.organization, w.demand_replicas, w.demand_cpu, w.demand_memory
               from workload w
              where (w.owner_id in (select id from subject where scope = 'owner') or w.organization in (select id from subject where scope = 'organization'))
                and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'),
           other as (
             select l.owner_id, l.organization, n.replicas,
                    n.replicas * coalesce((n.overridden).cpu, pa.request_cpu) as cpu, n.replicas * coalesce((n.overridden).memory, pa.request_memory) as memory
               from live l
               join proton p on p.workload_id = l.id and p.removed_at is null and p.role <> 'active'
               join artifact pa on pa.id = p.artifact_id
               cross join lateral (
                 select (p.runtime->>'replicaCount')::float8 as replicas,
                        case when jsonb_typeof(p.runtime->'containerResources') = 'array' and p.runtime->'containerResources' <> '[]'::jsonb
                             then replica_requests(pa.spec, p.runtime->'containerResources') end as overridden
                 offset 0) n)
      select s.i, o.workloads::int,
             (o.replicas + coalesce(x.replicas, 0))::float8, (o.cpu + coalesce(x.cpu, 0))::float8, (o.memory + coalesce(x.memory, 0))::float8
        from subject s
        cross join lateral (
          select count(*) as workloads, coalesce(sum(l.demand_replicas), 0) as replicas, coalesce(sum(l.demand_cpu), 0) as cpu, coalesce(sum(l.demand_memory), 0) as memory
            from live l where case s.scope when 'owner' then l.owner_id = s.id else l.organization = s.id end) o
        left join lateral (
          select sum(x.replicas) as replicas, sum(x.cpu) as cpu, sum(x.memory) as memory
            from other x where case s.scope when 'owner' then x.owner_id = s.id else x.organization = s.id end) x on true
       order by s.i
      $$;`);
    this.addSql(`drop index if exists proton_not_active_index;`);
    this.addSql(`drop trigger if exists quota_subject_usage_updated on workload;`);
    this.addSql(`drop trigger if exists quota_subject_usage_deleted on workload;`);
    this.addSql(`drop trigger if exists quota_subject_usage_inserted on workload;`);
    this.addSql(`drop function if exists quota_subject_usage_changed();`);
    this.addSql(`drop table if exists quota_subject_usage;`);
  }
}
