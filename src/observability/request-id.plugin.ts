import { GraphQLError, type ExecutionResult } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { acceptRequestId, logUnexpectedErrors, REQUEST_ID_HEADER } from './request-scope.js';

/** A copy of `errors` with `extensions.requestId` on each (errors may be cached and shared: never mutated). */
export function withRequestId<E extends { extensions?: Record<string, unknown> }>(errors: readonly E[], requestId: string): E[] {
  return errors.map((error) => {
    if (error instanceof GraphQLError) {
      return new GraphQLError(error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        originalError: error.originalError,
        extensions: { ...error.extensions, requestId },
      }) as unknown as E;
    }
    return { ...error, extensions: { ...error.extensions, requestId } };
  });
}

function resultWithRequestId(result: ExecutionResult, requestId: string, logger: Logger): ExecutionResult {
  if (!result.errors?.length) return result;
  logUnexpectedErrors(result.errors, logger, requestId);
  return { ...result, errors: withRequestId(result.errors, requestId) };
}

/**
 * Yoga plugin: every GraphQL response over HTTP carries the request id in the `x-request-id`
 * header and in `extensions.requestId` of each error, whatever produced it (a bad request body,
 * validation, authentication, a masked internal error, an error in an SSE stream). The HTTP front
 * has already replaced the header with an accepted id; requests that did not come through it
 * (`yoga.fetch` in tests) get one here. The causes of masked internal errors are logged here,
 * with the id.
 */
export function useRequestIds(logger: Logger): Plugin {
  const ids = new WeakMap<Request, string>();
  const idOf = (request: Request) => {
    let id = ids.get(request);
    if (!id) {
      id = acceptRequestId(request.headers.get(REQUEST_ID_HEADER));
      ids.set(request, id);
    }
    return id;
  };
  return {
    onResultProcess({ request, result, setResult }) {
      const id = idOf(request);
      if (isAsyncIterable(result)) {
        setResult(mapAsyncIterator(result, (value: ExecutionResult) => resultWithRequestId(value, id, logger)));
      } else if (Array.isArray(result)) {
        setResult(result.map((r: ExecutionResult) => resultWithRequestId(r, id, logger)));
      } else {
        setResult(resultWithRequestId(result as ExecutionResult, id, logger));
      }
    },
    onResponse({ request, response }) {
      if (!response.headers.has(REQUEST_ID_HEADER)) response.headers.set(REQUEST_ID_HEADER, idOf(request));
    },
  };
}
