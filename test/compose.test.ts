/**
 * docker-compose.yml starts: the compiled API (`npm run build`, `node dist/src/main.js`, as the
 * image runs it) boots with exactly the `api` service's environment and answers /readyz. There is
 * no Docker engine here, so the compose hosts are mapped to this machine: `postgres` to the test
 * PostgreSQL (a database of this test's own, as the test server's user), `redis` to the test Redis.
 * Added, for this machine only: PORT (a free one), DATA_DIR (the image's ENV sets /data) and a
 * Redis channel prefix of this test's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadYaml } from '@kubernetes/client-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { eventually } from './support/live.js';
import { freePort } from './support/ports.js';

const root = path.resolve(import.meta.dirname, '..');
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;
const missing = !postgresUrl ? 'DATABASE_URL' : !redisUrl ? 'REDIS_URL' : undefined;

/** The `api` service's environment, as docker compose would pass it. */
async function composeApiEnvironment(): Promise<Record<string, string>> {
  const compose = loadYaml<{ services: { api: { environment: Record<string, string | number | boolean> } } }>(
    await readFile(path.join(root, 'docker-compose.yml'), 'utf8'),
  );
  return Object.fromEntries(Object.entries(compose.services.api.environment).map(([k, v]) => [k, String(v)]));
}

/** A compose URL with its host (`postgres`, `redis`) replaced by this machine's service. */
function mapHost(composeUrl: string, local: string, overrides: { database?: string } = {}): string {
  const from = new URL(composeUrl);
  const to = new URL(local);
  from.hostname = to.hostname;
  from.port = to.port;
  // This machine's PostgreSQL trusts its own user, not the compose file's.
  from.username = to.username;
  from.password = to.password;
  if (overrides.database) from.pathname = `/${overrides.database}`;
  return from.toString();
}

if (missing && process.env.REQUIRE_ALL_BACKENDS === '1') {
  test('docker-compose.yml needs PostgreSQL and Redis', () => {
    throw new Error(`REQUIRE_ALL_BACKENDS=1 but ${missing} is not set`);
  });
}

describe.skipIf(Boolean(missing))('docker-compose.yml', () => {
  const database = `wl_compose_${process.pid}_${randomBytes(4).toString('hex')}`;
  let dataDir: string;
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    await promisify(execFile)('npm', ['run', 'build'], { cwd: root });
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await admin.query(`create database "${database}"`).finally(() => admin.end());
    dataDir = await mkdtemp(path.join(tmpdir(), 'wl-compose-'));
  }, 300_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    await admin.query(`drop database if exists "${database}" with (force)`).finally(() => admin.end());
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('boots the compiled API with the api service\'s environment, ready with its database and Redis', async () => {
    const env = await composeApiEnvironment();
    expect(env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
    const port = await freePort();
    const mapped = {
      ...env,
      DATABASE_URL: mapHost(env.DATABASE_URL!, postgresUrl!, { database }),
      REDIS_URL: mapHost(env.REDIS_URL!, redisUrl!),
      PORT: String(port),
      DATA_DIR: dataDir,
      REDIS_CHANNEL_PREFIX: `compose-test-${process.pid}:`,
    };
    child = spawn(process.execPath, ['dist/src/main.js'], { cwd: root, env: { PATH: process.env.PATH, ...mapped }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const url = `http://127.0.0.1:${port}`;
    const ready = await eventually(
      async () => {
        if (child?.exitCode !== null) throw new Error(`the API exited with ${child?.exitCode}:\n${output}`);
        const res = await fetch(`${url}/readyz`);
        return res.status === 200 ? ((await res.json()) as { status: string; checks: Record<string, { ok: boolean }> }) : false;
      },
      'GET /readyz to answer 200',
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${output.slice(-4000)}`);
    });
    expect(ready).toMatchObject({ status: 'ready', checks: { database: { ok: true }, redis: { ok: true } } });

    // The documented way in: a sample subject's token from DATA_DIR/dev-auth.json.
    const { tokens } = JSON.parse(await readFile(path.join(dataDir, 'dev-auth.json'), 'utf8')) as { tokens: Record<string, string> };
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.alice}` },
      body: JSON.stringify({ query: '{ workloads { totalCount } }' }),
    });
    expect(await res.json()).toEqual({ data: { workloads: { totalCount: 0 } } });
    // NODE_ENV=production: the pages hand out no token, even to this machine.
    expect(await (await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } })).text()).not.toContain('Bearer ');
    expect(await (await fetch(`${url}/console/development-subjects`)).json()).toEqual({ subjects: [] });
  }, 120_000);
});
