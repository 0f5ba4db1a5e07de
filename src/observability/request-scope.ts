/**
 * Request ids: one per HTTP request (the caller's `x-request-id` when it is a sane value, otherwise
 * a new UUID), returned as a response header, carried by the request's child logger and put in
 * every GraphQL error's `extensions.requestId`. WebSocket operations get `ws-<uuid>/<operation id>`.
 *
 * The request's scope (id and child logger) is held in an AsyncLocalStorage, so that code with no
 * request in hand (Yoga's `maskError`) still logs with the id. One instance per app.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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

/** The scope of the request under way, per asynchronous context. */
export class RequestScopes {
  readonly #storage = new AsyncLocalStorage<RequestScope>();

  constructor(private readonly base: Logger) {}

  /** A scope for `requestId`, with its child logger. */
  scope(requestId: string): RequestScope {
    return { requestId, logger: this.base.child({ requestId }) };
  }

  /** Runs `fn` (and everything it starts) within `scope`. */
  run<T>(scope: RequestScope, fn: () => T): T {
    return this.#storage.run(scope, fn);
  }

  /** The scope of the request under way, if any. */
  current(): RequestScope | undefined {
    return this.#storage.getStore();
  }

  /** The request's logger, or the app's outside any request. */
  currentLogger(): Logger {
    return this.#storage.getStore()?.logger ?? this.base;
  }
}
