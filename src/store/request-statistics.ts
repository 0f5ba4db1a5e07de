/**
 * The stored request statistics: batches written by the invoke endpoint's collector, and the
 * buckets and live in-flight counts read back by the API. See the migration
 * `Migration20261126030000_request_statistics` for the model and docs/adr/0052-invoke-statistics.md.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../domain/ids.js';
import type { StatisticsBucket } from '../domain/request-statistics.js';
import { queryRows } from './sql.js';

/** What one API replica collected for one proton and time bucket since its last batch. */
export interface StatisticsAggregate {
  readonly workloadId: string;
  readonly protonId: string;
  readonly bucketStart: Date;
  readonly requestCount: number;
  readonly clientErrorCount: number;
  readonly serverErrorCount: number;
  readonly latencySumMs: number;
  readonly latencyMaxMs: number;
  readonly latencyHistogram: readonly number[];
  readonly peakConcurrency: number;
  readonly lastRequestAt: Date;
}

/**
 * Adds a batch into the stored buckets, in one statement. Each aggregate lands in the epoch the
 * workload is in now (its reset marker); an aggregate whose every request finished before the
 * last reset is dropped.
 */
export async function addStatisticsBatch(em: EntityManager, batch: readonly StatisticsAggregate[]): Promise<void> {
  if (batch.length === 0) return;
  const rows = batch.map((a) => ({
    proton_id: a.protonId,
    workload_id: a.workloadId,
    bucket_start: a.bucketStart.toISOString(),
    request_count: a.requestCount,
    client_error_count: a.clientErrorCount,
    server_error_count: a.serverErrorCount,
    latency_sum_ms: a.latencySumMs,
    latency_max_ms: a.latencyMaxMs,
    latency_histogram: a.latencyHistogram,
    peak_concurrency: a.peakConcurrency,
    last_request_at: a.lastRequestAt.toISOString(),
  }));
  await queryRows(
    em,
    `insert into proton_request_statistics as s (
        proton_id, workload_id, since, bucket_start, request_count, client_error_count, server_error_count,
        latency_sum_ms, latency_max_ms, latency_histogram, peak_concurrency, last_request_at)
     select r.proton_id, r.workload_id, coalesce(w.promoted_at, '-infinity'::timestamptz), r.bucket_start,
            r.request_count, r.client_error_count, r.server_error_count, r.latency_sum_ms, r.latency_max_ms,
            array(select e::bigint from jsonb_array_elements_text(r.latency_histogram) with ordinality as h(e, i) order by i),
            r.peak_concurrency, r.last_request_at
       from jsonb_to_recordset(?::jsonb) as r(
              proton_id uuid, workload_id uuid, bucket_start timestamptz, request_count bigint,
              client_error_count bigint, server_error_count bigint, latency_sum_ms double precision,
              latency_max_ms double precision, latency_histogram jsonb, peak_concurrency integer,
              last_request_at timestamptz)
       join workload w on w.id = r.workload_id
       join proton p on p.id = r.proton_id
      where r.last_request_at >= coalesce(w.promoted_at, '-infinity'::timestamptz)
      order by r.proton_id, r.bucket_start
     on conflict (proton_id, since, bucket_start) do update set
        request_count = s.request_count + excluded.request_count,
        client_error_count = s.client_error_count + excluded.client_error_count,
        server_error_count = s.server_error_count + excluded.server_error_count,
        latency_sum_ms = s.latency_sum_ms + excluded.latency_sum_ms,
        latency_max_ms = greatest(s.latency_max_ms, excluded.latency_max_ms),
        latency_histogram = array(
          select coalesce(a, 0) + coalesce(b, 0)
            from unnest(s.latency_histogram, excluded.latency_histogram) with ordinality as x(a, b, i) order by i),
        peak_concurrency = greatest(s.peak_concurrency, excluded.peak_concurrency),
        last_request_at = greatest(s.last_request_at, excluded.last_request_at)`,
    [JSON.stringify(rows)],
  );
}

/**
 * Reports one API replica's requests in flight per proton; a count of 0 removes the row. Rows
 * expire `ttlMs` after the report, so a replica that stops reporting stops counting.
 */
export async function reportInFlight(
  em: EntityManager,
  instanceId: string,
  counts: ReadonlyMap<string, number>,
  ttlMs: number,
): Promise<void> {
  const live = [...counts].filter(([, n]) => n > 0).map(([proton_id, in_flight]) => ({ proton_id, in_flight }));
  const idle = [...counts].filter(([, n]) => n <= 0).map(([protonId]) => protonId);
  if (idle.length > 0) {
    await queryRows(
      em,
      `delete from invoke_in_flight where instance_id = ? and proton_id in (select value::uuid from jsonb_array_elements_text(?::jsonb))`,
      [instanceId, JSON.stringify(idle)],
    );
  }
  if (live.length > 0) {
    await queryRows(
      em,
      `insert into invoke_in_flight (instance_id, proton_id, in_flight, expires_at)
       select ?::uuid, r.proton_id, r.in_flight, now() + (? * interval '1 millisecond')
         from jsonb_to_recordset(?::jsonb) as r(proton_id uuid, in_flight integer)
         join proton p on p.id = r.proton_id
       on conflict (instance_id, proton_id) do update set in_flight = excluded.in_flight, expires_at = excluded.expires_at`,
      [instanceId, ttlMs, JSON.stringify(live)],
    );
  }
}

/** Removes every in-flight report of one API replica (it is stopping). */
export async function clearInFlight(em: EntityManager, instanceId: string): Promise<void> {
  await queryRows(em, `delete from invoke_in_flight where instance_id = ?`, [instanceId]);
}

/** Which statistics to read: a workload's, optionally one proton's, optionally a time window. */
export interface StatisticsQuery {
  readonly workloadId: string;
  readonly protonId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

interface BucketRow {
  proton_id: string;
  bucket_start: Date | string;
  request_count: string | number;
  client_error_count: string | number;
  server_error_count: string | number;
  latency_sum_ms: number | string;
  latency_max_ms: number | string;
  latency_histogram: (string | number)[] | string;
  peak_concurrency: number;
  last_request_at: Date | string;
}

/** The where-clause of the buckets of the workload's current epoch (and proton) in [from, to), as `b`. */
function bucketsOf(q: StatisticsQuery): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [q.workloadId];
  if (q.protonId !== undefined) {
    where.push('s.proton_id = ?');
    params.push(q.protonId);
  }
  if (q.from) {
    where.push('s.bucket_start >= ?');
    params.push(q.from.toISOString());
  }
  if (q.to) {
    where.push('s.bucket_start < ?');
    params.push(q.to.toISOString());
  }
  return {
    sql: `select s.* from proton_request_statistics s
            join workload w on w.id = s.workload_id
           where s.workload_id = ? and s.since = coalesce(w.promoted_at, '-infinity'::timestamptz)
             ${where.map((c) => `and ${c}`).join(' ')}`,
    params,
  };
}

/**
 * The buckets of the workload's current statistics epoch that start in [from, to), oldest first;
 * with `lastMinutes`, only those of the newest `lastMinutes` minutes that have any (the database
 * picks the minutes: a 90-day window is never read whole).
 */
export async function readStatisticsBuckets(em: EntityManager, q: StatisticsQuery & { lastMinutes?: number }): Promise<StatisticsBucket[]> {
  if (!isUuid(q.workloadId) || (q.protonId !== undefined && !isUuid(q.protonId))) return [];
  const b = bucketsOf(q);
  const newest = q.lastMinutes === undefined ? '' : `where b.bucket_start in (select distinct bucket_start from b order by bucket_start desc limit ${Math.max(0, Math.trunc(q.lastMinutes))})`;
  const rows = await queryRows<BucketRow>(
    em,
    `with b as (${b.sql})
     select b.proton_id, b.bucket_start, b.request_count, b.client_error_count, b.server_error_count,
            b.latency_sum_ms, b.latency_max_ms, b.latency_histogram, b.peak_concurrency, b.last_request_at
       from b ${newest}
      order by b.bucket_start, b.proton_id`,
    b.params,
  );
  return rows.map(toBucket);
}

/**
 * Every bucket of the window summed into one, in the database (one row, whatever the window's
 * length): its `bucketStart` is the first bucket's, and `lastBucketStart` the last one's. Null
 * when the window has no bucket.
 */
export async function readStatisticsTotal(em: EntityManager, q: StatisticsQuery): Promise<(StatisticsBucket & { lastBucketStart: Date }) | null> {
  if (!isUuid(q.workloadId) || (q.protonId !== undefined && !isUuid(q.protonId))) return null;
  const b = bucketsOf(q);
  const rows = await queryRows<BucketRow & { last_bucket_start: Date | string | null }>(
    em,
    `with b as (${b.sql})
     select null as proton_id, min(b.bucket_start) as bucket_start, max(b.bucket_start) as last_bucket_start,
            coalesce(sum(b.request_count), 0) as request_count, coalesce(sum(b.client_error_count), 0) as client_error_count,
            coalesce(sum(b.server_error_count), 0) as server_error_count, coalesce(sum(b.latency_sum_ms), 0) as latency_sum_ms,
            coalesce(max(b.latency_max_ms), 0) as latency_max_ms, coalesce(max(b.peak_concurrency), 0) as peak_concurrency,
            max(b.last_request_at) as last_request_at,
            array(select sum(h.v)::bigint from b b2, unnest(b2.latency_histogram) with ordinality as h(v, i) group by h.i order by h.i) as latency_histogram
       from b`,
    b.params,
  );
  const row = rows[0];
  if (!row || row.bucket_start === null || row.last_bucket_start === null) return null;
  return { ...toBucket(row), lastBucketStart: new Date(row.last_bucket_start) };
}

function toBucket(r: BucketRow): StatisticsBucket {
  return {
    protonId: r.proton_id,
    bucketStart: new Date(r.bucket_start),
    requestCount: Number(r.request_count),
    clientErrorCount: Number(r.client_error_count),
    serverErrorCount: Number(r.server_error_count),
    latencySumMs: Number(r.latency_sum_ms),
    latencyMaxMs: Number(r.latency_max_ms),
    latencyHistogram: parseBigintArray(r.latency_histogram),
    peakConcurrency: Number(r.peak_concurrency),
    lastRequestAt: new Date(r.last_request_at),
  };
}

/** Requests in flight now, summed over every API replica whose report has not expired. */
export async function readInFlight(em: EntityManager, q: { workloadId: string; protonId?: string }): Promise<number> {
  if (!isUuid(q.workloadId) || (q.protonId !== undefined && !isUuid(q.protonId))) return 0;
  const rows = await queryRows<{ n: string | number | null }>(
    em,
    `select coalesce(sum(f.in_flight), 0) as n
       from invoke_in_flight f join proton p on p.id = f.proton_id
      where p.workload_id = ? ${q.protonId !== undefined ? 'and f.proton_id = ?' : ''} and f.expires_at > now()`,
    q.protonId !== undefined ? [q.workloadId, q.protonId] : [q.workloadId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** When the workload's statistics were last reset (its promotion), or null. */
export async function readStatisticsResetAt(em: EntityManager, workloadId: string): Promise<Date | null> {
  if (!isUuid(workloadId)) return null;
  const rows = await queryRows<{ promoted_at: Date | string | null }>(em, `select promoted_at from workload where id = ?`, [workloadId]);
  const at = rows[0]?.promoted_at;
  return at ? new Date(at) : null;
}

function parseBigintArray(value: (string | number)[] | string): number[] {
  if (Array.isArray(value)) return value.map(Number);
  // A driver that returns the array's text form: {1,2,3}.
  return value.replace(/[{}]/g, '').split(',').filter((x) => x !== '').map(Number);
}

/** Deletes statistics buckets older than `days`, and in-flight reports long expired (replicas that died). */
export async function pruneStatistics(em: EntityManager, days: number): Promise<void> {
  await queryRows(em, `delete from proton_request_statistics where bucket_start < now() - (? * interval '1 day')`, [days]);
  await queryRows(em, `delete from invoke_in_flight where expires_at < now() - interval '1 hour'`);
}
