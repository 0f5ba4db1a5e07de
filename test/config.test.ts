import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database in ./.data on port 4000 with GraphiQL', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 4000,
      database: { kind: 'pglite', dataDir: './.data' },
      publicBaseUrl: 'http://localhost:4000',
      draftTtlSeconds: 8 * 3600,
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
    });
  });

  it('turns GraphiQL off by default in production, and on when asked', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHIQL: 'true' }).graphiql).toBe(true);
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
});
