import { isAsyncIterable } from '@graphql-tools/utils';
import type { Plugin } from 'graphql-yoga';
import { releaseRequestScope } from '../context.js';

/**
 * Releases a query's or mutation's request scope and per-operation caches once its result is
 * complete (`releaseRequestScope`; ADR 0061 decision 22): nothing reads them after, the response
 * is serialized from the result. A subscription's context lives on; its scope is released
 * between payloads.
 */
export const releaseOperationCachesPlugin: Plugin = {
  onExecute: () => ({
    onExecuteDone: ({ args, result }) => {
      if (!isAsyncIterable(result)) releaseRequestScope(args.contextValue as object);
    },
  }),
};
