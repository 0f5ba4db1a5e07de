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
  const client = ((em.getTransactionContext() ?? em.getKnex()) as unknown as { client: KnexClient }).client;
  // A parameter left undefined is a bug, refused as knex's own raw statements refuse it (not sent as null).
  const undefinedAt = params.findIndex((p) => p === undefined);
  if (undefinedAt >= 0) throw new Error(`Undefined binding(s) detected for keys [${undefinedAt}] when compiling RAW query: ${sql}`);
  const started = performance.now();
  let rows: T[];
  try {
    // Straight to the knex client, past its query builder and runner (a fifth of a list's
    // statement's CPU on the API's side): the pool (or the transaction's connection), the
    // placeholders, the 'query' event and the errors' SQL are the client's, as with `knex.raw`.
    const connection = await client.acquireConnection();
    try {
      const name = options.prepared ? statementName(em.config, sql) : undefined;
      // node-postgres prepares a named statement once per connection and then only binds and runs it.
      const query = await client.query(connection, { method: 'raw', sql, bindings: params, options: name ? { name } : {} });
      rows = (client.processResponse(query, undefined) as { rows: T[] }).rows;
    } finally {
      await client.releaseConnection(connection);
    }
  } catch (err) {
    // Typed as the ORM's own statements' errors are (a unique or guard violation, a lost connection).
    throw err instanceof Error ? em.getDriver().convertException(err) : err;
  }
  // Logged like the ORM's own statements (its query log, and the tests' statement counts).
  em.config.getLogger().logQuery({ query: sql, took: Math.round(performance.now() - started), results: rows.length });
  return rows;
}

/** What `queryRows` uses of a knex client (the pool's, or a transaction's bound to its connection). */
interface KnexClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
  query(connection: unknown, query: { method: 'raw'; sql: string; bindings: readonly unknown[]; options: { name?: string } }): Promise<unknown>;
  processResponse(query: unknown, runner: undefined): unknown;
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
