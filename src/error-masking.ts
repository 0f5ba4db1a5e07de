import { ForbiddenError as RefusedObjectError } from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { isDatabaseUnavailable } from './store/errors.js';
import { InvalidCursorError } from './store/pagination.js';
import { serviceUnavailableError } from './graphql/outage.js';

/**
 * What a client sees of an error raised while executing (Yoga's `maskedErrors.maskError`): errors
 * raised on purpose pass through or become their typed codes; anything else is masked as
 * INTERNAL_SERVER_ERROR, its cause kept on the error (never serialized) for the transport to log
 * with the request id. In development (`isDev`) a masked error also carries what it masks.
 */
export function maskError(error: unknown, message: string, isDev?: boolean): Error {
  const original = error instanceof GraphQLError ? error.originalError : error;
  // Already masked (an error can pass through masking twice).
  if (error instanceof GraphQLError && error.extensions?.code === 'INTERNAL_SERVER_ERROR') return error;
  // An object its type's check refused (`readableBy`): the caller may not read it. Pothos' error
  // is a GraphQLError without a code, which passed through below with none.
  if (error instanceof GraphQLError && original instanceof RefusedObjectError) {
    return new GraphQLError(original.message, { nodes: error.nodes, path: error.path, extensions: { code: 'FORBIDDEN' } });
  }
  // GraphQL errors raised on purpose (bad arguments, bad documents, Pothos' validation) pass through.
  if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) return error;
  if (error instanceof GraphQLError && original instanceof InvalidCursorError) {
    return new GraphQLError(original.message, {
      nodes: error.nodes,
      path: error.path,
      extensions: { code: 'INVALID_CURSOR', argument: original.argument },
    });
  }
  // An outage is no bug: a typed, retryable error (503 with Retry-After over HTTP), its cause logged.
  if (isDatabaseUnavailable(original ?? error)) {
    return serviceUnavailableError('The database', {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      cause: original instanceof Error ? original : undefined,
    });
  }
  // The cause stays on the masked error (never serialized) for the transport to log with the request id.
  return new GraphQLError(message, {
    originalError: original instanceof Error ? original : error instanceof Error ? error : undefined,
    nodes: error instanceof GraphQLError ? error.nodes : undefined,
    path: error instanceof GraphQLError ? error.path : undefined,
    extensions: {
      code: 'INTERNAL_SERVER_ERROR',
      ...(isDev && original instanceof Error && { originalError: { name: original.name, message: original.message } }),
    },
  });
}
