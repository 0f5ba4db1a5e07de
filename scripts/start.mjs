// `npm start`: runs the compiled API (dist/src/main.js), compiling first what is missing or older
// than its TypeScript source. Compiling here is a transpile with esbuild (no type check; that is
// `npm run typecheck`), about a second for the whole tree, so a fresh clone starts without a
// separate build step and an edited file is picked up at the next start. `npm run build` (tsc)
// writes the same layout and satisfies the check too. The console is built first when stale
// (scripts/console-build.mjs), and a first start copies the pre-initialized embedded database
// (src/store/pglite-template.ts) instead of creating one.
//
// `node scripts/start.mjs --prepare` (the `prepare` script, so `npm install` runs it) does the
// work of a first start ahead of it: compile, build the console, and create that database
// template in dist/pgdata-template. Each step is skipped when current; a step that fails only
// warns, since `npm start` redoes or does without it. See docs/adr/0071-startup-and-memory.md.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist');
const sourceDirs = ['src', 'migrations'];
/** The pre-initialized embedded database that `--prepare` writes and a first start copies. */
export const templateDir = path.join(outdir, 'pgdata-template');

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** The sources whose compiled file is missing or older than the source (or than tsconfig.json). */
export function staleSources() {
  const all = sourceDirs.flatMap((d) => sources(path.join(root, d)));
  const configTime = statSync(path.join(root, 'tsconfig.json')).mtimeMs;
  const stale = all.filter((file) => {
    const js = path.join(outdir, path.relative(root, file)).replace(/\.ts$/, '.js');
    if (!existsSync(js)) return true;
    const built = statSync(js).mtimeMs;
    return built < statSync(file).mtimeMs || built < configTime;
  });
  return { all, stale };
}

async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch {
    // esbuild comes with tsx (a dependency); npm may have nested it instead of hoisting it.
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
    return await import(pathToFileURL(fromTsx.resolve('esbuild')).href);
  }
}

export async function compileIfStale() {
  const { all, stale } = staleSources();
  if (stale.length === 0) return 0;
  const esbuild = await loadEsbuild();
  await esbuild.build({
    entryPoints: all,
    outdir,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    tsconfig: path.join(root, 'tsconfig.json'),
    logLevel: 'warning',
  });
  await esbuild.stop?.();
  return stale.length;
}

/** Creates the database template unless one with every migration exists; needs the compiled output. */
export async function buildTemplateIfStale() {
  const load = (file) => import(pathToFileURL(path.join(outdir, 'src', 'store', file)).href);
  const [{ templateIsCurrent, buildTemplate }, { openOrm }] = await Promise.all([load('pglite-template.js'), load('orm.js')]);
  if (await templateIsCurrent(templateDir, true)) return false;
  await buildTemplate(templateDir, async (dataDir) => (await openOrm({ kind: 'pglite', dataDir })).close(true));
  return true;
}

async function prepare() {
  const compiled = await compileIfStale();
  if (compiled > 0) process.stderr.write(`compiled ${compiled} changed source file(s) into dist/\n`);
  const steps = [
    ['the console', async () => (await import('./console-build.mjs')).buildConsoleIfStale()],
    ['the embedded database template', async () => {
      if (await buildTemplateIfStale()) process.stderr.write(`created the embedded database template in ${path.relative(root, templateDir)}/\n`);
    }],
  ];
  for (const [what, step] of steps) {
    try {
      await step();
    } catch (err) {
      process.stderr.write(`could not build ${what} (npm start does without it or builds it): ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--prepare')) {
    await prepare();
    process.exit(0);
  }
  const compiled = await compileIfStale();
  if (compiled > 0) process.stderr.write(`compiled ${compiled} changed source file(s) into dist/\n`);
  if (process.argv.includes('--compile-only')) process.exit(0);
  await (await import('./console-build.mjs')).buildConsoleIfStale();
  if (existsSync(path.join(templateDir, 'template.json'))) process.env.PGLITE_TEMPLATE_DIR ??= templateDir;
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(path.join(outdir, 'src', 'main.js')).href);
}
