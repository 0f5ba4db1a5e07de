import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { TEST_ISSUER, TEST_JWT_SECRET, tokenFor } from '../support/test-app.js';
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.js';

const missing = postgresBinDir() ? undefined : 'PostgreSQL server binaries are not installed';
if (missing && process.env.REQUIRE_ALL_BACKENDS === '1') {
  it('needs PostgreSQL server binaries for the restart test', () => {
    throw new Error(`REQUIRE_ALL_BACKENDS=1 but ${missing}`);
  });
}

describe.skipIf(Boolean(missing))('a restarted PostgreSQL', () => {
  let pg: ThrowawayPostgres;
  let app: App;
  const query = async (q: string) => {
    const res = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor({ sub: 'restart-user' })}` },
      body: JSON.stringify({ query: q }),
    });
    return (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  };
  const create = (name: string) =>
    query(`mutation { createArtifact(input: { name: "${name}", spec: { containerGroups: [{ name: "default", containers: [
      { name: "app", imageUri: "nginx:1.25", primary: true, port: 8080 }] }] } }) { __typename } }`);

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    app = await buildApp({
      config: loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: pg.url,
        LOG_LEVEL: 'silent',
        AUTH_MODE: 'jwt',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        AUTH_ISSUER: TEST_ISSUER,
      }),
      logger: pino({ level: 'silent' }),
    });
  }, 60_000);
  afterAll(async () => {
    await app?.stop().catch(() => {});
    await pg?.destroy();
  });

  it('is survived: requests fail while it is down and succeed again once it is back, nothing lost', async () => {
    expect(await create('before')).toEqual({ data: { createArtifact: { __typename: 'CreateArtifactPayload' } } });
    await pg.stop();
    const down = await create('while-down');
    expect(down.errors?.[0]).toMatchObject({ message: 'The database is unavailable; retry after 5 s.', extensions: { code: 'SERVICE_UNAVAILABLE' } });
    await pg.start();
    expect(await create('after')).toEqual({ data: { createArtifact: { __typename: 'CreateArtifactPayload' } } });
    const list = await query('{ artifacts(first: 10, orderBy: { field: NAME, direction: ASC }) { edges { node { name } } } }');
    expect(list.data).toEqual({ artifacts: { edges: [{ node: { name: 'after' } }, { node: { name: 'before' } }] } });
  }, 60_000);

  it('is survived across a fast restart with idle pooled connections', async () => {
    await create('warm-the-pool');
    await pg.restart();
    const first = await create('right-after-restart');
    expect(first).toEqual({ data: { createArtifact: { __typename: 'CreateArtifactPayload' } } });
  }, 60_000);
});
