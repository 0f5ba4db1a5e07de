/**
 * All configuration, parsed once from the environment with zod. The only reader of process.env.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { Deadlines } from './domain/deadlines.js';
import { cpuMillicores, memoryBytes, type ImportancePolicy, type QuotaLimits } from './domain/quota.js';

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
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
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
  GRAPHQL_MAX_COMPLEXITY: z.coerce.number().int().min(1).default(25_000),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(10_000).default(30),
  GRAPHQL_MAX_TOKENS: z.coerce.number().int().min(1).default(2000),
  GRAPHQL_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(10_000).default(50),
  GRAPHQL_MAX_DOCUMENT_BYTES: z.coerce.number().int().min(1).default(32 * 1024),
  GRAPHQL_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  GRAPHQL_INTROSPECTION: bool.optional(),
  GRAPHQL_MUTATION_RATE_POINTS: z.coerce.number().int().min(1).default(300),
  GRAPHQL_MUTATION_RATE_DURATION_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  GRAPHQL_QUERY_COST_RATE_POINTS: z.coerce.number().int().min(1).default(250_000),
  GRAPHQL_QUERY_COST_RATE_DURATION_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),

  TRUSTED_PROXIES: addressList.optional(),
  CORS_ORIGINS: originList.optional(),
});

/** Every environment variable the configuration reads (deployment manifests are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Base of every workload's invoke endpoint; defaults to the address the server listens on. */
  publicBaseUrl: string;
  database: { kind: 'postgres'; url: string; poolMax: number; connectTimeoutMs: number } | { kind: 'pglite'; dataDir: string };
  /** Local state: the embedded database (without DATABASE_URL) and development credentials. */
  dataDir: string;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  draftTtlSeconds: number;
  maxReplicas: number;
  graphiql: boolean;
  shutdownTimeoutSeconds: number;
  /** After SIGTERM, how long /readyz fails while the listener still accepts (load balancers notice). */
  shutdownDrainSeconds: number;
  /** Whether `/metrics` (Prometheus text format, no authentication) is served. */
  metricsEnabled: boolean;
  /** How long each `/readyz` dependency check (database, Redis) may take before it counts as failing. */
  readinessCheckTimeoutMs: number;
  /** Fan-out of changes between API replicas; without it, in-process (one replica only). */
  redis: { url: string; channelPrefix: string } | null;
  subscriptions: {
    maxPerConnection: number;
    connectionInitTimeoutMs: number;
    maxBufferedBytes: number;
    maxPendingEvents: number;
    /** How long a live subscription retries its reads while the database is unreachable before it ends with SERVICE_UNAVAILABLE. */
    databaseRetrySeconds: number;
    keepAliveMs: number;
  };
  /** The simulated cluster's speed: 1 is realistic timing, 10 is ten times faster. */
  simulatedSpeed: number;
  /** Where protons run: the embedded simulated cluster (default), or a Kubernetes namespace. */
  runtime:
    | { kind: 'simulated' }
    | {
        kind: 'kubernetes';
        namespace: string;
        /** A kubeconfig file; without it, the pod's service account (in a cluster) or ~/.kube/config. */
        kubeconfigPath?: string;
        inCluster: boolean;
        /** Lease election of the replica that runs the controller; null runs it in every replica (one replica only). */
        leaderElection: {
          leaseName: string;
          identity?: string;
          leaseDurationMs: number;
          renewDeadlineMs: number;
          retryPeriodMs: number;
        } | null;
      };
  controller: {
    tickIntervalMs: number;
    /** How long each in-between state may last before it fails with ProgressDeadlineExceeded. */
    deadlines: Deadlines;
  };
  /** The invoke endpoint: size limits, upstream timeout, 503 back-off, access cache, statistics batching. */
  invoke: {
    maxRequestBytes: number;
    maxResponseBytes: number;
    upstreamTimeoutMs: number;
    retryAfterSeconds: number;
    accessCacheMs: number;
    statisticsFlushMs: number;
    /** Statistics buckets older than this are deleted (0: kept forever). */
    statisticsRetentionDays: number;
    /** Whether a peer's X-Forwarded-* headers are kept (TRUSTED_PROXIES). */
    isTrustedProxy: (address: string | undefined) => boolean;
  };
  /**
   * Peers whose `X-Forwarded-*` headers are believed (a load balancer in front); from anyone else
   * they are replaced. Checked with `isTrusted(address)`.
   */
  trustedProxies: { entries: readonly string[]; isTrusted(address: string | undefined): boolean };
  /** Which browser origins may call the API with credentials (CORS); see README.md, "Security". */
  cors: { origins: readonly string[]; allowLocalhost: boolean };
  /** Limits every GraphQL operation must fit (HTTP, SSE and WebSocket alike); see README.md, "Limits". */
  graphql: {
    limits: {
      maxDepth: number;
      /** Cost in the model of src/graphql/cost.ts: connections weigh their page size. */
      maxComplexity: number;
      maxAliases: number;
      maxTokens: number;
      maxDirectives: number;
      /** UTF-8 bytes of the document (the `query` string). */
      maxDocumentBytes: number;
    };
    /** Bytes of an HTTP request body, and of one WebSocket message. */
    maxBodyBytes: number;
    /** Whether `__schema` and `__type` may be queried (by authenticated callers; no one else gets that far). */
    introspection: boolean;
    /** Root mutation fields one subject may run per window, shared by all replicas through Redis when configured. */
    mutationRateLimit: { points: number; durationSeconds: number };
    /** The cost (as the complexity limit measures it) of queries and subscriptions one caller may run per window. */
    queryCostRateLimit: { points: number; durationSeconds: number };
  };
  auth: {
    /** `development`: tokens signed with a secret generated into DATA_DIR, for sample subjects. */
    mode: 'jwt' | 'development';
    secret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    claims: { groups: string; organization: string; roles: string };
    platformAdminRole: string;
  };
  /** Which platform roles may set each importance (platform admins always may); see docs/adr/0013. */
  importance: ImportancePolicy;
  /** Limits of what each owner and each organization may request at once (null: unlimited); cpu in millicores, memory in bytes. */
  quotas: {
    owner: QuotaLimits;
    organization: QuotaLimits;
    /** Per-organization limits that replace the organization default, resource by resource. */
    organizationOverrides: Record<string, Partial<QuotaLimits>>;
  };
}

/** Thrown when the environment holds an invalid value; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses configuration from an environment map (process.env in main, a literal in tests). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const authMode = e.AUTH_MODE ?? (e.NODE_ENV === 'production' ? 'jwt' : 'development');
  const problems: string[] = [];
  if (authMode === 'development' && e.NODE_ENV === 'production' && !e.ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION) {
    problems.push('  AUTH_MODE: development authentication is refused when NODE_ENV=production (set ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION=true to insist)');
  }
  if (authMode === 'jwt' && Boolean(e.AUTH_JWT_SECRET) === Boolean(e.AUTH_JWKS_URL)) {
    problems.push('  AUTH_JWT_SECRET / AUTH_JWKS_URL: token authentication needs exactly one of them');
  }
  if (!(e.LEADER_ELECTION_RETRY_SECONDS < e.LEADER_ELECTION_RENEW_DEADLINE_SECONDS && e.LEADER_ELECTION_RENEW_DEADLINE_SECONDS < e.LEADER_ELECTION_LEASE_SECONDS)) {
    problems.push('  LEADER_ELECTION_*: needs LEADER_ELECTION_RETRY_SECONDS < LEADER_ELECTION_RENEW_DEADLINE_SECONDS < LEADER_ELECTION_LEASE_SECONDS');
  }
  const shutdownDrainSeconds = e.SHUTDOWN_DRAIN_SECONDS ?? (e.NODE_ENV === 'production' ? 5 : 0);
  if (shutdownDrainSeconds >= e.SHUTDOWN_TIMEOUT_SECONDS) {
    problems.push('  SHUTDOWN_DRAIN_SECONDS: must be shorter than SHUTDOWN_TIMEOUT_SECONDS');
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  const proxies = trustedProxies(e.TRUSTED_PROXIES ?? []);
  const host = e.HOST ?? (authMode === 'development' ? '127.0.0.1' : '0.0.0.0');
  const publicHost = e.HOST === undefined || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    env: e.NODE_ENV,
    host,
    port: e.PORT,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://${publicHost}:${e.PORT}`).replace(/\/+$/, ''),
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS }
      : { kind: 'pglite', dataDir: e.DATA_DIR },
    dataDir: e.DATA_DIR,
    logLevel: e.LOG_LEVEL,
    draftTtlSeconds: e.DRAFT_TTL_SECONDS,
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
            kind: 'kubernetes',
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
        : { kind: 'simulated' },
    controller: {
      tickIntervalMs: e.CONTROLLER_TICK_MS,
      deadlines: {
        states: {
          submitted: e.PROGRESS_DEADLINE_SECONDS * 1000,
          provisioning: e.PROGRESS_DEADLINE_SECONDS * 1000,
          launching: e.PROGRESS_DEADLINE_SECONDS * 1000,
          initializing: e.PROGRESS_DEADLINE_SECONDS * 1000,
          stopping: e.STOP_DEADLINE_SECONDS * 1000,
        },
        replacement: {
          submitted: e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000,
          initializing: e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000,
          warming: e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000,
          switching: e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000,
          draining: e.REPLACEMENT_STEP_DEADLINE_SECONDS * 1000,
        },
      },
    },
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
    },
    importance: {
      low: 'everyone',
      moderate: 'everyone',
      high: e.IMPORTANCE_HIGH_ROLES ?? 'everyone',
      critical: e.IMPORTANCE_CRITICAL_ROLES ?? [e.PLATFORM_ADMIN_ROLE],
    },
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
}

/** The set of trusted proxy addresses (validated by the schema above). */
function trustedProxies(entries: string[]): Config['trustedProxies'] {
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
