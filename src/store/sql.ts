import type { Configuration } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * How many statement texts a database's connections keep prepared (ADR 0061 decision 18): each
 * costs its connection a parse tree and a cached plan (about 0.3 MB for a page's), so the texts
 * that may be prepared are the first this many asked for; the rest run unnamed, planned each time.
 */
export const PREPARED_STATEMENTS_LIMIT = 48;

/** The statement names of each database whose connections may keep prepared statements, by text. */
const preparedNames = new WeakMap<Configuration, Map<string, string>>();

/** Lets `prepared` statements on `config`'s database keep their plans on its connections (`queryRows`). */
export function allowPreparedStatements(config: Configuration): void {
  if (!preparedNames.has(config)) preparedNames.set(config, new Map());
}

/** The name `sql` is prepared under on `config`'s database, if it may be. */
function statementName(config: Configuration, sql: string): string | undefined {
  const names = preparedNames.get(config);
  if (!names) return undefined;
  let name = names.get(sql);
  if (name === undefined && names.size < PREPARED_STATEMENTS_LIMIT) {
    name = `workload_api_${names.size + 1}`;
    names.set(sql, name);
  }
  return name;
}

/**
 * Runs parameterized SQL in `em`'s transaction (if any) and returns its rows. Parameters travel
 * separately from the statement: `em.execute` inlines them, and the embedded driver then splits
 * a statement at any `;` inside a quoted value (a name like "a;b" broke event appends).
 */
export async function queryRows<T>(em: EntityManager, sql: string, params: readonly unknown[] = [], options: QueryOptions = {}): Promise<T[]> {
  const knex = em.getTransactionContext() ?? em.getKnex();
  const started = performance.now();
  let result: { rows: T[] };
  try {
    const raw = knex.raw(sql, params as unknown[]);
    const name = options.prepared ? statementName(em.config, sql) : undefined;
    // node-postgres prepares a named statement once per connection and then only binds and runs it.
    result = (await (name ? raw.options({ name }) : raw)) as { rows: T[] };
  } catch (err) {
    // Typed as the ORM's own statements' errors are (a unique or guard violation, a lost connection).
    throw err instanceof Error ? em.getDriver().convertException(err) : err;
  }
  // Logged like the ORM's own statements (its query log, and the tests' statement counts).
  em.config.getLogger().logQuery({ query: sql, took: Math.round(performance.now() - started), results: result.rows.length });
  return result.rows;
}

export interface QueryOptions {
  /**
   * Keep the statement prepared on each connection that runs it, where the database allows it
   * (`allowPreparedStatements`): for a hot statement whose planning costs as much as its run. Its
   * text must name its columns (no `*`): a prepared statement whose result's columns change under
   * it (a migration adding a column) fails instead of planning again.
   */
  prepared?: boolean;
}

/** A JSON column as the driver hands it over: parsed by node-postgres, text from some embedded paths. */
export function jsonColumn<T>(value: T | string): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}
