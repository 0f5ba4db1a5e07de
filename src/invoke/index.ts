/**
 * The invoke endpoint and its request statistics, wired together for `buildApp`.
 */
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Config } from '../config.js';
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import type { RouteResolver } from '../runtime/route-resolver.js';
import type { Clock } from '../domain/clock.js';
import type { Orm } from '../store/orm.js';
import type { ChangeFeed } from '../pubsub/change-feed.js';
import { cachedAuthenticator } from '../auth/cached-authenticator.js';
import { InvokeAccess } from './invoke-access.js';
import { InvokeEndpoint } from './invoke-endpoint.js';
import { StatisticsCollector } from './statistics-collector.js';

export { INVOKE_PATH_PREFIX, InvokeEndpoint } from './invoke-endpoint.js';
export { StatisticsCollector } from './statistics-collector.js';

/** The endpoint, its statistics collector, and their life. */
export interface Invoke {
  readonly endpoint: InvokeEndpoint;
  readonly statistics: StatisticsCollector;
  /** Starts writing statistics in batches. */
  start(): void;
  /** Writes the last batch and releases the connections to the replicas (after the server closed). */
  stop(): Promise<void>;
}

/** Builds the endpoint over the runtime's routing decision (or a resolver given explicitly). */
export function createInvoke(deps: {
  settings: Config['invoke'];
  orm: Orm;
  clock: Clock;
  logger: Logger;
  authenticator: Authenticator;
  runtime: ProtonRuntime;
  resolver?: RouteResolver;
  /** Workload changes, to re-check the access of forwarded WebSockets. */
  feed?: ChangeFeed;
}): Invoke {
  const resolver = deps.resolver ?? deps.runtime;
  const statistics = new StatisticsCollector({
    orm: deps.orm,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'invoke-statistics' }),
    flushIntervalMs: deps.settings.statisticsFlushMs,
    retentionDays: deps.settings.statisticsRetentionDays,
  });
  const endpoint = new InvokeEndpoint({
    // Verified tokens and access are remembered for the same short time (INVOKE_ACCESS_CACHE_MS).
    authenticator: cachedAuthenticator(deps.authenticator, deps.settings.accessCacheMs),
    access: new InvokeAccess(deps.orm, deps.settings.accessCacheMs),
    resolver,
    statistics,
    settings: deps.settings,
    logger: deps.logger.child({ component: 'invoke' }),
    ...(deps.feed && { feed: deps.feed }),
  });
  return {
    endpoint,
    statistics,
    start: () => statistics.start(),
    async stop() {
      endpoint.close();
      await statistics.stop();
    },
  };
}
