import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { pino, type Logger } from 'pino';
import { AuthenticationError, createJwtAuthenticator, type Authenticator } from './auth/authenticator.js';
import { cachedAuthenticator } from './auth/cached-authenticator.js';
import { burstUnderWay, mutationAdmission, type MutationAdmission } from './graphql/admission.js';
import { readPriorityPlugin } from './store/connection-priority.js';
import { prepareDevelopmentAuth } from './auth/development.js';
import { mayReceiveDevelopmentTokens, remoteAddressOf } from './auth/development-exposure.js';
import { WorkloadController } from './controller/controller.js';
import type { ProtonRuntime } from './runtime/proton-runtime.js';
import { acceleratedTimings, createSimulatedRuntime } from './runtime/simulated/index.js';
import { singleProcessLeadership, type Leadership } from './runtime/leadership.js';
import { HttpFront } from './observability/http-front.js';
import { ConsoleSite } from './console/console-site.js';
import { AppMetrics } from './observability/metrics.js';
import { dependencyChecks, Readiness } from './observability/readiness.js';
import { useRequestIds } from './observability/request-id.plugin.js';
import { RequestScopes } from './observability/request-scope.js';
import { LiveStreams } from './transport/live-streams.js';
import { SubscriptionFanOut } from './graphql/subscription/fan-out.js';
import type { Config } from './config.js';
import { createOperationContext, releaseRequestScope, type GraphQLContext } from './graphql/context.js';
import { releaseOperationCachesPlugin } from './graphql/common/operation-cache.js';
import { buildSchema } from './graphql/schema.js';
import { bodyLimitPlugin } from './graphql/body-limit.js';
import { authenticateBeforeParsing, introspectionPlugin } from './graphql/exposure.js';
import { queryLimitsPlugins } from './graphql/limits.js';
import { createMutationRateLimiter, mutationRateLimitPlugin, queryCostRateLimitPlugin } from './graphql/rate-limit.js';
import { createLocalEventBus, createRedisEventBus, type EventBus } from './pubsub/event-bus.js';
import type { WorkloadPubSub } from './pubsub/topics.js';
import { DEFAULT_READ_RETRY, LiveService } from './service/live.service.js';
import { attachWebSocketTransport, type WebSocketTransport } from './transport/websocket.js';
import { createInvoke, type Invoke } from './invoke/index.js';
import { createServices, type Services } from './service/index.js';
import { systemClock, type Clock } from './service/clock.js';
import { isDatabaseUnavailable } from './store/errors.js';
import { maskError } from './error-masking.js';
import { openOrm, type DatabaseConfig, type Orm, type OrmOptions } from './store/orm.js';

/**
 * Connections the kernel holds for the server while its event loop is busy (capped by
 * net.core.somaxconn). Node's 511 is too few for a burst: at 1,000 creates at once on the embedded
 * database, connections past it were never accepted, and their clients saw ECONNRESET after the
 * kernel's handshake retries ran out (about 15 s; bench/controller).
 */
export const LISTEN_BACKLOG = 4096;

export interface AppDeps {
  config: Config;
  /** Overrides the configured database (tests pass their own). */
  database?: DatabaseConfig;
  clock?: Clock;
  logger?: Logger;
  orm?: OrmOptions;
  /** Overrides the cluster runtime (tests share one simulated cluster between app instances). */
  runtime?: ProtonRuntime;
}

export interface App {
  /** Listens on the configured host and port (0 picks a free port); resolves with the base URL. */
  start(): Promise<string>;
  /** Stops accepting requests, lets in-flight ones finish (up to the deadline), closes the database. */
  stop(): Promise<void>;
  /** The base URL once started. */
  url(): string;
  yoga: YogaServerInstance<Record<string, never>, GraphQLContext>;
  orm: Orm;
  services: Services;
  controller: WorkloadController;
  /** Who runs the controller: always this process, or (Kubernetes) the holder of the Lease. */
  leadership: Leadership;
  runtime: ProtonRuntime;
  pubsub: WorkloadPubSub;
  /** Where changes are published and heard (in-process, or Redis between replicas). */
  bus: EventBus;
  /** The graphql-ws transport, once started. */
  websocket(): WebSocketTransport | undefined;
  /** The invoke endpoint (`/endpoints/workloads/{id}/`) and its request statistics. */
  invoke: Invoke;
  /** Prometheus metrics of this instance (served at `/metrics` unless METRICS_ENABLED=false). */
  metrics: AppMetrics;
  /** One execution per group of subscribers (ADR 0033); its counters. */
  fanOut: SubscriptionFanOut;
  /** The mutations executing and waiting for a place (ADR 0060 decision 12). */
  admission: Pick<MutationAdmission, 'active' | 'waiting'>;
}

/** Wires configuration, database, services and the GraphQL server; starts nothing. */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const logger = deps.logger ?? pino({ level: config.logLevel, base: { service: 'workload-api' } });
  const clock = deps.clock ?? systemClock;
  const scopes = new RequestScopes(logger);
  const metrics = new AppMetrics(logger.child({ component: 'metrics' }));
  const orm = await openOrm(deps.database ?? config.database, {
    onMaintenanceError: (err) => logger.warn({ err }, 'database maintenance failed; the next run tries again'),
    ...deps.orm,
  });
  const bus: EventBus = config.redis
    ? createRedisEventBus({ ...config.redis, logger: logger.child({ component: 'pubsub' }) })
    : createLocalEventBus();
  const pubsub = bus.pubsub;
  // The Kubernetes client is tens of MB of code: loaded only when a Kubernetes runtime is
  // configured or may have been given (docs/adr/0071-startup-and-memory.md).
  const kube =
    config.runtime.kind === 'kubernetes' || deps.runtime?.kind === 'kubernetes'
      ? await import('./runtime/kubernetes/wiring.js')
      : undefined;
  const runtime =
    deps.runtime ??
    (config.runtime.kind === 'kubernetes' && kube
      ? kube.createKubernetesRuntime(config.runtime, logger)
      : createSimulatedRuntime({ timings: acceleratedTimings(config.simulatedSpeed) }));
  // Mutations wait for their turn here (last of the plugins below); while some wait, the
  // controller runs one pass at a time, so a burst is answered ahead of the backlog it makes.
  // Two places handed over a turn on PostgreSQL, one on the embedded database (its reads share the creates' connection).
  const admission = mutationAdmission(config.graphql.mutationConcurrency, orm.embeddedDatabase ? 1 : 2);
  let services: Services | undefined;
  const controller = new WorkloadController({
    orm,
    runtime,
    clock,
    pubsub,
    feed: bus.feed,
    logger: logger.child({ component: 'controller' }),
    policy: config.policy,
    tickIntervalMs: config.controller.tickIntervalMs,
    concurrency: config.controller.concurrency,
    yieldTo: () => burstUnderWay(admission, services?.workloads.creates.pending ?? 0),
    onReconciled: metrics.observeReconcile,
  });
  const leadership = kube ? kube.leadershipFor(config.runtime, controller, runtime, logger) : singleProcessLeadership(controller);
  const kubernetes = runtime.kind === 'kubernetes';
  // After each payload of a subscription, its request scope is released (an idle subscription holds no EntityManager).
  const streams = new LiveStreams(releaseRequestScope);
  // Subscribers with the same document, variables and role share each payload's execution (ADR 0033).
  const fanOut = new SubscriptionFanOut({ maxQueuedPerSubscriber: config.subscriptions.maxPendingEvents });
  metrics.watch({
    orm,
    clock,
    controller,
    leadership,
    streams,
    ...(orm.embeddedDatabase && { embeddedDatabase: orm.embeddedDatabase }),
    ...(kubernetes && { informer: { stats: { get restarts() { return runtime.podWatchRestarts(); } }, isSynced: () => runtime.isSynced() } }),
  });
  const readiness = new Readiness(
    dependencyChecks({
      database: () => orm.em.fork().getConnection().execute('select 1'),
      ...(bus.kind === 'redis' && { redis: () => bus.check() }),
      ...(kubernetes && { kubernetes: { isLeader: () => leadership.isLeader(), isSynced: () => runtime.isSynced() } }),
    }),
    config.readinessCheckTimeoutMs,
    logger.child({ component: 'readiness' }),
  );
  services = createServices({
    orm,
    clock,
    pubsub,
    controller,
    runtime,
    policy: config.policy,
    maxReplicas: config.maxReplicas,
    importance: config.importance,
    quotas: config.quotas,
  });
  const schema = buildSchema();
  const live = new LiveService({
    orm,
    workloads: services.workloads,
    feed: bus.feed,
    maxPendingEvents: config.subscriptions.maxPendingEvents,
    isTransient: isDatabaseUnavailable,
    readRetry: { ...DEFAULT_READ_RETRY, budgetMs: config.subscriptions.databaseRetrySeconds * 1000 },
  });

  let authenticator: Authenticator;
  // The sample subjects' tokens, handed only to a browser on this machine (auth/development-exposure.ts).
  let developmentTokens: Record<string, string> = {};
  if (config.auth.mode === 'development') {
    const dev = await prepareDevelopmentAuth(config.dataDir, config.auth, clock());
    authenticator = createJwtAuthenticator(dev.settings);
    developmentTokens = dev.tokens;
    logger.warn(
      { file: dev.file, subjects: Object.keys(dev.tokens) },
      `development authentication: send "Authorization: Bearer <token>" with a token from ${dev.file} ` +
        `(GraphiQL, opened from this machine, is preset to act as alice). Never use this mode in production.`,
    );
  } else {
    authenticator = createJwtAuthenticator(config.auth);
  }
  // A verified token is remembered (never past its exp): a client repeating its token is not
  // verified again on every request (ADR 0004, decision 11).
  authenticator = cachedAuthenticator(authenticator, config.auth.tokenCacheMs);

  const developmentTokensFor = (remoteAddress: string | undefined): Record<string, string> | null =>
    mayReceiveDevelopmentTokens({ authMode: config.auth.mode, env: config.env, remoteAddress }) ? developmentTokens : null;

  const invoke = createInvoke({ settings: config.invoke, orm, clock, logger, authenticator, runtime, feed: bus.feed });
  const mutationRateLimiter = createMutationRateLimiter({
    settings: config.graphql.mutationRateLimit,
    redis: config.redis && { url: config.redis.url, keyPrefix: config.redis.channelPrefix },
    logger: logger.child({ component: 'rate-limit' }),
  });
  const queryCostRateLimiter = createMutationRateLimiter({
    budget: 'queryCost',
    settings: config.graphql.queryCostRateLimit,
    redis: config.redis && { url: config.redis.url, keyPrefix: config.redis.channelPrefix },
    logger: logger.child({ component: 'rate-limit' }),
  });

  const forkEntityManager = () => orm.em.fork();
  const yoga = createYoga<Record<string, never>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql
      ? (_request, serverContext) => {
          const alice = developmentTokensFor(remoteAddressOf(serverContext))?.alice;
          return {
            title: 'Workload API',
            defaultQuery: GRAPHIQL_DEFAULT_QUERY,
            headers: alice ? JSON.stringify({ Authorization: `Bearer ${alice}` }) : undefined,
          };
        }
      : false,
    // GraphiQL's scripts and styles come from this server, not a CDN: the page works offline. They
    // are ~30 MB of heap once loaded, so they are loaded at the first GraphiQL page, not at start.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    landingPage: false,
    // Only configured origins (and, in development, pages on this machine) get CORS headers, the
    // origin itself and never `*`: the API accepts credentials (README.md, "Security").
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (!origin || !corsAllows(config.cors, origin)) return false;
      return { origin, credentials: true, allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id'], methods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 };
    },
    // The body limit is ours (bodyLimitPlugin, below): Yoga's counts every body through a stream.
    maxRequestBodySize: false,
    plugins: [
      // Observability (README.md, "Operations"): request ids on errors, operation metrics, open streams.
      // First, so that what the limits below refuse is still counted and carries a request id.
      useRequestIds(logger),
      metrics.graphqlPlugin(),
      // A query's or mutation's per-operation caches dropped with its result (ADR 0061 decision 22).
      releaseOperationCachesPlugin,
      streams.plugin(),
      fanOut.plugin(),
      // Limits and budgets (README.md, "Limits"); they apply over HTTP, SSE and graphql-ws alike.
      bodyLimitPlugin(config.graphql.maxBodyBytes),
      authenticateBeforeParsing(authenticator),
      introspectionPlugin(config.graphql.introspection),
      ...queryLimitsPlugins(config.graphql.limits),
      mutationRateLimitPlugin(mutationRateLimiter),
      queryCostRateLimitPlugin(queryCostRateLimiter),
      // Last: only what every limit and budget let through waits for its turn.
      admission.plugin,
      // A query's statements first on the embedded database's one connection (ADR 0071 decision 13).
      // Only there: its mark is an AsyncLocalStorage, which on Node.js 20 puts async hooks on
      // every promise of the process (a list on PostgreSQL cost about a fifth more CPU with it).
      ...(orm.embeddedDatabase ? [readPriorityPlugin] : []),
    ],
    logging: {
      // Yoga logs at debug on every request: nothing is built for a level that is off.
      debug: (...args) => {
        if (logger.isLevelEnabled('debug')) logger.debug(args.map(String).join(' '));
      },
      info: (...args) => {
        if (logger.isLevelEnabled('info')) logger.info(args.map(String).join(' '));
      },
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) => logger.error(args.map(String).join(' ')),
    },
    maskedErrors: {
      // In development, a masked error also carries what it masks (extensions.originalError).
      isDev: config.env === 'development',
      maskError,
    },
    // Authentication happens before any resolver runs: no or bad credentials end the request here.
    context: async (initial) => {
      const { request } = initial;
      let viewer;
      try {
        viewer = await authenticator.authenticate(request.headers.get('authorization'));
      } catch (err) {
        if (!(err instanceof AuthenticationError)) throw err;
        throw new GraphQLError(err.message, {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } } },
        });
      }
      return createOperationContext(initial, { viewer, services, publicBaseUrl: config.publicBaseUrl, live }, forkEntityManager);
    },
  });

  const consoleSite = new ConsoleSite({ developmentTokensFor: (req) => developmentTokensFor(req.socket.remoteAddress) ?? {} });
  const front = new HttpFront({ scopes, readiness, metrics: config.metricsEnabled ? metrics : null, invoke: invoke.endpoint, graphql: yoga, console: consoleSite });
  let server: Server | undefined;
  let baseUrl = '';
  let websocket: WebSocketTransport | undefined;

  return {
    yoga,
    orm,
    services,
    admission: { active: admission.active, waiting: admission.waiting },
    pubsub,
    bus,
    websocket: () => websocket,
    controller,
    leadership,
    runtime,
    invoke,
    metrics,
    fanOut,
    url: () => baseUrl,
    async start() {
      await leadership.start();
      await bus.start();
      invoke.start();
      server = createServer(front.handle);
      websocket = attachWebSocketTransport({
        server,
        yoga,
        authenticator,
        limits: {
          maxSubscriptionsPerConnection: config.subscriptions.maxPerConnection,
          connectionInitTimeoutMs: config.subscriptions.connectionInitTimeoutMs,
          maxBufferedBytes: config.subscriptions.maxBufferedBytes,
          keepAliveMs: config.subscriptions.keepAliveMs,
          maxMessageBytes: config.graphql.maxBodyBytes,
        },
        logger: logger.child({ component: 'websocket' }),
        // WebSockets to a workload go through its invoke endpoint.
        forward: invoke.endpoint,
      });
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => resolve());
      });
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      baseUrl = `http://${host === '0.0.0.0' || host === '[::]' ? 'localhost' : host}:${address.port}`;
      logger.info({ url: `${baseUrl}/graphql`, database: (deps.database ?? config.database).kind }, 'Workload API listening');
      return baseUrl;
    },
    // The order is in README.md, "Operations"; each step waits for the one before it.
    async stop() {
      const started = Date.now();
      const budgetMs = config.shutdownTimeoutSeconds * 1000;
      // 1. /readyz fails from now on, for good: load balancers stop sending new requests here, and
      // every response, those under way included, carries `Connection: close`: keep-alive clients
      // reconnect (elsewhere) rather than reuse a connection that is closed under them later...
      readiness.beginShutdown();
      front.closeConnections();
      const s = server;
      server = undefined;
      if (s) {
        if (config.shutdownDrainSeconds > 0) {
          logger.info({ drainSeconds: config.shutdownDrainSeconds }, 'shutting down: /readyz fails while load balancers take this replica out');
          // 2. ...and what they send until they notice is still served.
          await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainSeconds * 1000));
        }
        // 3. New connections are refused; requests under way finish.
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        // Keep-alive connections go idle as their last request finishes: close each as it does.
        s.closeIdleConnections();
        const sweeper = setInterval(() => s.closeIdleConnections(), 50);
        // Whatever is still open when the budget, less a reserve for the steps below, runs out is cut.
        const reserveMs = Math.min(5000, budgetMs / 5);
        const deadline = setTimeout(() => s.closeAllConnections(), Math.max(0, started + budgetMs - reserveMs - Date.now()));
        // 4. WebSocket connections close with 1001 (clients reconnect and resume with `after`); SSE streams complete.
        await websocket?.close();
        streams.endAll();
        await closed;
        clearInterval(sweeper);
        clearTimeout(deadline);
        logger.info('listener closed and requests finished; stopping the controller and releasing leadership');
      } else {
        streams.endAll();
      }
      // 5. The leader steps down and releases its Lease (first: another replica takes over at once),
      // statistics are flushed, connections to backends close. Each step gets what is left of the
      // budget; one that fails or hangs (a backend that is down) is logged and the next one runs.
      const step = async (name: string, run: () => Promise<unknown>) => {
        const leftMs = Math.max(0, started + budgetMs - Date.now());
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            run(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`not done within the shutdown budget`)), leftMs);
            }),
          ]);
        } catch (err) {
          logger.error({ err, step: name }, 'a shutdown step failed; going on with the next');
        } finally {
          clearTimeout(timer);
        }
      };
      await step('leadership', () => leadership.stop());
      await step('invoke statistics', () => invoke.stop());
      await step('runtime', () => runtime.stop());
      await step('rate limiter', () => mutationRateLimiter.close());
      await step('query cost limiter', () => queryCostRateLimiter.close());
      await step('pub/sub', () => bus.close());
      await step('database', () => orm.close(true));
      logger.info('Workload API stopped');
    },
  };
}

/** Whether a browser page of `origin` may call the API with credentials. */
export function corsAllows(cors: Config['cors'], origin: string): boolean {
  if (cors.origins.includes(origin)) return true;
  if (!cors.allowLocalhost) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) && url.origin === origin;
  } catch {
    return false;
  }
}

/** The example operations GraphiQL opens with (a test validates them against the schema). */
export const GRAPHIQL_DEFAULT_QUERY = `# Create a draft artifact and a workload that runs it, then list workloads.
mutation CreateArtifact {
  createArtifact(input: {
    name: "hello"
    spec: { containerGroups: [{ name: "default", containers: [
      { name: "app", imageUri: "ghcr.io/example/hello:1.0", primary: true, port: 8080 }
    ] }] }
  }) {
    __typename
    ... on CreateArtifactPayload { artifact { id name status } }
    ... on Error { message }
  }
}

query Workloads {
  workloads(first: 20) {
    totalCount
    edges { node { id name status importance endpoint expiresAt artifact { name status version } } }
  }
}
`;
