import { ConnectionException, DriverException, UniqueConstraintViolationException } from '@mikro-orm/core';

/** The name of the unique constraint or index that `err` violated, if it is such a violation. */
export function violatedUniqueConstraint(err: unknown): string | undefined {
  if (!(err instanceof UniqueConstraintViolationException)) return undefined;
  const e = err as UniqueConstraintViolationException & { constraint?: string };
  if (e.constraint) return e.constraint;
  const match = /unique constraint "([^"]+)"/.exec(e.message);
  return match?.[1];
}

/** Whether `err` was raised by one of the model's own guard triggers (SQLSTATE `WLxxx`). */
export function isGuardViolation(err: unknown): boolean {
  return err instanceof DriverException && typeof err.code === 'string' && err.code.startsWith('WL');
}

// Node socket errors of a database that cannot be reached, and PostgreSQL's SQLSTATEs of a server
// that is going away, starting, or out of connections (class 08: connection exceptions; 57P01-03:
// admin, crash or cannot-connect-now shutdowns; 53300: too many connections).
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53300',
]);
// What node-postgres and knex say, without a code, when a connection dies or none can be had
// ("timeout expired": a new connection not established within the connect timeout, as when
// thousands of live subscriptions join at once and the event loop is busy).
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connection error|Timeout acquiring a connection|timeout exceeded when trying to connect|^timeout expired$|Connection ended unexpectedly|the database system is (?:starting up|shutting down)/i;

/**
 * Whether `err` says the database cannot be reached now (refused, reset, shutting down, pool
 * exhausted), as opposed to a query that is wrong: the request may be retried once it is back.
 * Looks through the causes the driver and MikroORM wrap around the socket's error.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    if (current instanceof ConnectionException) return true;
    const e = current as { code?: unknown; name?: unknown; message?: unknown; errors?: unknown; cause?: unknown; previous?: unknown; originalError?: unknown };
    if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('08'))) return true;
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
    // An AggregateError (a refused connection to every address of "localhost").
    if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
    current = e.cause ?? e.previous ?? e.originalError;
  }
  return false;
}
