/**
 * The console: a single-page app built by Vite into `dist-console/` (see docs/adr/0090-console.md),
 * served at `/` on the API's own port, with its assets under `/console/`. Nothing is loaded from
 * another host. Besides the files it serves one JSON resource:
 *
 * `GET /console/development-subjects` -> `{ "subjects": [{ "name": "alice", "token": "..." }, ...] }`
 * for a browser on this machine in development mode (auth/development-exposure.ts), else
 * `{ "subjects": [] }`: the console then asks for a bearer token.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

export interface ConsoleSiteDeps {
  /** The built console (holds index.html); defaults to `dist-console/` of this package. */
  root?: string;
  /** The sample subjects' tokens a request may see (empty for anyone but a local browser in development). */
  developmentTokensFor(req: IncomingMessage): Record<string, string>;
}

/** The `dist-console/` directory of this package, from src/console (tsx) or dist/src/console (compiled). */
export function defaultConsoleRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.split(path.sep).includes('dist') ? '../../..' : '../..';
  return path.resolve(here, up, 'dist-console');
}

/** Serves the console's page, its assets and the development subjects. */
export class ConsoleSite {
  readonly #root: string;

  constructor(private readonly deps: ConsoleSiteDeps) {
    this.#root = deps.root ?? defaultConsoleRoot();
  }

  /** Whether the request is the console's: `/`, `/index.html` or anything under `/console/`. */
  handles(req: IncomingMessage): boolean {
    const p = pathOf(req);
    return p === '/' || p === '/index.html' || p === '/console' || p.startsWith('/console/');
  }

  /** Serves one request. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.#serve(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'the console could not be served');
      else res.destroy();
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed');
    }
    const p = pathOf(req);
    if (p === '/console/development-subjects') {
      const subjects = Object.entries(this.deps.developmentTokensFor(req)).map(([name, token]) => ({ name, token }));
      res.setHeader('cache-control', 'no-store');
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ subjects }));
    }
    const relative = p === '/' || p === '/index.html' || p === '/console' || p === '/console/' ? 'index.html' : p.slice('/console/'.length);
    const file = path.resolve(this.#root, relative);
    if (!file.startsWith(this.#root + path.sep)) return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) {
      if (relative === 'index.html') {
        return send(res, 503, 'text/plain; charset=utf-8', `The console is not built: run "npm run console:build" (${this.#root} has no index.html).`);
      }
      return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    }
    res.statusCode = 200;
    res.setHeader('content-type', CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream');
    res.setHeader('content-length', info.size);
    // Vite names assets by content hash: they never change. The page itself is always revalidated.
    res.setHeader('cache-control', relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    res.setHeader('x-content-type-options', 'nosniff');
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  }
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0] ?? '/';
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
