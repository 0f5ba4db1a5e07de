/**
 * Every SQL statement the ORM's connection sends, raw SQL and transaction control included
 * (knex reports each as a `query` event; MikroORM's own logger misses raw statements), but for
 * the database's maintenance (its catalog check every few seconds is no request's).
 */
import { MAINTENANCE_TAG } from '../../src/store/embedded-maintenance.js';
import type { Orm } from '../../src/store/orm.js';

export interface SqlLog {
  /** The statements since the log started (or since `statements.length = 0`), lower-cased, quotes removed. */
  readonly statements: string[];
  stop(): void;
}

/** Starts recording the statements `orm` sends. */
export function recordSql(orm: Orm): SqlLog {
  const client = orm.em.getKnex().client as unknown as {
    on(event: 'query', listener: (q: { sql: string }) => void): void;
    off(event: 'query', listener: (q: { sql: string }) => void): void;
  };
  const statements: string[] = [];
  const listener = (q: { sql: string }) => {
    if (!q.sql.startsWith(MAINTENANCE_TAG)) statements.push(q.sql.replaceAll('"', '').replace(/;\s*$/, '').trim().toLowerCase());
  };
  client.on('query', listener);
  return { statements, stop: () => client.off('query', listener) };
}
