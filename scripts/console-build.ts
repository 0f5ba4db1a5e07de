/**
 * Builds the console (console/ -> dist-console/) with Vite when its build is missing or older than
 * its sources. `npm start` runs it first (prestart), so `npm install && npm start` on a fresh clone
 * serves the console; the browser tests call `ensureConsoleBuilt()`. See docs/adr/0090-console.md.
 *
 *   tsx scripts/console-build.ts            build now
 *   tsx scripts/console-build.ts --if-stale build only when missing or out of date
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = path.join(root, 'console');
const outDir = path.join(root, 'dist-console');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestSource(full));
    else newest = Math.max(newest, (await stat(full)).mtimeMs);
  }
  return newest;
}

/** Whether dist-console/ is missing or older than a file under console/. */
export async function consoleBuildIsStale(): Promise<boolean> {
  const built = await stat(path.join(outDir, 'index.html')).catch(() => null);
  if (!built) return true;
  return (await newestSource(consoleDir)) > built.mtimeMs;
}

/** Builds the console into dist-console/. */
export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: path.join(consoleDir, 'vite.config.ts'), logLevel: 'warn' });
}

/** Builds the console unless its build is current. */
export async function ensureConsoleBuilt(): Promise<void> {
  if (await consoleBuildIsStale()) await buildConsole();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  try {
    if (!ifStale || (await consoleBuildIsStale())) {
      console.log('building the console (console/ -> dist-console/)...');
      await buildConsole();
    }
  } catch (err) {
    // Without the build tools (an install without dev dependencies) the API still starts; `/` says how to build.
    if (ifStale && err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND') {
      console.warn(`the console is not built and cannot be built here (${err.message}); the API starts without it`);
    } else {
      throw err;
    }
  }
}
