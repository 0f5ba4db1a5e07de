import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs parameterized SQL in `em`'s transaction (if any) and returns its rows. Parameters travel
 * separately from the statement: `em.execute` inlines them, and the embedded driver then splits
 * a statement at any `;` inside a quoted value (a name like "a;b" broke event appends).
 */
export async function queryRows<T>(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  const knex = em.getTransactionContext() ?? em.getKnex();
  const started = performance.now();
  let result: { rows: T[] };
  try {
    result = (await knex.raw(sql, params as unknown[])) as { rows: T[] };
  } catch (err) {
    // Typed as the ORM's own statements' errors are (a unique or guard violation, a lost connection).
    throw err instanceof Error ? em.getDriver().convertException(err) : err;
  }
  // Logged like the ORM's own statements (its query log, and the tests' statement counts).
  em.config.getLogger().logQuery({ query: sql, took: Math.round(performance.now() - started), results: result.rows.length });
  return result.rows;
}

/** A JSON column as the driver hands it over: parsed by node-postgres, text from some embedded paths. */
export function jsonColumn<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
