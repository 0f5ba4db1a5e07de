import { contextCacheSymbol } from '@pothos/core';
import { clearAllDataLoaders } from '@pothos/plugin-dataloader';
import { RequestCache } from '@pothos/plugin-scope-auth';
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

/** Where an operation's caches ({@link operationCache}) keep their values: an array on its cache key, a slot per cache. */
const operationSlots = Symbol('operationCaches');
let operationCacheCount = 0;

type Slotted = { [operationSlots]?: unknown[] };

/** The object an operation's caches are kept on: Pothos' cache key on the context (a new one per release), else the context. */
function cacheHolder(context: object): Slotted {
  return ((context as { [contextCacheSymbol]?: object })[contextCacheSymbol] ?? context) as Slotted;
}

/**
 * A per-operation cache (one value per GraphQL context, as Pothos' `createContextCache`, under the
 * same key) whose entry {@link releaseRequestScope} drops. Kept in a slot of an array on the key
 * rather than in a module-wide WeakMap: a lookup is an array read (a list looks its loaders up
 * about a hundred times), and the values die with the key, with no WeakMap for V8's scavenger to
 * keep them alive in (ADR 0061 decision 22).
 */
export function operationCache<T, C extends object>(create: (context: C) => T): (context: C) => T {
  const slot = operationCacheCount++;
  return (context) => {
    const slots = (cacheHolder(context)[operationSlots] ??= []);
    const value = slots[slot];
    if (value !== undefined || slot in slots) return value as T;
    const created = create(context);
    slots[slot] = created;
    return created;
  };
}

/**
 * Drops the operation's EntityManager, role loaders and per-operation caches (ours and Pothos'
 * loaders and auth scopes); the next use creates fresh ones, which show the database as it is then
 * and check the caller's roles as they are then. A query or mutation is released once its result is
 * complete, a subscription between payloads.
 *
 * The caches' entries are deleted, not only left behind a new key: Pothos keeps them in
 * module-wide WeakMaps keyed by the context, and V8's scavenger keeps a WeakMap's values alive
 * until a full collection even when their key died young, so every list's page (its rows, views
 * and loader maps) was promoted to the old generation and copied on the way (ADR 0061 decision 22).
 */
export function releaseRequestScope(context: object): void {
  RequestCache.clearForContext(context);
  // Pothos' loaders stay in its caches (only their values are cleared); their batch functions
  // hold the context, which lets go of its EntityManager and role loaders below.
  clearAllDataLoaders(context);
  cacheHolder(context)[operationSlots] = undefined;
  const state = (context as Partial<Scoped>)[scopeState];
  if (!state) return;
  state.em = undefined;
  state.access = undefined;
  // A new key for Pothos' caches: the next use of any of them starts afresh.
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
