import type { FilterQuery } from '@mikro-orm/core';

export { encodeCursor } from '../domain/cursor.js';
import { isUuid } from '../domain/ids.js';
import { TEXT_LIMITS, textProblem } from '../domain/validate.js';

/** A page asked for by cursor: `limit` rows after/before a cursor; `inverted` reads backwards. */
export interface PageWindow {
  after?: string;
  before?: string;
  limit: number;
  inverted: boolean;
}

export type SortDirection = 'ASC' | 'DESC';

/** A keyset position: the sort column's value and the row's id (the tie-breaker). */
type Position = [string, string];


/** Thrown for a cursor that this server did not make (or made for another ordering). */
export class InvalidCursorError extends Error {
  constructor(readonly argument: 'after' | 'before') {
    super(`"${argument}" is not a valid cursor: use a cursor from this connection, with the same orderBy`);
    this.name = 'InvalidCursorError';
  }
}

/**
 * The position in a cursor, checked as far as the database would look at it: a crafted cursor
 * (garbage, a non-UUID id, a value with a NUL byte) is refused here rather than by PostgreSQL.
 */
function decodeCursor(cursor: string, argument: 'after' | 'before'): Position {
  if (cursor.length <= TEXT_LIMITS.cursor) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (
        Array.isArray(parsed) &&
        parsed.length === 2 &&
        typeof parsed[0] === 'string' &&
        typeof parsed[1] === 'string' &&
        isUuid(parsed[1]) &&
        textProblem(parsed[0], 'line', TEXT_LIMITS.cursor) === undefined
      ) {
        return [parsed[0], parsed[1]];
      }
    } catch {
      // fall through
    }
  }
  throw new InvalidCursorError(argument);
}

/** One bound of a keyset page: rows whose (column, id) is past (`value`, `id`) in the reading order. */
interface KeysetBound {
  op: '>' | '<';
  value: unknown;
  id: string;
}

/** The bounds and reading order of one keyset page over `column` then `id`; refuses a foreign cursor. */
function keysetBounds(
  direction: SortDirection,
  page: PageWindow,
  parse: (value: string) => unknown,
): { bounds: KeysetBound[]; reading: 'asc' | 'desc' } {
  const bounds: KeysetBound[] = [];
  const bound = (cursor: string, argument: 'after' | 'before', forward: boolean) => {
    const [raw, id] = decodeCursor(cursor, argument);
    const value = parse(raw);
    // A date column's cursor must hold a date (a cursor of a name ordering does not).
    if (value instanceof Date && Number.isNaN(value.getTime())) throw new InvalidCursorError(argument);
    bounds.push({ op: forward === (direction === 'ASC') ? '>' : '<', value, id });
  };
  if (page.after) bound(page.after, 'after', true);
  if (page.before) bound(page.before, 'before', false);
  return { bounds, reading: (direction === 'ASC') !== page.inverted ? 'asc' : 'desc' };
}

/**
 * The where-clause and order of one keyset page over `column` then `id`. Stable under inserts,
 * unlike offsets, and served by an index on (column, id).
 */
export function keysetPage<T extends object>(
  column: string,
  direction: SortDirection,
  page: PageWindow,
  parse: (value: string) => unknown = (v) => v,
): { where: FilterQuery<T>[]; orderBy: Record<string, 'asc' | 'desc'>; limit: number } {
  const { bounds, reading } = keysetBounds(direction, page, parse);
  const where = bounds.map(({ op, value, id }) => {
    const orm = op === '>' ? '$gt' : '$lt';
    return { $or: [{ [column]: { [orm]: value } }, { [column]: value, id: { [orm]: id } }] } as FilterQuery<T>;
  });
  return { where, orderBy: { [column]: reading, id: reading }, limit: page.limit };
}

/**
 * The same page as SQL over table alias `alias`: conditions (`?` parameters), the order and the
 * limit. `column` is a column name the caller chose from a fixed set, never input.
 */
export function keysetSql(
  alias: string,
  column: string,
  direction: SortDirection,
  page: PageWindow,
  parse: (value: string) => unknown = (v) => v,
): { conditions: { sql: string; params: unknown[] }[]; orderBy: string; limit: number } {
  const { bounds, reading } = keysetBounds(direction, page, parse);
  const col = `${alias}.${column}`;
  const conditions = bounds.map(({ op, value, id }) => ({
    sql: `(${col} ${op} ? or (${col} = ? and ${alias}.id ${op} ?))`,
    params: [value, value, id],
  }));
  return { conditions, orderBy: `${col} ${reading}, ${alias}.id ${reading}`, limit: page.limit };
}

/** Escapes LIKE wildcards so that a search term matches itself. */
export function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
