/**
 * Request ids: one per HTTP request (the caller's `x-request-id` when it is a sane value, otherwise
 * a new UUID), returned as a response header, carried by the request's child logger and put in
 * every GraphQL error's `extensions.requestId`. WebSocket operations get `ws-<uuid>/<operation id>`.
 *
 * The id travels with the request (its header, the GraphQL context's request), not in an
 * AsyncLocalStorage: on Node 20 that would put async-hook ids on every promise of the process,
 * which costs memory per idle subscription and time on every await. What masks an internal error
 * keeps its cause on the masked error, and the transport that knows the id logs it
 * (`logUnexpectedErrors`). One instance per app.
 */
import { GraphQLError } from 'graphql';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';

export const REQUEST_ID_HEADER = 'x-request-id';
/** Longer incoming ids are replaced: they would bloat every log line and error. */
export const MAX_REQUEST_ID_LENGTH = 128;
/** What an incoming id may contain: tokens that tracing systems use, nothing that needs escaping. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:/+=@-]+$/;

/** The caller's request id when it is acceptable (one value, at most 128 safe characters), otherwise a new one. */
export function acceptRequestId(value: string | readonly string[] | null | undefined): string {
  const candidate = typeof value === 'string' ? value : undefined;
  return candidate && candidate.length <= MAX_REQUEST_ID_LENGTH && REQUEST_ID_PATTERN.test(candidate) ? candidate : randomUUID();
}

/** What is known about the request (or WebSocket operation) under way. */
export interface RequestScope {
  readonly requestId: string;
  /** The app's logger with `requestId` bound. */
  readonly logger: Logger;
}

/** Makes the scope of a request: its id and its logger. */
export class RequestScopes {
  constructor(private readonly base: Logger) {}

  /** A scope for `requestId`, with its child logger (made when first used: most requests log nothing but their line). */
  scope(requestId: string): RequestScope {
    const base = this.base;
    let logger: Logger | undefined;
    return {
      requestId,
      get logger() {
        return (logger ??= base.child({ requestId }));
      },
    };
  }

  /** Whether the app's logger writes lines of `level` (so a caller can skip building one). */
  isLevelEnabled(level: 'debug' | 'info'): boolean {
    return this.base.isLevelEnabled(level);
  }
}

/**
 * Logs the cause of each internal error that masking replaced (code INTERNAL_SERVER_ERROR, the
 * cause kept as `originalError`), with the request id the caller sees in the error.
 */
export function logUnexpectedErrors(errors: readonly unknown[] | undefined, logger: Logger, requestId: string): void {
  for (const error of errors ?? []) {
    if (error instanceof GraphQLError && error.extensions?.code === 'INTERNAL_SERVER_ERROR') {
      logger.error({ requestId, err: error.originalError ?? error, path: error.path }, 'unexpected error');
    } else if (error instanceof GraphQLError && error.extensions?.code === 'SERVICE_UNAVAILABLE') {
      logger.warn({ requestId, err: error.originalError ?? error, path: error.path }, 'a backend is unavailable');
    }
  }
}
