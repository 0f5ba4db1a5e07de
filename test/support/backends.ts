import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, test } from 'vitest';
import type { DatabaseConfig } from '../../src/store/orm.js';

/** A database the suite runs against: embedded PGlite always; PostgreSQL when a URL is given. */
export interface Backend {
  name: 'pglite' | 'postgres';
  /** Why the backend cannot run here, if it cannot. */
  missing?: string;
}

const requireAll = process.env.REQUIRE_ALL_BACKENDS === '1';
const postgresUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;

/** Every database backend, with the reason any of them is missing. */
export function databaseBackends(): Backend[] {
  return [
    { name: 'pglite' },
    { name: 'postgres', missing: postgresUrl ? undefined : 'DATABASE_URL (or TEST_DATABASE_URL) is not set' },
  ];
}

/**
 * Runs `body` once per database backend. A missing backend is skipped, except when
 * REQUIRE_ALL_BACKENDS=1 (CI), where it fails instead.
 */
export function describeEachDatabase(title: string, body: (backend: Backend) => void): void {
  for (const backend of databaseBackends()) {
    const name = `${title} [${backend.name}]`;
    if (backend.missing && requireAll) {
      describe(name, () => {
        test(`needs ${backend.name}`, () => {
          throw new Error(`REQUIRE_ALL_BACKENDS=1 but ${backend.name} is unavailable: ${backend.missing}`);
        });
      });
    } else {
      describe.skipIf(Boolean(backend.missing))(name, () => body(backend));
    }
  }
}

/** A fresh, empty database of one backend for one test file; `drop` removes it. */
export async function createDatabase(
  backend: Backend,
  options: { persistent?: boolean } = {},
): Promise<{ database: DatabaseConfig; drop: () => Promise<void> }> {
  if (backend.name === 'pglite') {
    if (!options.persistent) return { database: { kind: 'pglite-memory' }, drop: async () => {} };
    // On disk, so that one app instance can stop and another open the same database.
    const dataDir = await mkdtemp(path.join(tmpdir(), 'wl-pglite-'));
    return { database: { kind: 'pglite', dataDir }, drop: () => rm(dataDir, { recursive: true, force: true }) };
  }
  if (!postgresUrl) throw new Error('no PostgreSQL URL');
  const name = `wl_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    database: { kind: 'postgres', url: url.toString(), poolMax: 10 },
    drop: async () => {
      const c = new pg.Client({ connectionString: postgresUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The browser of the console tests: Debian's chromium package (`.ci/run` installs it). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Runs `body` when chromium is installed. Missing, the suite is skipped, except when
 * REQUIRE_ALL_BACKENDS=1 (CI), where it fails instead.
 */
export function describeWithBrowser(title: string, body: () => void): void {
  const missing = existsSync(CHROMIUM_PATH) ? undefined : `${CHROMIUM_PATH} is missing (apt-get install -y chromium)`;
  if (missing && requireAll) {
    describe(title, () => {
      test('needs chromium', () => {
        throw new Error(`REQUIRE_ALL_BACKENDS=1 but the browser is unavailable: ${missing}`);
      });
    });
  } else {
    describe.skipIf(Boolean(missing))(title, body);
  }
}
