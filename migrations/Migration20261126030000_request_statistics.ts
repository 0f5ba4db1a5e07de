import { Migration } from '@mikro-orm/migrations';

/**
 * Request statistics of the invoke endpoint. `proton_request_statistics` holds one row per proton,
 * statistics epoch and one-minute bucket; API replicas add their batches into it. `since` is the
 * workload's reset marker (its `promoted_at`, or -infinity) at the time a batch was written:
 * reads keep only rows of the current epoch, so a promote resets the statistics without deleting
 * anything. `invoke_in_flight` is each API replica's live count of requests in flight per proton,
 * refreshed with every batch and ignored once expired (a replica that died stops counting).
 */
export class Migration20261126030000_request_statistics extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table proton_request_statistics (
        proton_id uuid not null references proton (id) on delete cascade,
        workload_id uuid not null references workload (id) on delete cascade,
        since timestamptz not null,
        bucket_start timestamptz not null,
        request_count bigint not null check (request_count >= 0),
        client_error_count bigint not null check (client_error_count >= 0),
        server_error_count bigint not null check (server_error_count >= 0),
        latency_sum_ms double precision not null,
        latency_max_ms double precision not null,
        latency_histogram bigint[] not null,
        peak_concurrency integer not null,
        last_request_at timestamptz not null,
        primary key (proton_id, since, bucket_start)
      );`);
    this.addSql(`create index proton_request_statistics_workload_index on proton_request_statistics (workload_id, since, bucket_start);`);
    this.addSql(`
      create table invoke_in_flight (
        instance_id uuid not null,
        proton_id uuid not null references proton (id) on delete cascade,
        in_flight integer not null check (in_flight >= 0),
        expires_at timestamptz not null,
        primary key (instance_id, proton_id)
      );`);
    this.addSql(`create index invoke_in_flight_proton_index on invoke_in_flight (proton_id);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists invoke_in_flight;`);
    this.addSql(`drop table if exists proton_request_statistics;`);
  }
}
