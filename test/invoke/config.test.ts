import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const base = { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32) };

describe('configuration of the invoke endpoint', () => {
  it('has defaults for every limit and timing', () => {
    expect(loadConfig(base).invoke).toEqual({
      maxRequestBytes: 10 * 1024 * 1024,
      maxResponseBytes: 100 * 1024 * 1024,
      upstreamTimeoutMs: 60_000,
      retryAfterSeconds: 5,
      accessCacheMs: 1000,
      statisticsFlushMs: 1000,
      statisticsRetentionDays: 90,
      isTrustedProxy: expect.any(Function),
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      ...base,
      INVOKE_MAX_REQUEST_BYTES: '1024',
      INVOKE_MAX_RESPONSE_BYTES: '2048',
      INVOKE_UPSTREAM_TIMEOUT_MS: '500',
      INVOKE_RETRY_AFTER_SECONDS: '30',
      INVOKE_ACCESS_CACHE_MS: '0',
      INVOKE_STATISTICS_FLUSH_MS: '250',
      INVOKE_STATISTICS_RETENTION_DAYS: '0',
    });
    expect(config.invoke).toEqual({
      maxRequestBytes: 1024,
      maxResponseBytes: 2048,
      upstreamTimeoutMs: 500,
      retryAfterSeconds: 30,
      accessCacheMs: 0,
      statisticsFlushMs: 250,
      statisticsRetentionDays: 0,
      isTrustedProxy: expect.any(Function),
    });
  });

  it.each([
    ['INVOKE_MAX_REQUEST_BYTES', '-1'],
    ['INVOKE_UPSTREAM_TIMEOUT_MS', '0'],
    ['INVOKE_RETRY_AFTER_SECONDS', 'soon'],
    ['INVOKE_STATISTICS_FLUSH_MS', '1'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(name);
  });
});
