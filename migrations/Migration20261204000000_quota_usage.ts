import { Migration } from '@mikro-orm/migrations';

/**
 * Quotas decided by PostgreSQL (ADR 0013, decision 11): what one replica of an artifact requests,
 * kept on the artifact's row, so that a check sums its subjects' usage in the database instead of
 * reading every live workload's spec into the API, and takes its locks and decides in one statement.
 *
 * - `quantity_value(text)`: a Kubernetes quantity's value as a double, null when malformed; the
 *   same grammar and IEEE arithmetic as `parseQuantity` (src/domain/artifact-spec.ts). Never
 *   raises: a value past 1e300 is Infinity, one below 1e-300 is 0 (the API refuses both).
 *   PL/pgSQL, not SQL: its plans are kept per session, five times faster per call here.
 * - `replica_requests(spec, overrides)`: millicores and bytes one replica requests (a `replica_request`), per container
 *   the runtime's override first, then the container's own request, then the default charged to a
 *   container without one (100m, 128Mi); `protonDemand` is the same rule in TypeScript, and
 *   test/store/quota-usage.test.ts checks the two agree on generated specs.
 * - `artifact.request_cpu`, `artifact.request_memory`: `replica_requests(spec, null)`, set by a
 *   trigger on every insert and spec change (only a draft's spec changes), whoever writes the row.
 * - `quota_usage(subjects)`: each subject's usage (decision 4), one row per subject, in order.
 * - `quota_admit(subjects, added)`: the subjects' advisory locks (owner before organization), then
 *   the first limit `added` breaks (owner's first; workloads, replicas, CPU, memory), or null;
 *   with nothing added, the locks alone (no usage read).
 * - `workload_create_admitted(quota, rows)`: `quota_admit`, then `workload_create` unless refused.
 */
export class Migration20261204000000_quota_usage extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create or replace function quantity_value(q text) returns float8
      language plpgsql immutable parallel safe as $$
      declare
        m text[] := regexp_match(q, '^[+]?([0-9]+(?:[.][0-9]*)?|[.][0-9]+)((?:[KMGTPE]i)|[numkMGTPE]|(?:[eE][-+]?[0-9]+))?$');
      begin
        if m is null then return null; end if;
        if m[2] is null then return m[1]::float8; end if;
        if m[2] ~ '^[eE][-+]?[0-9]' then
          if m[1]::float8 = 0 then return 0; end if;
          if substr(m[2], 2)::numeric + length(m[1]) > 300 then return 'Infinity'; end if;
          if substr(m[2], 2)::numeric - length(m[1]) < -300 then return 0; end if;
          return (m[1] || m[2])::float8;
        end if;
        return m[1]::float8 * case m[2]
          when 'n' then 1e-9::float8 when 'u' then 1e-6::float8 when 'm' then 1e-3::float8
          when 'k' then 1e3::float8 when 'M' then 1e6::float8 when 'G' then 1e9::float8
          when 'T' then 1e12::float8 when 'P' then 1e15::float8 when 'E' then 1e18::float8
          when 'Ki' then 1024::float8 when 'Mi' then 1048576::float8 when 'Gi' then 1073741824::float8
          when 'Ti' then 1099511627776::float8 when 'Pi' then 1125899906842624::float8
          when 'Ei' then 1152921504606846976::float8
        end;
      end $$;`);
    this.addSql(`create type replica_request as (cpu float8, memory float8);`);
    this.addSql(`
      create or replace function replica_requests(spec jsonb, overrides jsonb) returns replica_request
      language plpgsql immutable parallel safe as $$
      declare
        cpu float8 := 0;
        memory float8 := 0;
        c jsonb;
        o jsonb;
        q float8;
      begin
        for c in select jsonb_path_query(spec, '$.containerGroups[*].containers[*]') loop
          o := null;
          if jsonb_typeof(overrides) = 'array' then
            select e.o into o from jsonb_array_elements(overrides) with ordinality as e(o, i) where e.o->>'containerName' = c->>'name' order by e.i desc limit 1;
          end if;
          q := quantity_value(coalesce(o->>'cpu', c->'resources'->>'cpu'));
          cpu := cpu + coalesce(ceil(q * 1000 - 1e-9::float8), 100);
          q := quantity_value(coalesce(o->>'memory', c->'resources'->>'memory'));
          memory := memory + coalesce(ceil(q - 1e-6::float8), 134217728);
        end loop;
        return row(cpu, memory)::replica_request;
      end $$;`);
    this.addSql(`alter table artifact add column request_cpu float8 not null default 0, add column request_memory float8 not null default 0;`);
    this.addSql(`
      create or replace function artifact_requests() returns trigger language plpgsql as $$
      begin
        select r.cpu, r.memory into new.request_cpu, new.request_memory from replica_requests(new.spec, null) r;
        return new;
      end $$;`);
    this.addSql(`create trigger artifact_requests before insert or update of spec on artifact for each row execute function artifact_requests();`);
    this.addSql(`update artifact a set (request_cpu, request_memory) = (select r.cpu, r.memory from replica_requests(a.spec, null) r);`);
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
    this.addSql(`
      create or replace function quota_admit(subjects jsonb, added jsonb) returns jsonb
      language plpgsql as $$
      declare
        s jsonb;
        u jsonb;
        r text;
        lim float8;
        more float8;
      begin
        for s in select e.value from jsonb_array_elements(subjects) e order by e.value->>'scope' <> 'owner', e.value->>'id' loop
          perform pg_advisory_xact_lock(hashtextextended('quota:' || (s->>'scope') || ':' || (s->>'id'), 0));
        end loop;
        -- Asking nothing (the locks alone, to read under them) needs no usage.
        if not exists (select 1 from jsonb_each_text(added) a where a.value::float8 > 0) then return null; end if;
        -- The owner's limits first, then the organization's (ADR 0013, decision 8).
        for u in select to_jsonb(q) from quota_usage(subjects) q order by subjects->(q.i - 1)->>'scope' <> 'owner', q.i loop
          s := subjects->((u->>'i')::int - 1);
          foreach r in array array['workloads', 'replicas', 'cpu', 'memory'] loop
            lim := (s->'limits'->>r)::float8;
            more := coalesce((added->>r)::float8, 0);
            if lim is not null and more > 0 and (u->>r)::float8 + more > lim then
              return jsonb_build_object('scope', s->>'scope', 'id', s->>'id', 'resource', r, 'limit', lim, 'used', (u->>r)::float8, 'requested', more);
            end if;
          end loop;
        end loop;
        return null;
      end $$;`);
    this.addSql(`
      create or replace function workload_create_admitted(quota jsonb, p jsonb) returns jsonb
      language plpgsql as $$
      declare
        breach jsonb := quota_admit(quota->'subjects', quota->'added');
      begin
        if breach is not null then return jsonb_build_object('breach', breach); end if;
        return jsonb_build_object('sequence', workload_create(p));
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists workload_create_admitted(jsonb, jsonb);`);
    this.addSql(`drop function if exists quota_admit(jsonb, jsonb);`);
    this.addSql(`drop function if exists quota_usage(jsonb);`);
    this.addSql(`drop trigger if exists artifact_requests on artifact;`);
    this.addSql(`drop function if exists artifact_requests();`);
    this.addSql(`alter table artifact drop column request_cpu, drop column request_memory;`);
    this.addSql(`drop function if exists replica_requests(jsonb, jsonb);`);
    this.addSql(`drop type if exists replica_request;`);
    this.addSql(`drop function if exists quantity_value(text);`);
  }
}
