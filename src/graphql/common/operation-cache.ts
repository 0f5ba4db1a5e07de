import { createContextCache } from '@pothos/core';
import { clearAllDataLoaders } from '@pothos/plugin-dataloader';
import { RequestCache } from '@pothos/plugin-scope-auth';
import { isAsyncIterable } from '@graphql-tools/utils';
import type { Plugin } from 'graphql-yoga';
import { releaseRequestScope } from '../context.js';

/** The operation caches made by {@link operationCache}, each able to drop an operation's entry. */
const caches: { delete(context: object): void }[] = [];

/**
 * A per-operation cache (Pothos' `createContextCache`: one value per GraphQL context) whose entry
 * {@link releaseOperationCaches} drops when the operation has its result.
 */
export function operationCache<T, C extends object>(create: (context: C) => T): (context: C) => T {
  const cache = createContextCache(create);
  caches.push(cache as unknown as { delete(context: object): void });
  return cache;
}

/**
 * Drops what an operation cached under its context: its loaders' values (ours and Pothos'), its
 * auth scopes' results. Pothos keeps these in module-wide WeakMaps keyed by the context, and V8's
 * scavenger keeps a WeakMap's values alive until a full collection even when their key died young:
 * every list's page (its rows, views and loader maps) was promoted to the old generation and
 * copied on the way (ADR 0061 decision 22). Dropped at the end, they die young.
 */
export function releaseOperationCaches(context: object): void {
  RequestCache.clearForContext(context);
  clearAllDataLoaders(context);
  for (const cache of caches) cache.delete(context);
  // Pothos' loaders stay in its caches (only their values are cleared), and their batch functions
  // hold the context: the context lets go of its EntityManager and role loaders too.
  releaseRequestScope(context);
}

/**
 * Releases a query's or mutation's caches once its result is complete (a subscription's context
 * lives on; its scope is released between payloads, `releaseRequestScope`).
 */
export const releaseOperationCachesPlugin: Plugin = {
  onExecute: () => ({
    onExecuteDone: ({ args, result }) => {
      if (!isAsyncIterable(result)) releaseOperationCaches(args.contextValue as object);
    },
  }),
};
