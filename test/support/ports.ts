import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now (for servers that cannot take port 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The configuration every test app starts from: token authentication with the test secret. */
export function testEnvironment(env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    AUTH_MODE: 'jwt',
    AUTH_JWT_SECRET: 'test-secret-of-at-least-thirty-two-characters',
    AUTH_ISSUER: 'workload-api-tests',
    // Fixtures load hundreds of objects as one caller in seconds; the mutation budget has tests of its own.
    GRAPHQL_MUTATION_RATE_POINTS: '1000000',
    // Likewise the fuzz and the fixtures spend query cost far faster than a person; the cost budget has tests of its own.
    GRAPHQL_QUERY_COST_RATE_POINTS: '1000000000',
    ...env,
  };
}
