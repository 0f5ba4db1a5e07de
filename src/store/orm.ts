import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MikroORM, PostgreSqlDriver, type AbstractSqlConnection, type Knex, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { migrationsList } from '../../migrations/index.js';
import { entities } from './entities/index.js';
import { pgliteModule } from './pglite-module.js';
import { prioritizeConnection } from './connection-priority.js';
import { allowPreparedStatements } from './sql.js';
import { EMBEDDED_MAINTENANCE, MAINTENANCE_TAG, SERVER_MAINTENANCE, startMaintenance, type MaintenanceSettings, type RunSql } from './embedded-maintenance.js';
import { startEmbeddedDatabaseThread, type EmbeddedDatabaseThread } from './pglite-thread.js';
import { seedFromTemplate } from './pglite-template.js';

export type DatabaseConfig =
  | {
      kind: 'postgres';
      url: string;
      poolMax?: number;
      /**
       * How long a query waits for a pooled connection, and a new connection for the server
       * (default 5000 ms). While the database is unreachable, queries then fail within this
       * (SERVICE_UNAVAILABLE) instead of waiting for the pool's default of a minute.
       */
      connectTimeoutMs?: number;
      /**
       * Whether hot statements stay prepared on the connections that run them (default true;
       * ADR 0061 decision 18). Off behind a pooler that hands a session's statements to other
       * clients' connections (PgBouncer in transaction mode before 1.21).
       */
      preparedStatements?: boolean;
    }
  | {
      kind: 'pglite';
      dataDir: string;
      /** A pre-initialized database to copy when dataDir holds none yet (./pglite-template.ts). */
      templateDir?: string;
    }
  | { kind: 'pglite-memory' };

export interface OrmOptions {
  /** Called with the text of every SQL statement the ORM sends (tests count queries with it). */
  onQuery?: (sql: string) => void;
  /**
   * The database's maintenance (./embedded-maintenance.ts): its settings, or false for none. By
   * default the embedded database is analyzed and vacuumed, a server's tables analyzed when their
   * size moves (its autovacuum vacuums them).
   */
  maintenance?: MaintenanceSettings | false;
  /** Called with what made a maintenance run fail (the next one tries again). */
  onMaintenanceError?: (err: unknown) => void;
}

/** The ORM; on the embedded database, also the thread the database runs on (its heap for /metrics). */
export type Orm = MikroORM & { readonly embeddedDatabase?: Pick<EmbeddedDatabaseThread, 'heapStatistics'> };

function baseOptions(opts: OrmOptions): Options {
  return {
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false },
    // Per-request and per-unit-of-work forks only; the global manager must never be used.
    allowGlobalContext: false,
    forceUtcTimezone: true,
    colors: false,
    ...(opts.onQuery
      ? { debug: ['query'], logger: (message: string) => opts.onQuery?.(message) }
      : { debug: false }),
  };
}

/** Opens the configured database (PostgreSQL or embedded PGlite) and applies pending migrations. */
export async function openOrm(database: DatabaseConfig, opts: OrmOptions = {}): Promise<Orm> {
  let orm: MikroORM;
  if (database.kind === 'postgres') {
    orm = await MikroORM.init({
      ...baseOptions(opts),
      driver: PostgreSqlDriver,
      clientUrl: database.url,
      pool: { min: 0, max: database.poolMax ?? 10 },
      driverOptions: {
        acquireConnectionTimeout: database.connectTimeoutMs ?? 5000,
        // JIT compilation off for every connection (ADR 0061 decision 10): this is a control plane of
        // short statements, and a statement whose estimate passes `jit_above_cost` paid ~100 ms
        // compiling what runs in a few.
        connection: { connectionTimeoutMillis: database.connectTimeoutMs ?? 5000, options: '-c jit=off' },
      },
    });
    if (database.preparedStatements ?? true) allowPreparedStatements(orm.config);
  } else {
    let dataDir: string | undefined;
    if (database.kind === 'pglite') {
      dataDir = path.resolve(database.dataDir, 'pgdata');
      const seeded = database.templateDir !== undefined && (await seedFromTemplate(dataDir, database.templateDir));
      if (!seeded) await mkdir(dataDir, { recursive: true });
    }
    // The database runs on a thread of its own (./pglite-thread.ts) with the module of the
    // smaller buffer pool (./pglite-module.ts). The driver only borrows it, so closing the ORM
    // closes it here. PGlite's driver is imported only here: the PostgreSQL mode does not load it.
    const [{ PGliteDriver }, { module: wasmModule }] = await Promise.all([import('mikro-orm-pglite'), pgliteModule()]);
    let embedded: EmbeddedDatabaseThread | undefined;
    orm = await MikroORM.init({
      ...baseOptions(opts),
      driver: PGliteDriver as unknown as typeof PostgreSqlDriver,
      dbName: 'postgres',
      driverOptions: { connection: { pglite: () => (embedded = startEmbeddedDatabaseThread({ dataDir, wasmModule })) } },
    });
    // Queries' statements first on the one connection.
    prioritizeConnection((orm.em.getConnection() as AbstractSqlConnection).getKnex().client as never);
    // The thread starts with the driver's first connection.
    const heapStatistics = () => (embedded ? embedded.heapStatistics() : Promise.reject(new Error('the embedded database is not open')));
    Object.assign(orm, { embeddedDatabase: { heapStatistics } });
    const closeOrm = orm.close.bind(orm);
    orm.close = async (force?: boolean) => {
      try {
        await closeOrm(force);
      } finally {
        await embedded?.close();
      }
    };
  }
  try {
    if (!(await allMigrationsApplied(orm))) await orm.getMigrator().up();
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  // After the migrations: what they change is what there is to analyze.
  const settings = opts.maintenance ?? (database.kind === 'postgres' ? SERVER_MAINTENANCE : EMBEDDED_MAINTENANCE);
  if (settings) {
    // Through knex, not the ORM's connection: the maintenance's statements are not the requests'
    // (`onQuery` counts what requests send).
    const knex = (orm.em.getConnection() as AbstractSqlConnection).getKnex();
    const run: RunSql = async <T>(sql: string, params: unknown[] = []) =>
      ((await knex.raw(`${MAINTENANCE_TAG} ${sql}`, params as Knex.RawBinding[])) as { rows: T[] }).rows;
    // What the API sends (every statement but the maintenance's): a check follows only activity.
    let sent = 0;
    (knex.client as unknown as { on(event: 'query', listener: (q: { sql: string }) => void): void }).on('query', (q) => {
      if (!q.sql.startsWith(MAINTENANCE_TAG)) sent++;
    });
    const maintenance = startMaintenance(run, settings, opts.onMaintenanceError ?? (() => {}), () => sent);
    const closeWithout = orm.close.bind(orm);
    orm.close = async (force?: boolean) => {
      await maintenance.stop();
      await closeWithout(force);
    };
  }
  return orm;
}

/**
 * Whether the database has applied exactly the known migrations, in one query: the migrator's own
 * check introspects the schema and the table first, which costs more than the rest of a warm start
 * on the embedded database. Anything else (no table yet, a pending or unknown migration) is left to
 * the migrator.
 */
async function allMigrationsApplied(orm: MikroORM): Promise<boolean> {
  const table = orm.config.get('migrations').tableName ?? 'mikro_orm_migrations';
  let rows: { name: string }[];
  try {
    rows = await orm.em.fork().getConnection().execute<{ name: string }[]>(`select name from "${table}" order by id`);
  } catch {
    return false;
  }
  const applied = rows.map((r) => r.name.replace(/\.[jt]s$/, ''));
  return applied.length === migrationsList.length && migrationsList.every((m, i) => applied[i] === m.name);
}
