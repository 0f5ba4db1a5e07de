/**
 * The stored request statistics: batches written by the invoke endpoint's collector, and the
 * buckets and live in-flight counts read back by the API. See the migration
 * `Migration20261126030000_request_statistics` for the model and docs/adr/0052-invoke-statistics.md.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { isUuid } from '../domain/ids.js';
import { LATENCY_HISTOGRAM_LENGTH, type StatisticsBucket } from '../domain/request-statistics.js';
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

/**
 * The element-wise sum of the buckets' latency histograms (as `b`), one `sum` per element in a
 * single pass: unnesting every histogram into a row per element and grouping them again cost
 * about 45 µs a bucket, a week of minutes with traffic over half a second (`bench/statistics`).
 */
const HISTOGRAM_SUM = `array[${Array.from({ length: LATENCY_HISTOGRAM_LENGTH }, (_, i) => `coalesce(sum(b.latency_histogram[${i + 1}]), 0)`).join(', ')}]::bigint[]`;

/** What `readStatisticsBatch` reads for one query: the window's total, its newest series buckets, in-flight requests and the reset. */
export interface StatisticsRead {
  readonly total: (StatisticsBucket & { lastBucketStart: Date }) | null;
  readonly series: StatisticsBucket[];
  readonly inFlight: number;
  readonly resetAt: Date | null;
  /**
   * For a query of a whole workload that asked for them (`withProtons`): the same read for each
   * of its current protons, over the same window, from the same statement (so the same snapshot).
   */
  readonly protons?: ReadonlyMap<string, StatisticsRead>;
}

type BatchRow = {
  i: number;
  part: string | null;
  promoted_at: Date | string | null;
  in_flight: string | number | null;
  total: (BucketRow & { last_bucket_start: string | null }) | null;
  series: BucketRow[] | null;
};

/** One query of a batch: its index, workload, proton (or null: the whole workload) and window; `expand` also reads each current proton. */
export interface StatisticsBatchInput {
  readonly i: number;
  readonly workload_id: string;
  readonly proton_id: string | null;
  readonly from: string | null;
  readonly to: string | null;
  readonly expand?: boolean;
}

/**
 * The statement `readStatisticsBatch` runs for `input` (one row per valid query, `i` its index;
 * for an expanded query, one more row per current proton of its workload, `part` that proton's
 * id). Each query reads its own workload's buckets of the window through the index on
 * (workload_id, since, bucket_start): a lateral subquery, kept apart from the join by OFFSET 0, so
 * the planner cannot make it one scan of every workload's buckets hashed against the queries. A
 * proton's part is summed from its query's buckets, not read again.
 */
export function statisticsBatchStatement(input: readonly StatisticsBatchInput[], lastMinutes: number): { sql: string; params: unknown[] } {
  const columns = `b.proton_id, b.bucket_start, b.request_count, b.client_error_count, b.server_error_count,
                   b.latency_sum_ms, b.latency_max_ms, b.latency_histogram, b.peak_concurrency, b.last_request_at`;
  // The buckets of result row `r`: its query's, and of a part only its proton's. Without parts the
  // result rows are the queries (the statement as it was before parts: the part condition and the
  // union cost a month of minutes' read 1.5-2.5x on PostgreSQL).
  const expanding = input.some((x) => x.expand);
  const of = (alias: string) => (expanding ? `${alias}.i = r.i and (r.part is null or ${alias}.proton_id = r.part)` : `${alias}.i = r.i`);
  const results = expanding
    ? `,
     r as (
       select q.i, null::uuid as part, q.workload_id, q.proton_id, q.promoted_at from q
       union all
       select q.i, p.id, q.workload_id, p.id, q.promoted_at from q join proton p on p.workload_id = q.workload_id and p.removed_at is null
        where q.expand and q.proton_id is null)`
    : '';
  return {
    sql: `with q as (
       select q.*, w.promoted_at from jsonb_to_recordset(?::jsonb) as q(i integer, workload_id uuid, proton_id uuid, "from" timestamptz, "to" timestamptz, expand boolean)
         left join workload w on w.id = q.workload_id),
     b as (
       select q.i, s.* from q cross join lateral (
         select s.* from proton_request_statistics s
          where s.workload_id = q.workload_id and s.since = coalesce(q.promoted_at, '-infinity'::timestamptz)
            and s.bucket_start >= coalesce(q."from", '-infinity'::timestamptz) and s.bucket_start < coalesce(q."to", 'infinity'::timestamptz)
            and (q.proton_id is null or s.proton_id = q.proton_id)
         offset 0) s)${results}
     select r.i, ${expanding ? 'r.part' : 'null::uuid as part'}, r.promoted_at,
            (select coalesce(sum(f.in_flight), 0) from invoke_in_flight f join proton p on p.id = f.proton_id
              where p.workload_id = r.workload_id and (r.proton_id is null or f.proton_id = r.proton_id) and f.expires_at > now()) as in_flight,
            (select json_build_object(
                      'proton_id', null, 'bucket_start', min(b.bucket_start), 'last_bucket_start', max(b.bucket_start),
                      'request_count', coalesce(sum(b.request_count), 0), 'client_error_count', coalesce(sum(b.client_error_count), 0),
                      'server_error_count', coalesce(sum(b.server_error_count), 0), 'latency_sum_ms', coalesce(sum(b.latency_sum_ms), 0),
                      'latency_max_ms', coalesce(max(b.latency_max_ms), 0), 'peak_concurrency', coalesce(max(b.peak_concurrency), 0),
                      'last_request_at', max(b.last_request_at),
                      'latency_histogram', case when count(*) = 0 then '{}'::bigint[] else ${HISTOGRAM_SUM} end)
               from b where ${of('b')}) as total,
            (select json_agg(row_to_json(x) order by x.bucket_start, x.proton_id) from (
               select ${columns} from b
                where ${of('b')} and b.bucket_start in (select distinct b3.bucket_start from b b3 where ${of('b3')} order by b3.bucket_start desc limit ?)) x) as series
       from ${expanding ? 'r' : 'q r'}`,
    params: [JSON.stringify(input), Math.max(0, Math.trunc(lastMinutes))],
  };
}

/**
 * For each query, what `readStatisticsTotal`, `readStatisticsBuckets` (the newest `lastMinutes`
 * minutes), `readInFlight` and `readStatisticsResetAt` read, in one statement for all of them: a
 * page of protons asks for its statistics once, not four statements per proton. A query of a
 * whole workload with `withProtons` also answers each current proton of it (`protons`).
 */
export async function readStatisticsBatch(
  em: EntityManager,
  queries: readonly (StatisticsQuery & { withProtons?: boolean })[],
  lastMinutes: number,
): Promise<StatisticsRead[]> {
  const valid = queries.map((q) => isUuid(q.workloadId) && (q.protonId === undefined || isUuid(q.protonId)));
  const input = queries
    .map((q, i): StatisticsBatchInput => ({
      i, workload_id: q.workloadId, proton_id: q.protonId ?? null, from: q.from?.toISOString() ?? null, to: q.to?.toISOString() ?? null,
      ...(q.withProtons && q.protonId === undefined && { expand: true }),
    }))
    .filter((_, i) => valid[i]);
  const empty: StatisticsRead = { total: null, series: [], inFlight: 0, resetAt: null };
  if (input.length === 0) return queries.map(() => empty);
  const statement = statisticsBatchStatement(input, lastMinutes);
  const rows = await queryRows<BatchRow>(em, statement.sql, statement.params);
  const byIndex = new Map<number, BatchRow>();
  const parts = new Map<number, Map<string, StatisticsRead>>();
  for (const row of rows) {
    const i = Number(row.i);
    if (row.part === null) byIndex.set(i, row);
    else (parts.get(i) ?? parts.set(i, new Map()).get(i)!).set(row.part, readOf(row));
  }
  return queries.map((q, i) => {
    const row = byIndex.get(i);
    if (!row) return empty;
    const read = readOf(row);
    return q.withProtons && q.protonId === undefined ? { ...read, protons: parts.get(i) ?? new Map() } : read;
  });
}

function readOf(row: BatchRow): StatisticsRead {
  const total = row.total && row.total.bucket_start !== null && row.total.last_bucket_start !== null
    ? { ...toBucket(row.total), lastBucketStart: new Date(row.total.last_bucket_start) }
    : null;
  return {
    total,
    series: (row.series ?? []).map(toBucket),
    inFlight: Number(row.in_flight ?? 0),
    resetAt: row.promoted_at ? new Date(row.promoted_at) : null,
  };
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
