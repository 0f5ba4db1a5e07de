import { Migration } from '@mikro-orm/migrations';

/**
 * What a workload's own proton requests, kept on its row (ADR 0013, decision 13), so a quota check
 * sums three columns of its subjects' live workloads instead of reading each one's runtime and
 * artifact and working out its overrides.
 *
 * - `workload.demand_replicas`, `demand_cpu`, `demand_memory`: for a workload meant to run, its
 *   replica count and that many replicas' millicores and bytes (the runtime's container overrides
 *   first, else its artifact's `request_cpu`/`request_memory`); 0 for one stopped or deleted
 *   (`workload_demand_of`). Set by a trigger on every insert and on every update that changes
 *   `desired_state`, `runtime` or `artifact_id`, whoever writes the row (a controller round writes
 *   `desired_state` unchanged: no work).
 * - An artifact's requests change only with a draft's spec: the demand of the workloads that run
 *   it is worked out again by the same function.
 * - `quota_usage(subjects)`: the same result as before; a replacement's other protons (rare, short)
 *   are still worked out from their runtime and artifact.
 */
export class Migration20261204100000_workload_demand extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table workload
        add column demand_replicas float8 not null default 0,
        add column demand_cpu float8 not null default 0,
        add column demand_memory float8 not null default 0;`);
    this.addSql(`
      create or replace function workload_demand_of(desired_state text, runtime jsonb, artifact_id uuid, out replicas float8, out cpu float8, out memory float8)
      language plpgsql stable as $$
      declare
        a record;
        overridden replica_request;
      begin
        if desired_state <> 'running' then
          replicas := 0; cpu := 0; memory := 0;
          return;
        end if;
        select x.spec, x.request_cpu, x.request_memory into a from artifact x where x.id = artifact_id;
        replicas := coalesce((runtime->>'replicaCount')::float8, 0);
        if jsonb_typeof(runtime->'containerResources') = 'array' and runtime->'containerResources' <> '[]'::jsonb then
          overridden := replica_requests(a.spec, runtime->'containerResources');
          cpu := replicas * overridden.cpu;
          memory := replicas * overridden.memory;
        else
          cpu := replicas * coalesce(a.request_cpu, 0);
          memory := replicas * coalesce(a.request_memory, 0);
        end if;
      end $$;`);
    this.addSql(`
      create or replace function workload_demand() returns trigger language plpgsql as $$
      begin
        select d.replicas, d.cpu, d.memory into new.demand_replicas, new.demand_cpu, new.demand_memory
          from workload_demand_of(new.desired_state, new.runtime, new.artifact_id) d;
        return new;
      end $$;`);
    this.addSql(`create trigger workload_demand before insert on workload for each row execute function workload_demand();`);
    // Every controller round writes desired_state: only a change of what the demand depends on works it out again.
    this.addSql(`
      create trigger workload_demand_changed before update of desired_state, runtime, artifact_id on workload for each row
        when (old.desired_state is distinct from new.desired_state or old.runtime is distinct from new.runtime or old.artifact_id is distinct from new.artifact_id)
        execute function workload_demand();`);
    this.addSql(`
      create or replace function artifact_requests_changed() returns trigger language plpgsql as $$
      begin
        update workload w set (demand_replicas, demand_cpu, demand_memory) = (select d.replicas, d.cpu, d.memory from workload_demand_of(w.desired_state, w.runtime, w.artifact_id) d)
         where w.artifact_id = new.id and w.deleted_at is null;
        return null;
      end $$;`);
    this.addSql(`
      create trigger artifact_requests_changed after update of spec on artifact for each row
        when (old.request_cpu is distinct from new.request_cpu or old.request_memory is distinct from new.request_memory)
        execute function artifact_requests_changed();`);
    this.addSql(`
      update workload w set (demand_replicas, demand_cpu, demand_memory) = (select d.replicas, d.cpu, d.memory from workload_demand_of(w.desired_state, w.runtime, w.artifact_id) d)
       where w.deleted_at is null;`);
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
  }

  override async down(): Promise<void> {
    // The sum as it was (Migration20261204000000_quota_usage), from each live workload's runtime and artifact.
    this.addSql(`
      create or replace function quota_usage(subjects jsonb) returns table (i integer, workloads integer, replicas float8, cpu float8, memory float8)
      language sql stable as $$
      with subject as (
             select e.s->>'scope' as scope, e.s->>'id' as id, e.i::int as i from jsonb_array_elements(subjects) with ordinality as e(s, i)),
           live as (
             select w.id, w.owner_id, w.organization, w.desired_state, w.runtime, a.spec, a.request_cpu, a.request_memory
               from workload w join artifact a on a.id = w.artifact_id
              where (w.owner_id in (select id from subject where scope = 'owner') or w.organization in (select id from subject where scope = 'organization'))
                and w.deleted_at is null and w.status <> 'terminated' and w.desired_state <> 'deleted'),
           running as (
             select l.owner_id, l.organization, l.runtime, l.spec, l.request_cpu, l.request_memory from live l where l.desired_state = 'running'
             union all
             select l.owner_id, l.organization, p.runtime, pa.spec, pa.request_cpu, pa.request_memory
               from live l join proton p on p.workload_id = l.id and p.removed_at is null and p.role <> 'active'
               join artifact pa on pa.id = p.artifact_id),
           demand as (
             select r.owner_id, r.organization, n.replicas,
                    n.replicas * coalesce((n.overridden).cpu, r.request_cpu) as cpu, n.replicas * coalesce((n.overridden).memory, r.request_memory) as memory
               from running r
               cross join lateral (
                 select (r.runtime->>'replicaCount')::float8 as replicas,
                        case when jsonb_typeof(r.runtime->'containerResources') = 'array' and r.runtime->'containerResources' <> '[]'::jsonb
                             then replica_requests(r.spec, r.runtime->'containerResources') end as overridden
                 offset 0) n)
           select s.i,
                  (select count(*) from live l where case s.scope when 'owner' then l.owner_id = s.id else l.organization = s.id end)::int as workloads,
                  coalesce(d.replicas, 0)::float8 as replicas, coalesce(d.cpu, 0)::float8 as cpu, coalesce(d.memory, 0)::float8 as memory
             from subject s
             left join lateral (
               select sum(d.replicas) as replicas, sum(d.cpu) as cpu, sum(d.memory) as memory from demand d
                where case s.scope when 'owner' then d.owner_id = s.id else d.organization = s.id end) d on true
            order by s.i
      $$;`);
    this.addSql(`drop trigger if exists artifact_requests_changed on artifact;`);
    this.addSql(`drop function if exists artifact_requests_changed();`);
    this.addSql(`drop trigger if exists workload_demand_changed on workload;`);
    this.addSql(`drop trigger if exists workload_demand on workload;`);
    this.addSql(`drop function if exists workload_demand();`);
    this.addSql(`drop function if exists workload_demand_of(text, jsonb, uuid);`);
    this.addSql(`alter table workload drop column demand_replicas, drop column demand_cpu, drop column demand_memory;`);
  }
}
