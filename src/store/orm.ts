import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { MikroORM, PostgreSqlDriver, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { PGliteDriver } from 'mikro-orm-pglite';
import { migrationsList } from '../../migrations/index.js';
import { entities } from './entities/index.js';

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
    }
  | { kind: 'pglite'; dataDir: string }
  | { kind: 'pglite-memory' };

export interface OrmOptions {
  /** Called with the text of every SQL statement the ORM sends (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

export type Orm = MikroORM;

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
        connection: { connectionTimeoutMillis: database.connectTimeoutMs ?? 5000 },
      },
    });
  } else {
    let dataDir: string | undefined;
    if (database.kind === 'pglite') {
      dataDir = path.resolve(database.dataDir, 'pgdata');
      await mkdir(dataDir, { recursive: true });
    }
    // The ORM owns the PGlite instance: closing the ORM closes the database.
    orm = await MikroORM.init({
      ...baseOptions(opts),
      driver: PGliteDriver as unknown as typeof PostgreSqlDriver,
      dbName: 'postgres',
      driverOptions: { connection: { pglite: () => new PGlite(dataDir) } },
    });
  }
  try {
    await orm.getMigrator().up();
  } catch (err) {
    await orm.close(true);
    throw err;
  }
  return orm;
}
