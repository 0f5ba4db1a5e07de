/**
 * The invoke endpoint: `{base}/endpoints/workloads/{id}/{rest}` on the API's own HTTP server.
 * Each request is authenticated (Bearer) and authorized (any role on the workload), stripped of
 * the caller's credentials, and forwarded — method, path remainder, query, headers and a body
 * streamed both ways — to the primary container of the proton the workload's route names now
 * (`RouteResolver`, resolved per request, so a switch takes effect on the next request).
 * Requests are forwarded by a pooled undici client (http-forwarder.ts), WebSockets by http-proxy-3;
 * this module decides where to, and answers what it cannot forward:
 *
 * | Case | Status | `x-invoke-error` |
 * | --- | --- | --- |
 * | no or bad token | 401 + `WWW-Authenticate: Bearer` | `UNAUTHENTICATED` |
 * | unknown workload, or no role on it | 404 | `NOT_FOUND` |
 * | request body over the limit | 413 | `REQUEST_TOO_LARGE` |
 * | no running proton (stopped, starting, crashing) | 503 + `Retry-After` | `WORKLOAD_UNAVAILABLE` |
 * | the proton cannot be reached or broke the connection | 502 | `UPSTREAM_ERROR` |
 * | response declared over the limit | 502 | `RESPONSE_TOO_LARGE` |
 * | no response within the upstream timeout | 504 | `UPSTREAM_TIMEOUT` |
 *
 * A response that breaks off after its status was sent (upstream failure, size limit) is cut:
 * the caller sees the connection end early. Statistics of every forwarded request are recorded
 * per proton (see statistics-collector.ts). A keep-alive connection that repeats its caller and
 * workload skips the token and access lookups within the access cache's bound (connection-grants.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import { AuthenticationError, type Authenticator } from '../auth/authenticator.js';
import { whenCredentialsExpire, type Viewer } from '../auth/viewer.js';
import type { ChangeFeed } from '../pubsub/change-feed.js';
import { CLOSE_CODES } from '../domain/close-codes.js';
import { isDatabaseUnavailable } from '../store/errors.js';
import type { RouteResolver } from '../runtime/route-resolver.js';
import { ConnectionGrants } from './connection-grants.js';
import { prepareRequestHeaders, prepareUpgradeHeaders } from './forwarded-headers.js';
import { ForwardedWebSocket } from './forwarded-websocket.js';
import { HttpForwarder, type Exchange } from './http-forwarder.js';
import type { InvokeAccess, InvokeGrant } from './invoke-access.js';
import { INVOKE_PATH_PREFIX, refuseUpgrade, reply, splitInvokePath, unavailableMessage } from './replies.js';
import type { StatisticsCollector } from './statistics-collector.js';
import { WebSocketAccessWatch } from './websocket-access-watch.js';

export { INVOKE_PATH_PREFIX } from './replies.js';

/** Limits and timings of the endpoint (from configuration). */
export interface InvokeSettings {
  /** Largest request body forwarded, in bytes. */
  readonly maxRequestBytes: number;
  /** Largest response body passed back, in bytes. */
  readonly maxResponseBytes: number;
  /** How long to wait for the upstream's response status and headers. */
  readonly upstreamTimeoutMs: number;
  /** `Retry-After` of a 503. */
  readonly retryAfterSeconds: number;
  /** How long a caller's right to invoke a workload may be relied on (0: asked every request). */
  readonly accessCacheMs?: number;
  /** Whether a peer's `X-Forwarded-*` headers are believed (TRUSTED_PROXIES); by default no one's. */
  readonly isTrustedProxy?: (address: string | undefined) => boolean;
}

export interface InvokeEndpointDeps {
  authenticator: Authenticator;
  access: InvokeAccess;
  resolver: RouteResolver;
  statistics: StatisticsCollector;
  settings: InvokeSettings;
  logger: Logger;
  /**
   * Changes of workloads (sharing changes among them), heard on every replica: a forwarded
   * WebSocket whose caller lost their role is closed (4403) when its workload changes.
   */
  feed?: ChangeFeed;
}

/** Who is calling and what they may invoke, or the answer already sent. */
type Admission = { viewer: Viewer; grant: InvokeGrant } | { refused: { status: number; code: string; message: string; headers?: Record<string, string> } };

/** The endpoint as a request handler for the API's HTTP server. */
export class InvokeEndpoint {
  readonly #forwarder: HttpForwarder;
  /** WebSockets only: requests go through the forwarder. */
  readonly #proxy: ProxyServer;
  readonly #grants: ConnectionGrants;
  readonly #watch: WebSocketAccessWatch;
  /** WebSocket connections forwarded to replicas, cut when the endpoint closes. */
  readonly #tunnels = new Set<Duplex>();
  /** The same, by the caller's socket (to meet the replica's side). */
  readonly #forwarded = new WeakMap<Duplex, ForwardedWebSocket>();

  constructor(private readonly deps: InvokeEndpointDeps) {
    this.#forwarder = new HttpForwarder(deps.settings, deps.resolver, deps.logger);
    this.#grants = new ConnectionGrants(deps.settings.accessCacheMs ?? 0, () => deps.access.clock());
    this.#watch = new WebSocketAccessWatch(deps.access, deps.logger, deps.feed);
    // X-Forwarded-* are set here (forwarded-headers.ts), not by http-proxy-3, which would keep the caller's.
    this.#proxy = createProxyServer({ xfwd: false, prependPath: true });
    this.#proxy.on('econnreset', () => undefined);
    // The replica's socket of a forwarded WebSocket: met at the upgrade, followed from `open` on
    // (emitted as http-proxy-3 has piped it to the caller's, before any byte flows; a listener
    // added earlier would take the replica's first bytes away from the pipe).
    const upstreams = new WeakMap<Duplex, ForwardedWebSocket>();
    this.#proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      const forwarded = this.#forwarded.get(socket);
      if (forwarded) proxyReq.once('upgrade', (_res, upstream: Duplex) => upstreams.set(upstream, forwarded));
    });
    this.#proxy.on('open', (upstream: Duplex) => upstreams.get(upstream)?.attach(upstream));
  }

  /** Whether the request is for the endpoint (otherwise it is the GraphQL server's). */
  handles(req: IncomingMessage): boolean {
    return req.url?.startsWith(INVOKE_PATH_PREFIX) ?? false;
  }

  /** Serves one request. Never throws: failures become responses. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const { rawId, remainder } = splitInvokePath(req.url ?? '/');
    const fail = (err: unknown) => {
      if (res.headersSent) {
        this.deps.logger.error({ err, url: req.url }, 'invoke endpoint failed');
        res.destroy();
        return;
      }
      const failure = this.#failure(err, req, 'the request');
      for (const [name, value] of Object.entries(failure.headers)) res.setHeader(name, value);
      reply(res, failure.status, failure.code, failure.message);
    };
    try {
      // A keep-alive connection repeating its caller and workload: no lookups, no promise hops.
      const remembered = this.#grants.get(req.socket, req.headers.authorization, rawId);
      if (remembered) return void this.#route(req, res, remembered.grant, remainder, started).catch(fail);
    } catch (err) {
      return fail(err);
    }
    void this.#admit(req, rawId)
      .then((admission) => {
        if ('refused' in admission) {
          const { status, code, message, headers = {} } = admission.refused;
          for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
          return reply(res, status, code, message, req);
        }
        return this.#route(req, res, admission.grant, remainder, started);
      })
      .catch(fail);
  }

  /** Authenticates the caller and looks up their grant on the workload: 401 and 404 otherwise. */
  async #admit(req: IncomingMessage, rawId: string): Promise<Admission> {
    const authorization = req.headers.authorization;
    let viewer: Viewer;
    try {
      viewer = await this.deps.authenticator.authenticate(authorization);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      return { refused: { status: 401, code: 'UNAUTHENTICATED', message: err.message, headers: { 'www-authenticate': 'Bearer' } } };
    }
    let workloadId: string;
    try {
      workloadId = decodeURIComponent(rawId);
    } catch {
      return { refused: { status: 404, code: 'NOT_FOUND', message: `no workload ${JSON.stringify(rawId)}` } };
    }
    const { grant, readAt } = await this.deps.access.read(viewer, workloadId);
    if (!grant) return { refused: { status: 404, code: 'NOT_FOUND', message: `no workload ${JSON.stringify(workloadId)}` } };
    this.#grants.remember(req.socket, authorization, rawId, viewer, grant, readAt);
    return { viewer, grant };
  }

  /** The checks after access (413, 503), then forwarding to where the route points now. */
  async #route(req: IncomingMessage, res: ServerResponse, grant: InvokeGrant, remainder: string, started: number): Promise<void> {
    const settings = this.deps.settings;
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > settings.maxRequestBytes) {
      res.setHeader('connection', 'close');
      return reply(res, 413, 'REQUEST_TOO_LARGE', `the request body of ${declared} bytes exceeds the limit of ${settings.maxRequestBytes} bytes`, req);
    }
    const route = await this.deps.resolver.resolveRoute(grant.workloadId);
    if (route.kind === 'unroutable') {
      const status = grant.status.toUpperCase();
      res.setHeader('retry-after', String(settings.retryAfterSeconds));
      return reply(res, 503, 'WORKLOAD_UNAVAILABLE', unavailableMessage(grant.workloadId, status, route.reason), req, {
        workloadStatus: status,
        reason: route.reason,
      });
    }
    // The caller went away while we looked things up: nothing to forward, nothing to count.
    if (res.destroyed || res.closed) return;
    prepareRequestHeaders(req, grant.workloadId, settings.isTrustedProxy);
    req.url = remainder;
    const x: Exchange = {
      workloadId: grant.workloadId,
      protonId: route.protonId,
      started,
      concurrency: this.deps.statistics.begin(grant.workloadId, route.protonId),
      hasBody: (declared !== undefined && declared > 0) || req.headers['transfer-encoding'] !== undefined,
      attempts: 0,
      broken: false,
    };
    res.once('close', () => {
      // A response that did not finish and that we did not cut: the caller went away (499).
      const status = res.writableFinished || x.broken ? res.statusCode : 499;
      this.deps.statistics.end(
        { workloadId: x.workloadId, protonId: x.protonId, status, latencyMs: performance.now() - x.started, broken: x.broken },
        x.concurrency,
      );
    });
    this.#forwarder.forward(req, res, x, route.target);
  }

  /**
   * What a request or upgrade that failed unexpectedly is answered: a database that cannot be
   * reached (access or route unread) is retryable, 503 with Retry-After as GraphQL gives (ADR
   * 0070); anything else is 500. Logs the cause.
   */
  #failure(err: unknown, req: IncomingMessage, what: string): { status: number; code: string; message: string; headers: Record<string, string> } {
    if (isDatabaseUnavailable(err)) {
      this.deps.logger.warn({ err, url: req.url }, 'invoke endpoint: the database is unavailable');
      const retryAfter = String(this.deps.settings.retryAfterSeconds);
      return { status: 503, code: 'SERVICE_UNAVAILABLE', message: `the database is unavailable; retry after ${retryAfter} s`, headers: { 'retry-after': retryAfter } };
    }
    this.deps.logger.error({ err, url: req.url }, 'invoke endpoint failed');
    return { status: 500, code: 'INTERNAL', message: `${what} could not be forwarded because of an internal error`, headers: {} };
  }

  /** Releases the connections to the replicas, forwarded WebSockets included. */
  close(): void {
    void this.#forwarder.close();
    this.#proxy.close();
    for (const socket of this.#tunnels) socket.destroy();
    this.#tunnels.clear();
  }

  /**
   * Forwards a WebSocket upgrade (any path under the endpoint) to the active proton, after the
   * checks a request gets: 401, 404 and 503 are answered on the socket as HTTP responses. Once
   * upgraded, the connection is the workload's: it stays on the proton it reached (a switch
   * applies to new connections) and is not counted in request statistics. Never throws.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    void this.#upgrade(req, socket, head).catch((err: unknown) => {
      const failure = this.#failure(err, req, 'the connection');
      refuseUpgrade(socket, failure.status, failure.code, failure.message, {}, failure.headers);
    });
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const { rawId, remainder } = splitInvokePath(req.url ?? '/');
    const admission = await this.#admit(req, rawId);
    if ('refused' in admission) {
      const { status, code, message, headers = {} } = admission.refused;
      return refuseUpgrade(socket, status, code, message, {}, headers);
    }
    const { viewer, grant } = admission;
    const route = await this.deps.resolver.resolveRoute(grant.workloadId);
    if (route.kind === 'unroutable') {
      const status = grant.status.toUpperCase();
      return refuseUpgrade(
        socket,
        503,
        'WORKLOAD_UNAVAILABLE',
        unavailableMessage(grant.workloadId, status, route.reason),
        { workloadStatus: status, reason: route.reason },
        { 'retry-after': String(this.deps.settings.retryAfterSeconds) },
      );
    }
    if (socket.destroyed) return;
    prepareUpgradeHeaders(req, grant.workloadId, this.deps.settings.isTrustedProxy);
    req.url = remainder;
    this.#tunnels.add(socket);
    // Access is checked again while the connection lasts: it closes (4403) when the token expires
    // and when the caller's role on the workload goes.
    const forwarded = new ForwardedWebSocket(socket, grant.workloadId, viewer);
    this.#forwarded.set(socket, forwarded);
    const cancelExpiry = whenCredentialsExpire(viewer, () => forwarded.close(CLOSE_CODES.forbidden, 'Token expired'));
    this.#watch.watch(forwarded);
    socket.once('close', () => {
      this.#tunnels.delete(socket);
      cancelExpiry();
      this.#watch.unwatch(forwarded);
    });
    // No keep-alive agent: an upgraded connection leaves the pool for good.
    this.#proxy.ws(req, socket, head, { target: route.target, agent: false }, () =>
      refuseUpgrade(socket, 502, 'UPSTREAM_ERROR', 'the workload did not accept the WebSocket connection'),
    );
  }
}
