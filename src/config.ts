/**
 * All configuration, parsed once from the environment with zod. The only reader of process.env.
 */
import { z } from 'zod';

const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', ''])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  PUBLIC_BASE_URL: z.url().optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATA_DIR: z.string().min(1).default('./.data'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DRAFT_TTL_SECONDS: seconds(8 * 60 * 60),
  MAX_REPLICAS: z.coerce.number().int().min(1).max(1000).default(10),
  GRAPHIQL: bool.optional(),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(25),
  DEV_SUBJECT: z.string().min(1).default('developer'),
});

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Base of every workload's invoke endpoint; defaults to the address the server listens on. */
  publicBaseUrl: string;
  database: { kind: 'postgres'; url: string; poolMax: number } | { kind: 'pglite'; dataDir: string };
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  draftTtlSeconds: number;
  maxReplicas: number;
  graphiql: boolean;
  shutdownTimeoutSeconds: number;
  /** The subject every request acts as until token authentication is configured. */
  devSubject: string;
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
  const publicHost = e.HOST === '0.0.0.0' || e.HOST === '::' ? 'localhost' : e.HOST;
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://${publicHost}:${e.PORT}`).replace(/\/+$/, ''),
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX }
      : { kind: 'pglite', dataDir: e.DATA_DIR },
    logLevel: e.LOG_LEVEL,
    draftTtlSeconds: e.DRAFT_TTL_SECONDS,
    maxReplicas: e.MAX_REPLICAS,
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    shutdownTimeoutSeconds: e.SHUTDOWN_TIMEOUT_SECONDS,
    devSubject: e.DEV_SUBJECT,
  };
}
