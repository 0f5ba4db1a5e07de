/**
 * Builds the console (console/ -> dist-console/) with Vite when its build is missing or older than
 * its sources. `npm install` builds it (the `prepare` script, scripts/start.mjs --prepare) and
 * `npm start` builds it again only when stale, so `npm install && npm start` on a fresh clone
 * serves the console; the browser tests call `ensureConsoleBuilt()`. Plain JavaScript, so that
 * `npm start` checks it without loading a TypeScript loader. See docs/adr/0090-console.md.
 *
 *   node scripts/console-build.mjs            build now
 *   node scripts/console-build.mjs --if-stale build only when missing or out of date
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = path.join(root, 'console');
const outDir = path.join(root, 'dist-console');

async function newestSource(dir) {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestSource(full));
    else newest = Math.max(newest, (await stat(full)).mtimeMs);
  }
  return newest;
}

/** Whether dist-console/ is missing or older than a file under console/. */
export async function consoleBuildIsStale() {
  const built = await stat(path.join(outDir, 'index.html')).catch(() => null);
  if (!built) return true;
  return (await newestSource(consoleDir)) > built.mtimeMs;
}

/** Builds the console into dist-console/. */
export async function buildConsole() {
  const { build } = await import('vite');
  await build({ configFile: path.join(consoleDir, 'vite.config.ts'), logLevel: 'warn' });
}

/** Builds the console unless its build is current. */
export async function ensureConsoleBuilt() {
  if (await consoleBuildIsStale()) await buildConsole();
}

/**
 * Builds the console when stale; without the build tools (an install without dev dependencies)
 * it says so and returns false: the API still starts, and `/` says how to build the console.
 */
export async function buildConsoleIfStale() {
  if (!(await consoleBuildIsStale())) return true;
  console.log('building the console (console/ -> dist-console/)...');
  try {
    await buildConsole();
    return true;
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ERR_MODULE_NOT_FOUND') {
      console.warn(`the console is not built and cannot be built here (${err.message}); the API starts without it`);
      return false;
    }
    throw err;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) await buildConsoleIfStale();
  else await buildConsole();
}
