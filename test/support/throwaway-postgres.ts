import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

/** The directory of PostgreSQL's server binaries on this machine, if any. */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(base, v, 'bin');
    if (existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/** A PostgreSQL server of a test's own, on a free port, that the test may stop and restart. */
export interface ThrowawayPostgres {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/** Creates and starts a throwaway PostgreSQL cluster (as the postgres user when run as root); `serverOptions` are passed to postgres (`-c name=value`). */
export async function startThrowawayPostgres(serverOptions: readonly string[] = []): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const dir = await mkdtemp(path.join(tmpdir(), 'wl-pg-'));
  await chmod(dir, 0o777);
  const data = path.join(dir, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const exec = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]) : run(path.join(bin, cmd), args);
  await exec('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const ctl = (action: string, extra: string[] = []) =>
    exec('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(dir, 'log'), action, ...extra]);
  const opts = ['-o', [`-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, ...serverOptions].join(' ')];
  await ctl('start', opts);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await ctl('stop', ['-m', 'fast']);
    },
    start: async () => {
      await ctl('start', opts);
    },
    restart: async () => {
      await ctl('restart', ['-m', 'fast', ...opts]);
    },
    destroy: async () => {
      await ctl('stop', ['-m', 'immediate']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
