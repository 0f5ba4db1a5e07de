/**
 * The HTTP server's request handler: gives every request its id and scope, serves the
 * operational endpoints (`/healthz`, `/readyz`, `/metrics`: no authentication), and hands the
 * rest to the invoke endpoint or to GraphQL. Logs one line per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import { acceptRequestId, REQUEST_ID_HEADER, type RequestScopes } from './request-scope.js';
import { malformedTarget } from './request-target.js';
import { SlicedStarts } from './sliced-starts.js';

export interface HttpFrontDeps {
  scopes: RequestScopes;
  readiness: Readiness;
  /** Null when METRICS_ENABLED=false: `/metrics` is then not found. */
  metrics: AppMetrics | null;
  invoke: { handles(req: IncomingMessage): boolean; handle(req: IncomingMessage, res: ServerResponse): void };
  graphql: (req: IncomingMessage, res: ServerResponse) => unknown;
  /** The web console (`/`, `/console/*`); absent, those paths are GraphQL's (404). */
  console?: { handles(req: IncomingMessage): boolean; handle(req: IncomingMessage, res: ServerResponse): void };
  /** How long one turn of the event loop may spend starting requests (./sliced-starts.ts); 5 ms unless given. */
  startSliceMs?: number;
}

const OPERATIONAL_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const START_SLICE_MS = 5;

/** Routes requests; see the module comment. */
export class HttpFront {
  #closing = false;
  /** Responses not finished yet: those whose headers are still to be sent get `Connection: close` at shutdown. */
  readonly #inFlight = new Set<ServerResponse>();
  readonly #starts: SlicedStarts;

  constructor(private readonly deps: HttpFrontDeps) {
    this.#starts = new SlicedStarts(deps.startSliceMs ?? START_SLICE_MS);
  }

  /** Requests waiting for a later turn of the event loop to start. */
  get waitingStarts(): number {
    return this.#starts.waiting;
  }

  /**
   * From now on every response carries `Connection: close`, those under way included (unless their
   * headers are already out), so keep-alive clients reconnect, elsewhere, instead of reusing a
   * connection that the server is about to close under them.
   */
  closeConnections(): void {
    this.#closing = true;
    for (const res of this.#inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const { scopes } = this.deps;
    const requestId = acceptRequestId(req.headers[REQUEST_ID_HEADER]);
    // Downstream (Yoga, the invoke proxy) reads the accepted id, never the caller's raw value.
    req.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    if (this.#closing) res.setHeader('connection', 'close');
    else this.#inFlight.add(res);
    const scope = scopes.scope(requestId);
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const operational = OPERATIONAL_PATHS.has(path);
    const started = performance.now();
    const logged = scopes.isLevelEnabled(operational ? 'debug' : 'info');
    res.once('close', () => {
      this.#inFlight.delete(res);
      if (!logged) return;
      const status = res.writableFinished ? res.statusCode : 499;
      const line = { method: req.method, path, status, durationMs: Math.round(performance.now() - started) };
      // Probes and scrapes every few seconds would drown the access log.
      if (operational) scope.logger.debug(line, 'request');
      else scope.logger.info(line, 'request');
    });
    const malformed = malformedTarget(req);
    if (malformed) {
      // Before anything else reads the request: no handler below can build a URL from it.
      req.resume();
      send(res, 400, 'application/json', JSON.stringify({ error: malformed }));
    } else if (operational) {
      // Never queued behind a burst: a probe's answer says the loop turns.
      void this.#operational(path, req, res).catch((err: unknown) => {
        scope.logger.error({ err, path }, 'operational endpoint failed');
        if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
        else res.destroy();
      });
    } else {
      this.#starts.run(() => this.#route(req, res));
    }
  };

  #route(req: IncomingMessage, res: ServerResponse): void {
    if (this.deps.invoke.handles(req)) {
      this.deps.metrics?.observeInvoke(req, res);
      this.deps.invoke.handle(req, res);
    } else if (this.deps.console?.handles(req)) {
      this.deps.console.handle(req, res);
    } else {
      void this.deps.graphql(req, res);
    }
  }

  async #operational(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (path === '/metrics' && !this.deps.metrics) {
      send(res, 404, 'application/json', JSON.stringify({ error: 'metrics are disabled (METRICS_ENABLED=false)' }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'application/json', JSON.stringify({ error: 'method not allowed' }));
      return;
    }
    req.resume();
    if (path === '/healthz') {
      // Answering at all is the signal: the event loop runs.
      send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    } else if (path === '/readyz') {
      const report = await this.deps.readiness.evaluate();
      send(res, report.ready ? 200 : 503, 'application/json', JSON.stringify({ status: report.ready ? 'ready' : 'unavailable', ...report }));
    } else if (this.deps.metrics) {
      const { registry } = this.deps.metrics;
      send(res, 200, registry.contentType, await registry.metrics());
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
