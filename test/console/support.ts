/** Harness of the browser tests: the API with the console on a free port, and chromium driven by Playwright. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { ensureConsoleBuilt } from '../../scripts/console-build.mjs';
import type { DatabaseConfig } from '../../src/store/orm.js';
import { CHROMIUM_PATH, createDatabase, type Backend } from '../support/backends.js';
import { freePort, testEnvironment } from '../support/ports.js';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface ConsoleApp {
  app: App;
  /** http://127.0.0.1:PORT: a loopback client, as the console's sign-in needs in development mode. */
  url: string;
  stop(): Promise<void>;
}

/**
 * The API in development mode (sample subjects), on a fast simulated cluster, with the console
 * built. Real time: the controller and the browser both wait on it.
 */
export async function startConsoleApp(
  backend: Backend = { name: 'pglite' },
  env: Record<string, string> = {},
  /** To start the API again where another instance stopped: its database, data directory and port. */
  again?: { database: DatabaseConfig; dataDir: string; port: number },
): Promise<ConsoleApp & { database: DatabaseConfig; dataDir: string; port: number }> {
  await ensureConsoleBuilt();
  const dataDir = again?.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'wl-console-')));
  const { database, drop } = again ? { database: again.database, drop: async () => {} } : await createDatabase(backend, { persistent: true });
  // A real port (not 0), so that the endpoints the API shows name it.
  const port = String(again?.port ?? (await freePort()));
  const config = loadConfig(
    testEnvironment({
      PORT: port,
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      AUTH_MODE: 'development',
      NODE_ENV: 'development',
      DATA_DIR: dataDir,
      // Fast enough for a test, slow enough that the page shows the steps before RUNNING.
      SIMULATED_SPEED: '2',
      CONTROLLER_TICK_MS: '50',
      ...env,
    }),
  );
  const app = await buildApp({ config, database, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  await app.controller.start();
  const url = await app.start();
  return {
    app,
    url,
    database,
    dataDir,
    port: Number(port),
    async stop() {
      await app.stop();
      await drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Browser {
  /** A new browser profile (its own user-data-dir): one signed-in person. */
  person(): Promise<{ context: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

/** Launches chromium once per test file; each person gets a profile of their own. */
export async function launchBrowser(): Promise<Browser> {
  const contexts: { context: BrowserContext; dir: string }[] = [];
  return {
    async person() {
      const dir = await mkdtemp(path.join(tmpdir(), 'wl-chromium-'));
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM_PATH,
        args: CHROMIUM_ARGS,
        headless: true,
        viewport: { width: 1360, height: 900 },
      });
      contexts.push({ context, dir });
      const page = context.pages()[0] ?? (await context.newPage());
      return { context, page };
    },
    async close() {
      for (const { context, dir } of contexts) {
        await context.close().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Signs in as a development subject from the sign-in page. */
export async function signInAs(page: Page, url: string, subject: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator(`button[data-subject="${subject}"]`).click();
  await page.getByTestId('signed-in-as').filter({ hasText: subject }).waitFor();
}
