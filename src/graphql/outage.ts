import { GraphQLError } from 'graphql';

/** `extensions.code` of an operation that failed because a backend it needs is unreachable. */
export const SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE';

/** What a client is told to wait before it retries an operation refused by an outage. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/**
 * The error of an operation that met an outage (the database unreachable): retryable, unlike an
 * internal error. Over HTTP it is status 503 with `Retry-After`; everywhere it carries
 * `retryAfterSeconds`. It names no host, user or driver message (those are logged).
 */
export function serviceUnavailableError(
  what: string,
  options: { nodes?: GraphQLError['nodes']; path?: GraphQLError['path']; cause?: Error } = {},
): GraphQLError {
  return new GraphQLError(`${what} is unavailable; retry after ${OUTAGE_RETRY_AFTER_SECONDS} s.`, {
    nodes: options.nodes,
    path: options.path,
    // Kept for the transport to log with the request id; never serialized.
    originalError: options.cause,
    extensions: {
      code: SERVICE_UNAVAILABLE,
      retryAfterSeconds: OUTAGE_RETRY_AFTER_SECONDS,
      http: { status: 503, headers: { 'Retry-After': String(OUTAGE_RETRY_AFTER_SECONDS) } },
    },
  });
}
