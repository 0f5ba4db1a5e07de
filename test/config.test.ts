import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database in ./.data on port 4000 with GraphiQL', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000,
      database: { kind: 'pglite', dataDir: './.data' },
      publicBaseUrl: 'http://localhost:4000',
      policy: { draftTtlMs: 8 * 3600 * 1000 },
      maxReplicas: 10,
      graphiql: true,
      env: 'development',
    });
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/wl', DATABASE_POOL_MAX: '20' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@db:5432/wl',
      poolMax: 20,
      connectTimeoutMs: 5000,
      preparedStatements: true,
    });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/wl', DATABASE_CONNECT_TIMEOUT_MS: '1500' }).database).toMatchObject({ connectTimeoutMs: 1500 });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/wl', DATABASE_PREPARED_STATEMENTS: 'false' }).database).toMatchObject({ preparedStatements: false });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/wl', DATABASE_PREPARED_STATEMENTS: '' }).database).toMatchObject({ preparedStatements: true });
  });

  const production = { NODE_ENV: 'production', AUTH_JWT_SECRET: 's'.repeat(32) };

  it('serves GraphiQL by default in production too (its operations need a token), and turns it off when asked', () => {
    expect(loadConfig(production).graphiql).toBe(true);
    expect(loadConfig({ ...production, GRAPHIQL: 'false' }).graphiql).toBe(false);
    expect(loadConfig({ GRAPHIQL: '0' }).graphiql).toBe(false);
  });

  it('trims a trailing slash from PUBLIC_BASE_URL', () => {
    expect(loadConfig({ PUBLIC_BASE_URL: 'https://api.example.com/' }).publicBaseUrl).toBe('https://api.example.com');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).database.kind).toBe('pglite');
  });

  it('names every invalid variable in one error', () => {
    expect(() => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', MAX_REPLICAS: '0' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', MAX_REPLICAS: '0' });
    } catch (err) {
      const message = (err as Error).message;
      for (const name of ['PORT', 'DATABASE_URL', 'MAX_REPLICAS']) expect(message).toContain(name);
    }
  });

  it('uses development authentication by default outside production, and token authentication in production', () => {
    expect(loadConfig({}).auth.mode).toBe('development');
    expect(loadConfig(production).auth).toMatchObject({ mode: 'jwt', secret: 's'.repeat(32), claims: { groups: 'groups', organization: 'org', roles: 'roles' } });
    expect(loadConfig({ ...production, AUTH_JWT_SECRET: undefined, AUTH_JWKS_URL: 'https://idp.example.com/jwks.json' }).auth.jwksUrl).toBe(
      'https://idp.example.com/jwks.json',
    );
  });

  it('never enables development authentication in production by accident', () => {
    expect(() => loadConfig({ ...production, AUTH_MODE: 'development' })).toThrow(/ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION/);
    expect(loadConfig({ ...production, AUTH_MODE: 'development', ALLOW_DEVELOPMENT_AUTH_IN_PRODUCTION: 'true' }).auth.mode).toBe('development');
  });

  it('refuses token authentication without exactly one of a secret and a key set, or with a short secret', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWT_SECRET \/ AUTH_JWKS_URL/);
    expect(() => loadConfig({ ...production, AUTH_JWKS_URL: 'https://idp.example.com/jwks.json' })).toThrow(/exactly one/);
    expect(() => loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'short' })).toThrow(/AUTH_JWT_SECRET/);
  });

  it('remembers a verified token for a minute by default, not at all with 0, and refuses a negative time', () => {
    expect(loadConfig({}).auth.tokenCacheMs).toBe(60_000);
    expect(loadConfig({ AUTH_TOKEN_CACHE_MS: '0' }).auth.tokenCacheMs).toBe(0);
    expect(() => loadConfig({ AUTH_TOKEN_CACHE_MS: '-1' })).toThrow(/AUTH_TOKEN_CACHE_MS/);
  });

  it('drains for 5 s before closing the listener in production and not at all elsewhere, always within the shutdown timeout', () => {
    expect(loadConfig(production)).toMatchObject({ shutdownDrainSeconds: 5, shutdownTimeoutSeconds: 25 });
    expect(loadConfig({}).shutdownDrainSeconds).toBe(0);
    expect(loadConfig({ SHUTDOWN_DRAIN_SECONDS: '1.5' }).shutdownDrainSeconds).toBe(1.5);
    expect(() => loadConfig({ ...production, SHUTDOWN_DRAIN_SECONDS: '10', SHUTDOWN_TIMEOUT_SECONDS: '10' })).toThrow(/SHUTDOWN_DRAIN_SECONDS: must be shorter/);
    expect(() => loadConfig({ SHUTDOWN_DRAIN_SECONDS: '-1' })).toThrow(/SHUTDOWN_DRAIN_SECONDS/);
  });

  it('limits GraphQL operations by default so that GraphiQL and every client of ours fit, and reads each limit', () => {
    expect(loadConfig({}).graphql).toEqual({
      limits: { maxDepth: 12, maxComplexity: 225_000, maxAliases: 30, maxTokens: 2000, maxDirectives: 50, maxDocumentBytes: 32 * 1024 },
      maxBodyBytes: 1024 * 1024,
      introspection: true,
      mutationRateLimit: { points: 300, durationSeconds: 60 },
      mutationConcurrency: 4,
      queryCostRateLimit: { points: 2_250_000, durationSeconds: 60 },
    });
    const env = {
      GRAPHQL_MAX_DEPTH: '8',
      GRAPHQL_MAX_COMPLEXITY: '1000',
      GRAPHQL_MAX_ALIASES: '0',
      GRAPHQL_MAX_TOKENS: '500',
      GRAPHQL_MAX_DIRECTIVES: '5',
      GRAPHQL_MAX_DOCUMENT_BYTES: '4096',
      GRAPHQL_MAX_BODY_BYTES: '65536',
      GRAPHQL_INTROSPECTION: 'false',
      GRAPHQL_MUTATION_RATE_POINTS: '10',
      GRAPHQL_MUTATION_RATE_DURATION_SECONDS: '1',
      GRAPHQL_QUERY_COST_RATE_POINTS: '5000',
      GRAPHQL_QUERY_COST_RATE_DURATION_SECONDS: '10',
      GRAPHQL_MUTATION_CONCURRENCY: '16',
    };
    expect(loadConfig(env).graphql).toEqual({
      limits: { maxDepth: 8, maxComplexity: 1000, maxAliases: 0, maxTokens: 500, maxDirectives: 5, maxDocumentBytes: 4096 },
      maxBodyBytes: 65_536,
      introspection: false,
      mutationRateLimit: { points: 10, durationSeconds: 1 },
      mutationConcurrency: 16,
      queryCostRateLimit: { points: 5000, durationSeconds: 10 },
    });
    // Introspection stays on in production: only authenticated callers get as far as a document.
    expect(loadConfig(production).graphql.introspection).toBe(true);
    expect(() => loadConfig({ GRAPHQL_MAX_DEPTH: '0', GRAPHQL_MAX_BODY_BYTES: '10', GRAPHQL_MUTATION_RATE_POINTS: 'many' })).toThrow(
      /GRAPHQL_MAX_DEPTH[\s\S]*GRAPHQL_MAX_BODY_BYTES[\s\S]*GRAPHQL_MUTATION_RATE_POINTS/,
    );
  });

  it('serves /metrics unless METRICS_ENABLED=false, and bounds readiness checks to 2 s by default', () => {
    expect(loadConfig({})).toMatchObject({ metricsEnabled: true, readinessCheckTimeoutMs: 2000 });
    expect(loadConfig({ METRICS_ENABLED: 'false', READINESS_CHECK_TIMEOUT_MS: '500' })).toMatchObject({ metricsEnabled: false, readinessCheckTimeoutMs: 500 });
    expect(() => loadConfig({ READINESS_CHECK_TIMEOUT_MS: '10' })).toThrow(/READINESS_CHECK_TIMEOUT_MS/);
  });

  it('reserves CRITICAL importance to platform admins and leaves HIGH to everyone by default; both are configurable', () => {
    expect(loadConfig({}).importance).toEqual({ low: 'everyone', moderate: 'everyone', high: 'everyone', critical: ['platform-admin'] });
    expect(loadConfig({ PLATFORM_ADMIN_ROLE: 'root' }).importance.critical).toEqual(['root']);
    expect(loadConfig({ IMPORTANCE_HIGH_ROLES: 'ops, sre', IMPORTANCE_CRITICAL_ROLES: 'sre' }).importance).toMatchObject({ high: ['ops', 'sre'], critical: ['sre'] });
    expect(loadConfig({ IMPORTANCE_CRITICAL_ROLES: '*' }).importance.critical).toBe('everyone');
    expect(() => loadConfig({ IMPORTANCE_HIGH_ROLES: '*,ops' })).toThrow(/IMPORTANCE_HIGH_ROLES: "\*" \(everyone\) cannot be combined/);
    expect(() => loadConfig({ IMPORTANCE_CRITICAL_ROLES: ' , ' })).toThrow(/IMPORTANCE_CRITICAL_ROLES: must list platform roles/);
  });

  it('has generous quotas by default, and reads limits as counts, Kubernetes quantities or "unlimited"', () => {
    expect(loadConfig({}).quotas).toEqual({
      owner: { workloads: 500, replicas: 1000, cpu: 500_000, memory: 2 ** 40 },
      organization: { workloads: 5000, replicas: 10_000, cpu: 5_000_000, memory: 10 * 2 ** 40 },
      organizationOverrides: {},
    });
    const config = loadConfig({
      QUOTA_OWNER_WORKLOADS: '10',
      QUOTA_OWNER_REPLICAS: 'unlimited',
      QUOTA_OWNER_CPU: '1500m',
      QUOTA_OWNER_MEMORY: '4Gi',
      QUOTA_ORGANIZATION_CPU: '64',
      QUOTA_ORGANIZATION_OVERRIDES: '{"acme": {"workloads": 50, "cpu": 8, "memory": "16Gi", "replicas": "unlimited"}}',
    });
    expect(config.quotas.owner).toEqual({ workloads: 10, replicas: null, cpu: 1500, memory: 4 * 2 ** 30 });
    expect(config.quotas.organization.cpu).toBe(64_000);
    expect(config.quotas.organizationOverrides).toEqual({ acme: { workloads: 50, cpu: 8000, memory: 16 * 2 ** 30, replicas: null } });
  });

  it('names every malformed quota setting', () => {
    expect(() =>
      loadConfig({ QUOTA_OWNER_WORKLOADS: '-1', QUOTA_OWNER_CPU: 'lots', QUOTA_ORGANIZATION_MEMORY: '1 Gi', QUOTA_ORGANIZATION_OVERRIDES: '{acme' }),
    ).toThrow(/QUOTA_OWNER_WORKLOADS[\s\S]*QUOTA_OWNER_CPU: must be a Kubernetes quantity[\s\S]*QUOTA_ORGANIZATION_MEMORY[\s\S]*QUOTA_ORGANIZATION_OVERRIDES: must be a JSON object/);
    expect(() => loadConfig({ QUOTA_ORGANIZATION_OVERRIDES: '{"acme": {"cpus": 8}}' })).toThrow(/QUOTA_ORGANIZATION_OVERRIDES\.acme: Unrecognized key: "cpus"/);
  });

  it('is the one source of the lifecycle policy: the draft TTL and every deadline, each step of a replacement included', () => {
    const MIN = 60_000;
    expect(loadConfig({}).policy).toEqual({
      draftTtlMs: 8 * 60 * MIN,
      deadlines: {
        states: { submitted: 10 * MIN, provisioning: 10 * MIN, launching: 10 * MIN, initializing: 10 * MIN, stopping: 5 * MIN },
        replacement: { submitted: 15 * MIN, initializing: 15 * MIN, warming: 15 * MIN, switching: 15 * MIN, draining: 15 * MIN },
      },
    });
    const tuned = loadConfig({ DRAFT_TTL_SECONDS: '60', PROGRESS_DEADLINE_SECONDS: '30', STOP_DEADLINE_SECONDS: '20', REPLACEMENT_STEP_DEADLINE_SECONDS: '10' }).policy;
    expect(tuned.draftTtlMs).toBe(60_000);
    expect(tuned.deadlines.states).toMatchObject({ launching: 30_000, stopping: 20_000 });
    expect(tuned.deadlines.replacement.switching).toBe(10_000);
  });

  it('reports a rule across variables without a variable path of its own', () => {
    expect(() => loadConfig({ SHUTDOWN_DRAIN_SECONDS: '30' })).toThrow(/invalid configuration:\n {2}SHUTDOWN_DRAIN_SECONDS: must be shorter/);
  });
});

describe('the listening address', () => {
  it('is 127.0.0.1 with development authentication unless HOST says otherwise, so development tokens stay on this machine', () => {
    expect(loadConfig({})).toMatchObject({ host: '127.0.0.1', publicBaseUrl: 'http://localhost:4000' });
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '10.1.2.3' })).toMatchObject({ host: '10.1.2.3', publicBaseUrl: 'http://10.1.2.3:4000' });
  });

  it('is 0.0.0.0 with token authentication', () => {
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 's'.repeat(32) })).toMatchObject({ host: '0.0.0.0', publicBaseUrl: 'http://localhost:4000' });
    expect(loadConfig({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 's'.repeat(32) }).host).toBe('0.0.0.0');
  });
});
