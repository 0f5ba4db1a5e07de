/**
 * All configuration, parsed once from the environment with zod. The only reader of process.env.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { uniformReplacementDeadlines, type LifecyclePolicy } from './domain/policy.js';
import { cpuMillicores, memoryBytes, type ImportancePolicy } from './domain/quota.js';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

/** A comma-separated list of platform roles, or `*` for everyone. */
const roleList = z
  .string()
  .transform((v) => v.split(',').map((r) => r.trim()).filter((r) => r.length > 0))
  .refine((roles) => roles.length > 0, 'must list platform roles separated by commas, or be "*" for everyone')
  .refine((roles) => !roles.includes('*') || roles.length === 1, '"*" (everyone) cannot be combined with role names')
  .transform((roles): 'everyone' | string[] => (roles[0] === '*' ? 'everyone' : roles));

const UNLIMITED = 'unlimited';
const countLimit = z.union([z.literal(UNLIMITED), z.coerce.number().int().min(0)]).transform((v) => (v === UNLIMITED ? null : v));
const quantityLimit = (what: 'cpu' | 'memory') =>
  z
    .union([
      z.literal(UNLIMITED),
      z.string().refine((q) => (what === 'cpu' ? cpuMillicores(q) : memoryBytes(q)) !== undefined, {
        message: `must be a Kubernetes quantity (e.g. ${what === 'cpu' ? '"200" or "500m"' : '"400Gi"'}) or "${UNLIMITED}"`,
      }),
    ])
    .transform((v) => (v === UNLIMITED ? null : ((what === 'cpu' ? cpuMillicores(v) : memoryBytes(v)) ?? null)));
const quotaOverride = z.strictObject({
  workloads: countLimit.optional(),
  replicas: countLimit.optional(),
  cpu: z.union([z.number().transform(String), z.string()]).pipe(quantityLimit('cpu')).optional(),
  memory: z.union([z.number().transform(String), z.string()]).pipe(quantityLimit('memory')).optional(),
});
const organizationOverrides = z
  .string()
  .transform((v, ctx) => {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object such as {"acme": {"workloads": 50, "cpu": "20"}}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(1).max(255), quotaOverride));

/** A comma-separated list (blanks ignored). */
const list = z.string().transform((v) => v.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

/** Addresses and CIDR blocks (`10.0.0.0/8`, `::1`), checked one by one. */
const addressList = list.superRefine((items, ctx) => {
  for (const item of items) {
    const [address = '', prefix] = item.split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    if (family === 0 || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= (family === 6 ? 128 : 32)))) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not an IP address or CIDR block` });
    }
  }
});

/** Origins as browsers send them (`https://app.example.com`, no path); `*` is refused (credentials are allowed). */
const originList = list.superRefine((items, ctx) => {
  for (const item of items) {
    let ok = false;
    try {
      const url = new URL(item);
      ok = (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === item.replace(/\/$/, '');
    } catch {
      ok = false;
    }
    if (!ok) ctx.addIssue({ code: 'custom', message: `"${item}" is not an origin like https://app.example.com${item === '*' ? ' (a wildcard would let every site act with the caller\'s credentials)' : ''}` });
  }
});

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  // Unset: 127.0.0.1 with development authentication (its tokens stay on this machine), else 0.0.0.0.
  HOST: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  PUBLIC_BASE_URL: z.url().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  // A pre-initialized embedded database that a first start copies (set by `npm start`).
  PGLITE_TEMPLATE_DIR: z.string().min(1).optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  // Off behind a pooler that moves a session's prepared statements between clients (ADR 0061 d18).
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DRAFT_TTL_SECONDS: seconds(8 * 60 * 60),
  MAX_REPLICAS: z.coerce.number().int().min(1).max(1000).default(10),
  GRAPHIQL: bool.optional(),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(25),
  SHUTDOWN_DRAIN_SECONDS: z.coerce.number().min(0).max(300).optional(),
  METRICS_ENABLED: bool.optional(),
  READINESS_CHECK_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  AUTH_MODE: z.enum(['jwt', 'development']).optional(),
  ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION: bool.optional(),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  AUTH_TOKEN_CACHE_MS: z.coerce.number().int().min(0).max(600_000).default(60_000),
  AUTH_CLAIM_GROUPS: z.string().min(1).default('groups'),
  AUTH_CLAIM_ORGANIZATION: z.string().min(1).default('org'),
  AUTH_CLAIM_ROLES: z.string().min(1).default('roles'),
  PLATFORM_ADMIN_ROLE: z.string().min(1).default('platform-admin'),
  IMPORTANCE_HIGH_ROLES: roleList.optional(),
  IMPORTANCE_CRITICAL_ROLES: roleList.optional(),
  QUOTA_OWNER_WORKLOADS: countLimit.default(500),
  QUOTA_OWNER_REPLICAS: countLimit.default(1000),
  QUOTA_OWNER_CPU: quantityLimit('cpu').default(500_000),
  QUOTA_OWNER_MEMORY: quantityLimit('memory').default(2 ** 40),
  QUOTA_ORGANIZATION_WORKLOADS: countLimit.default(5000),
  QUOTA_ORGANIZATION_REPLICAS: countLimit.default(10_000),
  QUOTA_ORGANIZATION_CPU: quantityLimit('cpu').default(5_000_000),
  QUOTA_ORGANIZATION_MEMORY: quantityLimit('memory').default(10 * 2 ** 40),
  QUOTA_ORGANIZATION_OVERRIDES: organizationOverrides.optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_CHANNEL_PREFIX: z.string().max(100).default('workload-api:'),
  SUBSCRIPTIONS_MAX_PER_CONNECTION: z.coerce.number().int().min(1).max(10_000).default(100),
  SUBSCRIPTIONS_CONNECTION_INIT_TIMEOUT_MS: z.coerce.number().int().min(50).max(600_000).default(3000),
  SUBSCRIPTIONS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  SUBSCRIPTIONS_MAX_PENDING_EVENTS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SUBSCRIPTIONS_DATABASE_RETRY_SECONDS: z.coerce.number().int().min(0).max(3600).default(15),
  SUBSCRIPTIONS_KEEPALIVE_MS: z.coerce.number().int().min(100).max(600_000).default(12_000),
  SIMULATED_SPEED: z.coerce.number().positive().max(1000).default(1),
  RUNTIME: z.enum(['simulated', 'kubernetes']).default('simulated'),
  KUBERNETES_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name (a DNS label)').max(63).default('default'),
  KUBECONFIG: z.string().min(1).optional(),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  LEADER_ELECTION: bool.optional(),
  LEADER_ELECTION_LEASE_NAME: z.string().min(1).max(253).default('workload-api-controller'),
  LEADER_ELECTION_IDENTITY: z.string().min(1).max(253).optional(),
  LEADER_ELECTION_LEASE_SECONDS: z.coerce.number().positive().max(3600).default(15),
  LEADER_ELECTION_RENEW_DEADLINE_SECONDS: z.coerce.number().positive().max(3600).default(10),
  LEADER_ELECTION_RETRY_SECONDS: z.coerce.number().positive().max(3600).default(2),
  CONTROLLER_TICK_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  CONTROLLER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  PROGRESS_DEADLINE_SECONDS: seconds(600),
  STOP_DEADLINE_SECONDS: seconds(300),
  REPLACEMENT_STEP_DEADLINE_SECONDS: seconds(900),
  INVOKE_MAX_REQUEST_BYTES: z.coerce.number().int().min(0).default(10 * 1024 * 1024),
  INVOKE_MAX_RESPONSE_BYTES: z.coerce.number().int().min(0).default(100 * 1024 * 1024),
  INVOKE_UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(1).max(3_600_000).default(60_000),
  INVOKE_RETRY_AFTER_SECONDS: seconds(5),
  INVOKE_ACCESS_CACHE_MS: z.coerce.number().int().min(0).max(600_000).default(1000),
  INVOKE_STATISTICS_FLUSH_MS: z.coerce.number().int().min(10).max(600_000).default(1000),
  INVOKE_STATISTICS_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(90),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(1).max(1000).default(12),
  GRAPHQL_MAX_COMPLEXITY: z.coerce.number().int().min(1).default(225_000),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(10_000).default(30),
  GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(1).default(2000),
  GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(10_000).default(50),
  GRAPHQL_MAX_DOCUMENT_BYTES: z.coerce.number().int().min(1).default(32 * 1024),
  GRAPHQL_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  GRAPHQL_INTROSPECTION: bool.optional(),
  GRAPHQL_MUTATION_RATE_POINTS: z.coerce.number().int().min(1).default(300),
  GRAPHQL_MUTATION_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(4),
  GRAPHQL_MUTATION_RATE_DURATION_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  GRAPHQL_QUERY_COST_RATE_POINTS: z.coerce.number().int().min(1).default(2_250_000),
  GRAPHQL_QUERY_COST_RATE_DURATION_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),

  TRUSTED_PROXIES: addressList.optional(),
  CORS_ORIGINS: originList.optional(),
});

/** Every environment variable the configuration reads (deployment manifests are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/**
 * The configuration, as the rest of the program sees it: the environment parsed, checked across
 * variables, and shaped into groups. Its type (`Config`) is inferred from this schema.
 */
const configSchema = envSchema.transform((e, ctx) => {
  const authMode = e.AUTH_MODE ?? (e.NODE_ENV === 'production' ? 'jwt' : 'development');
  const problem = (message: string) => ctx.addIssue({ code: 'custom', message, input: e });
  if (authMode === 'development' && e.NODE_ENV === 'production' && !e.ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION) {
    problem('AUTH_MODE: development authentication is refused when NODE_ENV=production (set ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION=true to insist)');
  }
  if (authMode === 'jwt' && Boolean(e.AUTH_JWT_SECRET) === Boolean(e.AUTH_JWKS_URL)) {
    problem('AUTH_JWT_SECRET / AUTH_JWKS_URL: token authentication needs exactly one of them');
  }
  if (!(e.LEADER_ELECTION_RETRY_SECONDS < e.LEADER_ELECTION_RENEW_DEADLINE_SECONDS && e.LEADER_ELECTION_RENEW_DEADLINE_SECONDS < e.LEADER_ELECTION_LEASE_SECONDS)) {
    problem('LEADER_ELECTION_*: needs LEADER_ELECTION_RETRY_SECONDS < LEADER_ELECTION_RENEW_DEADLINE_SECONDS < LEADER_ELECTION_LEASE_SECONDS');
  }
  const shutdownDrainSeconds = e.SHUTDOWN_DRAIN_SECONDS ?? (e.NODE_ENV === 'production' ? 5 : 0);
  if (shutdownDrainSeconds >= e.SHUTDOWN_TIMEOUT_SECONDS) {
    problem('SHUTDOWN_DRAIN_SECONDS: must be shorter than SHUTDOWN_TIMEOUT_SECONDS');
  }
  const proxies = trustedProxies(e.TRUSTED_PROXIES ?? []);
  const importance: ImportancePolicy = {
    low: 'everyone',
    moderate: 'everyone',
    high: e.IMPORTANCE_HIGH_ROLES ?? 'everyone',
    critical: e.IMPORTANCE_CRITICAL_ROLES ?? [e.PLATFORM_ADMIN_ROLE],
  };
  const host = e.HOST ?? (authMode === 'development' ? '127.0.0.1' : '0.0.0.0');
  const publicHost = e.HOST === undefined || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    env: e.NODE_ENV,
    host,
    port: e.PORT,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://${publicHost}:${e.PORT}`).replace(/\/+$/, ''),
    database: e.DATABASE_URL
      ? {
          kind: 'postgres' as const, url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
          preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
        }
      : { kind: 'pglite' as const, dataDir: e.DATA_DIR, ...(e.PGLITE_TEMPLATE_DIR && { templateDir: e.PGLITE_TEMPLATE_DIR }) },
    dataDir: e.DATA_DIR,
    logLevel: e.LOG_LEVEL,
    maxReplicas: e.MAX_REPLICAS,
    // On everywhere by default: the page is static, and every operation it sends needs a token.
    graphiql: e.GRAPHIQL ?? true,
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS,
    shutdownDrainSeconds,
    metricsEnabled: e.METRICS_ENABLED ?? true,
    readinessCheckTimeoutMs: e.READINESS_CHECK_TIMEOUT_MS,
    redis: e.REDIS_URL ? { url: e.REDIS_URL, channelPrefix: e.REDIS_CHANNEL_PREFIX } : null,
    subscriptions: {
      maxPerConnection: e.SUBSCRIPTIONS_MAX_PER_CONNECTION,
      connectionInitTimeoutMs: e.SUBSCRIPTIONS_CONNECTION_INIT_TIMEOUT_MS,
      maxBufferedBytes: e.SUBSCRIPTIONS_MAX_BUFFERED_BYTES,
      maxPendingEvents: e.SUBSCRIPTIONS_MAX_PENDING_EVENTS,
      databaseRetrySeconds: e.SUBSCRIPTIONS_DATABASE_RETRY_SECONDS,
      keepAliveMs: e.SUBSCRIPTIONS_KEEPALIVE_MS,
    },
    simulatedSpeed: e.SIMULATED_SPEED,
    runtime:
      e.RUNTIME === 'kubernetes'
        ? {
            kind: 'kubernetes' as const,
            namespace: e.KUBERNETES_NAMESPACE,
            ...(e.KUBECONFIG && { kubeconfigPath: e.KUBECONFIG }),
            inCluster: Boolean(e.KUBERNETES_SERVICE_HOST),
            leaderElection:
              e.LEADER_ELECTION === false
                ? null
                : {
                    leaseName: e.LEADER_ELECTION_LEASE_NAME,
                    ...(e.LEADER_ELECTION_IDENTITY && { identity: e.LEADER_ELECTION_IDENTITY }),
                    leaseDurationMs: e.LEADER_ELECTION_LEASE_SECONDS * 1000,
                    renewDeadlineMs: e.LEADER_ELECTION_RENEW_DEADLINE_SECONDS * 1000,
                    retryPeriodMs: e.LEADER_ELECTION_RETRY_SECONDS * 1000,
                  },
          }
        : { kind: 'simulated' as const },
    controller: { tickIntervalMs: e.CONTROLLER_TICK_MS, concurrency: e.CONTROLLER_CONCURRENCY },
    // The one home of the lifecycle policy: the domain's rules take these values as arguments.
    policy: {
      draftTtlMs: e.DRAFT_TTL_SECONDS * 1000,
      deadlines: {
        states: {
          submitted: e.PROGRESS_DEADLINE_SECONDS * 1000,
          provisioning: e.PROGRESS_DEADLINE_SECONDS * 1000,
          launching: e.PROGRESS_DEADLINE_SECONDS * 1000,
          initializing: e.PROGRESS_DEADLINE_SECONDS * 1000,
          stopping: e.STOP_DEADLINE_SECONDS * 1000,
        },
        replacement: uniformReplacementDeadlines(e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000),
      },
    } satisfies LifecyclePolicy,
    trustedProxies: proxies,
    // Development pages on this machine may call the API from any port; production lists its own.
    cors: { origins: e.CORS_ORIGINS ?? [], allowLocalhost: e.NODE_ENV === 'development' },
    invoke: {
      maxRequestBytes: e.INVOKE_MAX_REQUEST_BYTES,
      maxResponseBytes: e.INVOKE_MAX_RESPONSE_BYTES,
      upstreamTimeoutMs: e.INVOKE_UPSTREAM_TIMEOUT_MS,
      retryAfterSeconds: e.INVOKE_RETRY_AFTER_SECONDS,
      accessCacheMs: e.INVOKE_ACCESS_CACHE_MS,
      statisticsFlushMs: e.INVOKE_STATISTICS_FLUSH_MS,
      statisticsRetentionDays: e.INVOKE_STATISTICS_RETENTION_DAYS,
      isTrustedProxy: proxies.isTrusted,
    },
    graphql: {
      limits: {
        maxDepth: e.GRAPHQL_MAX_DEPTH,
        maxComplexity: e.GRAPHQL_MAX_COMPLEXITY,
        maxAliases: e.GRAPHQL_MAX_ALIASES,
        maxTokens: e.GRAPHQL_MAX_TOKENS,
        maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
        maxDocumentBytes: e.GRAPHQL_MAX_DOCUMENT_BYTES,
      },
      maxBodyBytes: e.GRAPHQL_MAX_BODY_BYTES,
      introspection: e.GRAPHQL_INTROSPECTION ?? true,
      mutationRateLimit: { points: e.GRAPHQL_MUTATION_RATE_POINTS, durationSeconds: e.GRAPHQL_MUTATION_RATE_DURATION_SECONDS },
      mutationConcurrency: e.GRAPHQL_MUTATION_CONCURRENCY,
      queryCostRateLimit: { points: e.GRAPHQL_QUERY_COST_RATE_POINTS, durationSeconds: e.GRAPHQL_QUERY_COST_RATE_DURATION_SECONDS },
    },
    auth: {
      mode: authMode,
      secret: e.AUTH_JWT_SECRET,
      jwksUrl: e.AUTH_JWKS_URL,
      issuer: e.AUTH_ISSUER,
      audience: e.AUTH_AUDIENCE,
      claims: { groups: e.AUTH_CLAIM_GROUPS, organization: e.AUTH_CLAIM_ORGANIZATION, roles: e.AUTH_CLAIM_ROLES },
      platformAdminRole: e.PLATFORM_ADMIN_ROLE,
      tokenCacheMs: e.AUTH_TOKEN_CACHE_MS,
    },
    importance,
    quotas: {
      owner: { workloads: e.QUOTA_OWNER_WORKLOADS, replicas: e.QUOTA_OWNER_REPLICAS, cpu: e.QUOTA_OWNER_CPU, memory: e.QUOTA_OWNER_MEMORY },
      organization: {
        workloads: e.QUOTA_ORGANIZATION_WORKLOADS,
        replicas: e.QUOTA_ORGANIZATION_REPLICAS,
        cpu: e.QUOTA_ORGANIZATION_CPU,
        memory: e.QUOTA_ORGANIZATION_MEMORY,
      },
      organizationOverrides: e.QUOTA_ORGANIZATION_OVERRIDES ?? {},
    },
  };
});

/** Everything configurable, inferred from the schema: one definition of names, types and defaults. */
export type Config = z.output<typeof configSchema>;

/** Thrown when the environment holds an invalid value; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses configuration from an environment map (process.env in main, a literal in tests). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** The set of trusted proxy addresses (validated by the schema above). */
/** Peers whose `X-Forwarded-*` headers are believed (a load balancer in front); from anyone else they are replaced. */
export interface TrustedProxies {
  readonly entries: readonly string[];
  isTrusted(address: string | undefined): boolean;
}

function trustedProxies(entries: string[]): TrustedProxies {
  const blocks = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) blocks.addAddress(address, type);
    else blocks.addSubnet(address, Number(prefix), type);
  }
  return {
    entries,
    isTrusted(address) {
      if (!address || entries.length === 0) return false;
      // An IPv4 peer on a dual-stack socket reads as ::ffff:a.b.c.d.
      const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
      const family = isIP(plain);
      return family !== 0 && blocks.check(plain, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}
