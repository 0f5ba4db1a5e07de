import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** How long a spawned server may take to listen: its TypeScript is compiled as it loads, and a busy machine is slow. */
export const SPAWN_START_LIMIT_MS = 90_000;

export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  output: () => string;
}

/**
 * Starts `src/main.ts` in a process of its own, on `dataDir` with a random loopback port, and
 * resolves with its URL once it logs that it listens.
 */
export function startServer(dataDir: string, env: Record<string, string> = {}): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${SPAWN_START_LIMIT_MS} ms:\n${out}`)), SPAWN_START_LIMIT_MS);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"url":"([^"]+)\/graphql"/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, exited, output: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited:\n${out}`));
    });
  });
}
