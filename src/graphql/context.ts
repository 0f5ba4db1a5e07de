import { contextCacheSymbol } from '@pothos/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { AdmissionPlace } from './admission.js';
import { createAccessLoaders, type AccessLoaders } from '../service/access-loaders.js';
import type { Services } from '../service/index.js';
import type { LiveService } from '../service/live.service.js';

/** What a transport lets the server do to the connection an operation arrived on. */
export interface ConnectionControls {
  /** Closes the connection with a WebSocket close code (see src/domain/close-codes.ts). */
  close(code: number, reason: string): void;
  /**
   * Writes a `next` frame of this operation around a payload that is already JSON, now (nothing
   * when the connection is closed; a connection with too much unsent is closed as a slow
   * consumer). Subscribers of a group get their frames this way (ADR 0033).
   */
  sendNext?(payloadJson: string): void;
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
  /** A mutation's admitted place (./admission.ts), set when it starts executing. */
  admission?: AdmissionPlace;
}

/** Where an operation's request scope lives on its context object. */
const scopeState = Symbol('requestScope');

interface ScopeState {
  readonly fork: () => EntityManager;
  readonly viewer: Viewer;
  em?: EntityManager;
  access?: AccessLoaders;
}

type Scoped = { [scopeState]: ScopeState };

/**
 * The accessors of `em` and `access`, shared by every context (they read the state through
 * `this`): an operation's scope then costs one small object, not a set of closures, for as long as
 * its subscription runs.
 */
const scopeAccessors: PropertyDescriptorMap = {
  em: {
    get(this: Scoped) {
      const state = this[scopeState];
      return (state.em ??= state.fork());
    },
    set(this: Scoped, value: EntityManager) {
      const state = this[scopeState];
      state.em = value;
      state.access = undefined;
    },
    configurable: true,
    enumerable: true,
  },
  access: {
    get(this: Scoped & GraphQLContext) {
      const state = this[scopeState];
      return (state.access ??= createAccessLoaders(() => this.em, state.viewer));
    },
    configurable: true,
    enumerable: true,
  },
};

/**
 * Gives `context.em` and `context.access` to an operation's context lazily: each is created on
 * first use and dropped by {@link releaseRequestScope}. A subscription keeps its context for as
 * long as it runs, so it must not keep an EntityManager (its identity map) and loaders alive
 * between payloads: most subscriptions are idle most of the time.
 *
 * Defined as accessors on the context object itself (Yoga extends the context with
 * `Object.assign`, which would read plain getters of a returned object once and keep the values).
 */
export function installRequestScope(context: object, fork: () => EntityManager, viewer: Viewer): void {
  const state: ScopeState = { fork, viewer };
  Object.defineProperty(context, scopeState, { value: state, configurable: true });
  Object.defineProperties(context, scopeAccessors);
}

/**
 * Drops the operation's EntityManager, role loaders and Pothos caches; the next use creates fresh
 * ones, which show the database as it is then and check the caller's roles as they are then.
 */
export function releaseRequestScope(context: object): void {
  const state = (context as Partial<Scoped>)[scopeState];
  if (!state) return;
  state.em = undefined;
  state.access = undefined;
  // Pothos keys its per-request caches (dataloaders, auth scopes) weakly by the object under this
  // symbol: a new key lets the old caches be collected.
  Object.assign(context, { [contextCacheSymbol]: {} });
}

/**
 * The context of one operation: `base` plus the lazy request scope, installed on Yoga's initial
 * context object (`initial`), into which Yoga then merges the returned fields. `fork` should be
 * one function for all operations (it is kept by each).
 */
export function createOperationContext(
  initial: object,
  base: Omit<GraphQLContext, 'em' | 'access' | 'connection'>,
  fork: () => EntityManager,
): GraphQLContext {
  installRequestScope(initial, fork, base.viewer);
  return base as GraphQLContext;
}

/** Whether the operation holds an EntityManager or loaders now (an idle subscription should not). */
export function holdsRequestScope(context: object): boolean {
  const state = (context as Partial<Scoped>)[scopeState];
  return state !== undefined && (state.em !== undefined || state.access !== undefined);
}
