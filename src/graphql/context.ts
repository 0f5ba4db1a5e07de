import { contextCacheSymbol } from '@pothos/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.js';
import { createAccessLoaders, type AccessLoaders } from '../service/access-loaders.js';
import type { Services } from '../service/index.js';
import type { LiveService } from '../service/live.service.js';

/** What a transport lets the server do to the connection an operation arrived on. */
export interface ConnectionControls {
  /** Closes the connection with a WebSocket close code (see src/transport/close-codes.ts). */
  close(code: number, reason: string): void;
}

/** What every resolver sees: who is calling, a request-scoped EntityManager, and the services. */
export interface GraphQLContext {
  viewer: Viewer;
  /** Forked per request: its identity map lives and dies with the request. */
  em: EntityManager;
  services: Services;
  /** The caller's roles, batched and cached for this request. */
  access: AccessLoaders;
  /** Base of the invoke endpoints, without a trailing slash. */
  publicBaseUrl: string;
  /** Live streams behind the subscriptions. */
  live: LiveService;
  /** Set for operations that arrived over a WebSocket connection. */
  connection?: ConnectionControls;
}

const releaseScope = Symbol('releaseRequestScope');
const heldScope = Symbol('holdsRequestScope');

/**
 * Gives `context.em` and `context.access` to an operation's context lazily: each is created on
 * first use and dropped by {@link releaseRequestScope}. A subscription keeps its context for as
 * long as it runs, so it must not keep an EntityManager (its identity map) and loaders alive
 * between payloads: most subscriptions are idle most of the time.
 *
 * Defined as accessors on the context object itself (Yoga extends the context with
 * `Object.assign`, which would read plain getters of a returned object once and keep the values).
 */
export function installRequestScope(context: object, fork: () => EntityManager, viewer: () => Viewer): void {
  let em: EntityManager | undefined;
  let access: AccessLoaders | undefined;
  Object.defineProperties(context, {
    em: {
      get: () => (em ??= fork()),
      set: (value: EntityManager) => {
        em = value;
        access = undefined;
      },
      configurable: true,
      enumerable: true,
    },
    access: {
      get: () => (access ??= createAccessLoaders((context as GraphQLContext).em, viewer())),
      configurable: true,
      enumerable: true,
    },
    [heldScope]: { value: () => em !== undefined || access !== undefined, configurable: true },
    [releaseScope]: {
      value: () => {
        em = undefined;
        access = undefined;
        // Pothos keys its per-request caches (dataloaders, auth scopes) weakly by the object under
        // this symbol: a new key lets the old caches be collected.
        Object.assign(context, { [contextCacheSymbol]: {} });
      },
      configurable: true,
    },
  });
}

/**
 * Drops the operation's EntityManager, role loaders and Pothos caches; the next use creates fresh
 * ones, which show the database as it is then and check the caller's roles as they are then.
 */
export function releaseRequestScope(context: object): void {
  const release = (context as { [releaseScope]?: () => void })[releaseScope];
  release?.();
}

/**
 * The context of one operation: `base` plus the lazy request scope, installed on Yoga's initial
 * context object (`initial`), into which Yoga then merges the returned fields.
 */
export function createOperationContext(
  initial: object,
  base: Omit<GraphQLContext, 'em' | 'access' | 'connection'>,
  fork: () => EntityManager,
): GraphQLContext {
  installRequestScope(initial, fork, () => base.viewer);
  return base as GraphQLContext;
}

/**
 * Releases a subscription's request scope after each payload it delivers and when it ends, so an
 * idle subscription holds no EntityManager, loaders or caches (ADR 0031).
 */
export function useRequestScopeRelease(): Plugin {
  return {
    onSubscribe() {
      return {
        onSubscribeResult({ args }) {
          const release = () => releaseRequestScope(args.contextValue as object);
          return { onNext: release, onEnd: release };
        },
      };
    },
  };
}

/** Whether the operation holds an EntityManager now (an idle subscription should not). */
export function holdsRequestScope(context: object): boolean {
  const scope = (context as { [heldScope]?: () => boolean })[heldScope];
  return scope?.() ?? false;
}
