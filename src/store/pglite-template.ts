/**
 * A pre-initialized embedded database to start from.
 *
 * Creating an embedded database runs PostgreSQL's `initdb` inside PGlite's WebAssembly, 3-4 s of
 * CPU and most of a first boot. `npm install` (the `prepare` script) and the image build create one
 * migrated database once, as a template; a first boot copies it into DATA_DIR (tens of
 * milliseconds) and then only checks the migrations. The template records the PGlite version that
 * wrote it and the migrations it holds: it is used only by the same PGlite version and only when
 * its migrations are a prefix of the current list (the migrator applies the rest); otherwise the
 * database is created from scratch as before. See docs/adr/0071-startup-and-memory.md.
 */
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { migrationsList } from '../../migrations/index.js';

/** What a template holds: the PGlite version that wrote it and its applied migrations, in order. */
export interface TemplateKey {
  readonly pglite: string;
  readonly migrations: readonly string[];
}

const KEY_FILE = 'template.json';
const DATA = 'pgdata';

/** The key a template made by this code and PGlite version carries. */
export async function currentTemplateKey(): Promise<TemplateKey> {
  const require = createRequire(import.meta.url);
  // The package's exports do not include package.json; it sits one level above its dist/.
  const pkg = path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
  const { version } = JSON.parse(await readFile(pkg, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string') throw new Error(`no version in ${pkg}`);
  return { pglite: version, migrations: migrationsList.map((m) => m.name) };
}

/** Whether a template with key `template` can seed a database for `current`. */
export function templateFits(template: TemplateKey, current: TemplateKey): boolean {
  return (
    template.pglite === current.pglite &&
    template.migrations.length <= current.migrations.length &&
    template.migrations.every((name, i) => current.migrations[i] === name)
  );
}

async function readKey(templateDir: string): Promise<TemplateKey | null> {
  try {
    const key = JSON.parse(await readFile(path.join(templateDir, KEY_FILE), 'utf8')) as Partial<TemplateKey>;
    if (typeof key.pglite !== 'string' || !Array.isArray(key.migrations) || !key.migrations.every((m) => typeof m === 'string')) return null;
    return { pglite: key.pglite, migrations: key.migrations };
  } catch {
    return null;
  }
}

/**
 * Whether `templateDir` holds a template that fits this code (missing or unreadable: false);
 * `exactly`: one with every migration applied, not only an earlier prefix of them.
 */
export async function templateIsCurrent(templateDir: string, exactly = false): Promise<boolean> {
  const key = await readKey(templateDir);
  const current = await currentTemplateKey();
  return key !== null && templateFits(key, current) && (!exactly || key.migrations.length === current.migrations.length);
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}

/**
 * Copies the template's database into `pgdata` when `pgdata` is missing or empty and the template
 * fits; returns whether it did. The copy is written beside `pgdata` and renamed into place, so an
 * interrupted copy never leaves a half database where PGlite would open it.
 */
export async function seedFromTemplate(pgdata: string, templateDir: string): Promise<boolean> {
  if (!(await isEmptyOrMissing(pgdata))) return false;
  if (!(await templateIsCurrent(templateDir))) return false;
  const partial = `${pgdata}.seeding-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await cp(path.join(templateDir, DATA), partial, { recursive: true });
  await rm(pgdata, { recursive: true, force: true });
  await rename(partial, pgdata);
  return true;
}

/**
 * Writes a template into `templateDir`: `create(dataDir)` must create and migrate an embedded
 * database in `dataDir` and close it. The template replaces any earlier one only once complete.
 */
export async function buildTemplate(templateDir: string, create: (dataDir: string) => Promise<void>): Promise<void> {
  const building = `${templateDir}.building-${process.pid}`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  try {
    await create(building);
    await writeFile(path.join(building, KEY_FILE), `${JSON.stringify(await currentTemplateKey(), null, 2)}\n`);
    await rm(templateDir, { recursive: true, force: true });
    await rename(building, templateDir);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    throw err;
  }
}
