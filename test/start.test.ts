import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

/** PostgreSQL's system identifier: the first 8 bytes of pg_control, set once by initdb. */
const systemIdentifier = async (pgdata: string) => (await readFile(path.join(pgdata, 'global', 'pg_control'))).subarray(0, 8).toString('hex');

it('prepares at install time what a first `npm start` then only copies: the compiled API and a migrated embedded database', async () => {
  const prepare = run(['scripts/start.mjs', '--prepare'], {});
  expect(await prepare.exited, prepare.output()).toBe(0);
  expect(await stat(path.join(root, 'dist', 'src', 'main.js'))).toBeTruthy();
  const templateData = path.join(root, 'dist', 'pgdata-template', 'pgdata');
  const templateId = await systemIdentifier(templateData);

  const dataDir = await mkdtemp(path.join(tmpdir(), 'workload-api-start-'));
  dirs.push(dataDir);
  const server = run(['scripts/start.mjs'], { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'development' });
  try {
    let url: string | undefined;
    for (;;) {
      url ??= /"url":"([^"]+)\/graphql"/.exec(server.output())?.[1];
      if (url && (await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) break;
      if (server.child.exitCode !== null) throw new Error(`server exited:\n${server.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50)); // polling /readyz: there is no event to wait for
    }
    // The database is the template's copy, not one made by a second initdb.
    expect(await systemIdentifier(path.join(dataDir, 'pgdata'))).toBe(templateId);
    expect(server.output()).not.toContain('[migrator] Applied');
  } finally {
    server.child.kill('SIGTERM');
  }
  expect(await server.exited, server.output()).toBe(0);
}, 240_000);
