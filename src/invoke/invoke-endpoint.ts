/**
 * The invoke endpoint: `{base}/endpoints/workloads/{id}/{rest}` on the API's own HTTP server.
 * Each request is authenticated (Bearer) and authorized (any role on the workload), stripped of
 * the caller's credentials, and forwarded — method, path remainder, query, headers and a body
 * streamed both ways — to the primary container of the proton the workload's route names now
 * (`RouteResolver`, resolved per request, so a switch takes effect on the next request).
 * Forwarding is http-proxy-3's; this module decides where to, and answers what it cannot forward:
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
 * per proton (see statistics-collector.ts).
 */
import { Agent, STATUS_CODES, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import { Readable, Transform, type Duplex, type TransformCallback } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import type { Logger } from 'pino';
import { AuthenticationError, type Authenticator } from '../auth/authenticator.js';
import { whenCredentialsExpire, type Viewer } from '../auth/viewer.js';
import type { ChangeFeed } from '../pubsub/change-feed.js';
import { CLOSE_CODES } from '../domain/close-codes.js';
import { isDatabaseUnavailable } from '../store/errors.js';
import { ForwardedWebSocket } from './forwarded-websocket.js';
import type { RouteResolver, UnroutableReason } from '../runtime/route-resolver.js';
import { principalKey, type InvokeAccess } from './invoke-access.js';
import type { StatisticsCollector } from './statistics-collector.js';

/** The path prefix the endpoint serves. */
export const INVOKE_PATH_PREFIX = '/endpoints/workloads/';

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

/** The forwarded WebSockets of one workload, and the watch on its changes. */
interface WatchedWorkload {
  readonly sockets: Set<ForwardedWebSocket>;
  unwatch: () => void;
  checking: boolean;
  again: boolean;
}

/** Request headers that end at this hop, plus the caller's credentials. */
const STRIPPED_REQUEST_HEADERS = ['authorization', 'proxy-authorization', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te'];

/** Methods a retry cannot apply twice (RFC 9110, section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

interface Exchange {
  readonly workloadId: string;
  readonly protonId: string;
  readonly started: number;
  readonly concurrency: number;
  readonly hasBody: boolean;
  proxyReq?: ClientRequest;
  timer?: NodeJS.Timeout;
  attempts: number;
  /** Why the endpoint answered or cut the response itself. */
  failure?: 'timeout' | 'requestTooLarge' | 'responseTooLarge' | 'upstream';
  /** The response was cut after its status was sent. */
  broken: boolean;
}

/** The endpoint as a request handler for the API's HTTP server. */
export class InvokeEndpoint {
  readonly #proxy: ProxyServer;
  readonly #agent: Agent;
  readonly #exchanges = new WeakMap<IncomingMessage, Exchange>();
  /** WebSocket connections forwarded to replicas, cut when the endpoint closes. */
  readonly #tunnels = new Set<Duplex>();
  /** The same, by the caller's socket (to meet the replica's side) and by workload (to re-check access). */
  readonly #forwarded = new WeakMap<Duplex, ForwardedWebSocket>();
  readonly #watched = new Map<string, WatchedWorkload>();

  constructor(private readonly deps: InvokeEndpointDeps) {
    // Keep-alive to the replicas: a new connection per request would cost more than the proxying.
    this.#agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: 30_000 });
    // X-Forwarded-* are set here (forwardedHeaders), not by http-proxy-3, which would keep the caller's.
    this.#proxy = createProxyServer({ agent: this.#agent, xfwd: false, prependPath: true });
    this.#proxy.on('proxyReq', (proxyReq, req) => {
      const x = this.#exchanges.get(req);
      if (x) x.proxyReq = proxyReq;
    });
    this.#proxy.on('proxyRes', (proxyRes, req, res) => this.#onResponse(proxyRes, req, res));
    // The caller went away mid-request: nothing to answer; http-proxy-3 has ended the upstream request.
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
    void this.#serve(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        this.deps.logger.error({ err, url: req.url }, 'invoke endpoint failed');
        res.destroy();
        return;
      }
      const failure = this.#failure(err, req, 'the request');
      for (const [name, value] of Object.entries(failure.headers)) res.setHeader(name, value);
      reply(res, failure.status, failure.code, failure.message);
    });
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
    this.#proxy.close();
    this.#agent.destroy();
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
    let viewer: Viewer;
    try {
      viewer = await this.deps.authenticator.authenticate(req.headers.authorization);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      return refuseUpgrade(socket, 401, 'UNAUTHENTICATED', err.message, {}, { 'www-authenticate': 'Bearer' });
    }
    let workloadId: string;
    try {
      workloadId = decodeURIComponent(rawId);
    } catch {
      return refuseUpgrade(socket, 404, 'NOT_FOUND', `no workload ${JSON.stringify(rawId)}`);
    }
    const grant = await this.deps.access.grant(viewer, workloadId);
    if (!grant) return refuseUpgrade(socket, 404, 'NOT_FOUND', `no workload ${JSON.stringify(workloadId)}`);
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
    // The caller's credentials stay here; the upgrade's own headers go through.
    delete req.headers.authorization;
    delete req.headers['proxy-authorization'];
    this.#setForwardedHeaders(req, 'ws');
    req.headers['x-forwarded-prefix'] = `${INVOKE_PATH_PREFIX}${grant.workloadId}`;
    req.url = remainder;
    this.#tunnels.add(socket);
    // Access is checked again while the connection lasts: it closes (4403) when the token expires
    // and when the caller's role on the workload goes.
    const forwarded = new ForwardedWebSocket(socket, grant.workloadId, viewer);
    this.#forwarded.set(socket, forwarded);
    const cancelExpiry = whenCredentialsExpire(viewer, () => forwarded.close(CLOSE_CODES.forbidden, 'Token expired'));
    this.#watch(forwarded);
    socket.once('close', () => {
      this.#tunnels.delete(socket);
      cancelExpiry();
      this.#unwatch(forwarded);
    });
    // No keep-alive agent: an upgraded connection leaves the pool for good.
    this.#proxy.ws(req, socket, head, { target: route.target, agent: false }, () =>
      refuseUpgrade(socket, 502, 'UPSTREAM_ERROR', 'the workload did not accept the WebSocket connection'),
    );
  }

  #watch(forwarded: ForwardedWebSocket): void {
    const id = forwarded.workloadId;
    let watched = this.#watched.get(id);
    if (!watched) {
      const entry: WatchedWorkload = { sockets: new Set(), unwatch: () => {}, checking: false, again: false };
      if (this.deps.feed) entry.unwatch = this.deps.feed.watch(id, { changed: () => this.#recheck(id), resync: () => this.#recheck(id) });
      this.#watched.set(id, entry);
      watched = entry;
    }
    watched.sockets.add(forwarded);
    // A role removed between the check of the upgrade and the watch would go unnoticed: look again.
    this.#recheck(id);
  }

  #unwatch(forwarded: ForwardedWebSocket): void {
    const watched = this.#watched.get(forwarded.workloadId);
    if (!watched) return;
    watched.sockets.delete(forwarded);
    if (watched.sockets.size === 0) {
      watched.unwatch();
      this.#watched.delete(forwarded.workloadId);
    }
  }

  /**
   * Reads the role of each caller with a WebSocket open to the workload, uncached, and closes the
   * connections of those who have none left. Notifications that arrive meanwhile make one more pass.
   */
  #recheck(workloadId: string): void {
    const watched = this.#watched.get(workloadId);
    if (!watched) return;
    if (watched.checking) {
      watched.again = true;
      return;
    }
    watched.checking = true;
    const pass = async () => {
      do {
        watched.again = false;
        const byCaller = new Map<string, ForwardedWebSocket[]>();
        for (const f of watched.sockets) {
          const key = principalKey(f.viewer);
          byCaller.set(key, [...(byCaller.get(key) ?? []), f]);
        }
        for (const sockets of byCaller.values()) {
          const grant = await this.deps.access.current(sockets[0]!.viewer, workloadId);
          if (!grant) for (const f of sockets) f.close(CLOSE_CODES.forbidden, 'Access revoked');
        }
      } while (watched.again);
    };
    void pass()
      .catch((err: unknown) => this.deps.logger.warn({ err, workloadId }, 'could not re-check access of forwarded WebSockets'))
      .finally(() => (watched.checking = false));
  }

  /**
   * Who called, as the workload should see it: `X-Forwarded-For/-Host/-Proto/-Port` and `Forwarded`
   * from a trusted proxy are kept (our peer appended to the `For` chain); from anyone else they are
   * replaced by what this server saw, so a caller cannot make the workload believe another address
   * or host.
   */
  #setForwardedHeaders(req: IncomingMessage, scheme: 'http' | 'ws'): void {
    const peer = req.socket.remoteAddress;
    const encrypted = 'encrypted' in req.socket && req.socket.encrypted === true;
    const proto = encrypted ? `${scheme}s` : scheme;
    const port = String(req.socket.localPort ?? '');
    const host = req.headers.host ?? '';
    const h = req.headers;
    if (this.deps.settings.isTrustedProxy?.(peer)) {
      const chain = h['x-forwarded-for'];
      h['x-forwarded-for'] = chain ? `${String(chain)}, ${peer ?? ''}` : (peer ?? '');
      h['x-forwarded-host'] ??= host;
      h['x-forwarded-proto'] ??= proto;
      h['x-forwarded-port'] ??= port;
      return;
    }
    delete h.forwarded;
    h['x-forwarded-for'] = peer ?? '';
    h['x-forwarded-host'] = host;
    h['x-forwarded-proto'] = proto;
    h['x-forwarded-port'] = port;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const { rawId, remainder } = splitInvokePath(req.url ?? '/');

    let viewer: Viewer;
    try {
      viewer = await this.deps.authenticator.authenticate(req.headers.authorization);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      res.setHeader('www-authenticate', 'Bearer');
      return reply(res, 401, 'UNAUTHENTICATED', err.message, req);
    }
    let workloadId: string;
    try {
      workloadId = decodeURIComponent(rawId);
    } catch {
      return reply(res, 404, 'NOT_FOUND', `no workload ${JSON.stringify(rawId)}`, req);
    }
    const grant = await this.deps.access.grant(viewer, workloadId);
    if (!grant) return reply(res, 404, 'NOT_FOUND', `no workload ${JSON.stringify(workloadId)}`, req);

    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > this.deps.settings.maxRequestBytes) {
      res.setHeader('connection', 'close');
      return reply(res, 413, 'REQUEST_TOO_LARGE', `the request body of ${declared} bytes exceeds the limit of ${this.deps.settings.maxRequestBytes} bytes`, req);
    }

    const route = await this.deps.resolver.resolveRoute(grant.workloadId);
    if (route.kind === 'unroutable') {
      const status = grant.status.toUpperCase();
      res.setHeader('retry-after', String(this.deps.settings.retryAfterSeconds));
      return reply(res, 503, 'WORKLOAD_UNAVAILABLE', unavailableMessage(grant.workloadId, status, route.reason), req, {
        workloadStatus: status,
        reason: route.reason,
      });
    }

    // The caller went away while we looked things up: nothing to forward, nothing to count.
    if (res.destroyed || res.closed) return;
    // Hop-by-hop: the fixed ones, and every header the caller named in `Connection` (RFC 9110, 7.6.1).
    for (const h of connectionNamed(req.headers.connection)) delete req.headers[h];
    for (const h of STRIPPED_REQUEST_HEADERS) delete req.headers[h];
    this.#setForwardedHeaders(req, 'http');
    req.headers['x-forwarded-prefix'] = `${INVOKE_PATH_PREFIX}${grant.workloadId}`;
    req.url = remainder;
    const hasBody = (declared !== undefined && declared > 0) || req.headers['transfer-encoding'] !== undefined;
    const x: Exchange = {
      workloadId: grant.workloadId,
      protonId: route.protonId,
      started,
      concurrency: this.deps.statistics.begin(grant.workloadId, route.protonId),
      hasBody,
      attempts: 0,
      broken: false,
    };
    this.#exchanges.set(req, x);
    res.once('close', () => {
      clearTimeout(x.timer);
      // A response that did not finish and that we did not cut: the caller went away (499).
      const status = res.writableFinished || x.broken ? res.statusCode : 499;
      this.deps.statistics.end(
        { workloadId: x.workloadId, protonId: x.protonId, status, latencyMs: performance.now() - x.started, broken: x.broken },
        x.concurrency,
      );
    });
    // A body without a declared length is counted as it streams through.
    const body = req.headers['transfer-encoding'] !== undefined ? this.#limited(req, res, x) : undefined;
    this.#forward(req, res, x, route.target, body);
  }

  #forward(req: IncomingMessage, res: ServerResponse, x: Exchange, target: URL, body?: Readable): void {
    x.attempts += 1;
    x.proxyReq = undefined;
    clearTimeout(x.timer);
    x.timer = setTimeout(() => {
      if (res.headersSent) return;
      x.failure = 'timeout';
      x.proxyReq?.destroy();
      reply(res, 504, 'UPSTREAM_TIMEOUT', `the workload did not answer within ${this.deps.settings.upstreamTimeoutMs} ms`, req);
    }, this.deps.settings.upstreamTimeoutMs);
    this.#proxy.web(req, res, { target, ...(body && { buffer: body }) }, (err) => void this.#onError(err, req, res, x));
  }

  async #onError(err: Error & { code?: string }, req: IncomingMessage, res: ServerResponse, x: Exchange): Promise<void> {
    clearTimeout(x.timer);
    if (x.failure === 'timeout' || x.failure === 'requestTooLarge' || x.failure === 'responseTooLarge') return;
    if (res.writableEnded || res.destroyed) return;
    if (res.headersSent) {
      x.broken = true;
      res.destroy();
      return;
    }
    // Sent once more, to wherever the route points now, a request without a body whose connection
    // was refused (nothing reached the workload), or an idempotent one whose reused keep-alive
    // connection was closed under it (the replica closed an idle connection as it was reused).
    const refused = err.code === 'ECONNREFUSED';
    const staleConnection = err.code === 'ECONNRESET' && x.proxyReq?.reusedSocket === true && IDEMPOTENT.has(req.method ?? '');
    if ((refused || staleConnection) && !x.hasBody && x.attempts < 2) {
      const route = await this.deps.resolver.resolveRoute(x.workloadId);
      if (route.kind === 'forward' && !res.headersSent && !res.destroyed) {
        this.#forward(req, res, x, route.target, Readable.from([]));
        return;
      }
    }
    x.failure = 'upstream';
    this.deps.logger.debug({ err, workloadId: x.workloadId, protonId: x.protonId }, 'invoke upstream error');
    reply(res, 502, 'UPSTREAM_ERROR', `the workload's proton ${x.protonId} could not be reached or closed the connection without a response (${err.code ?? err.message})`, req);
  }

  #onResponse(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const x = this.#exchanges.get(req);
    if (!x) return;
    clearTimeout(x.timer);
    if (x.failure) {
      proxyRes.destroy();
      return;
    }
    // Hop-by-hop: the caller's connection is ours to manage, not the replica's. What the server
    // decided for it (`close` while shutting down) is kept: without a value here, http-proxy-3
    // would write `keep-alive` over it.
    const ours = res.getHeader('connection');
    if (ours === undefined) delete proxyRes.headers.connection;
    else proxyRes.headers.connection = String(ours);
    delete proxyRes.headers['keep-alive'];
    const max = this.deps.settings.maxResponseBytes;
    const declared = proxyRes.headers['content-length'] === undefined ? undefined : Number(proxyRes.headers['content-length']);
    if (declared !== undefined && declared > max) {
      x.failure = 'responseTooLarge';
      proxyRes.destroy();
      reply(res, 502, 'RESPONSE_TOO_LARGE', `the workload's response of ${declared} bytes exceeds the limit of ${max} bytes`, req);
      return;
    }
    let seen = 0;
    proxyRes.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > max && !x.broken) {
        x.failure = 'responseTooLarge';
        x.broken = true;
        proxyRes.destroy();
        res.destroy();
      }
    });
    // The upstream broke off mid-response: the caller's response cannot be completed either.
    const cut = () => {
      if (proxyRes.complete) return;
      x.broken = true;
      res.destroy();
    };
    proxyRes.on('aborted', cut);
    proxyRes.on('error', cut);
  }

  /** The request body, counted as it streams; past the limit the request fails with 413. */
  #limited(req: IncomingMessage, res: ServerResponse, x: Exchange): Readable {
    const max = this.deps.settings.maxRequestBytes;
    let seen = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        seen += chunk.length;
        if (seen > max) {
          callback();
          onTooLarge();
          return;
        }
        callback(null, chunk);
      },
    });
    const onTooLarge = () => {
      if (x.failure) return;
      x.failure = 'requestTooLarge';
      clearTimeout(x.timer);
      req.unpipe(counter);
      x.proxyReq?.destroy();
      if (!res.headersSent) {
        res.setHeader('connection', 'close');
        reply(res, 413, 'REQUEST_TOO_LARGE', `the request body exceeds the limit of ${max} bytes`, req);
      } else {
        x.broken = true;
        res.destroy();
      }
    };
    req.pipe(counter);
    return counter;
  }
}

/** The header names listed in a `Connection` header, lower-cased. */
function connectionNamed(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0 && name !== 'host');
}

function unavailableMessage(workloadId: string, status: string, reason: UnroutableReason): string {
  const why: Record<UnroutableReason, string> = {
    NoRoute: 'it has no route yet',
    RoutedNowhere: 'its traffic is routed nowhere',
    NoReadyReplica: 'no replica of its active proton is ready',
    Unsupported: 'this runtime cannot deliver traffic from the API server',
  };
  return `workload ${workloadId} is ${status}: ${why[reason]}; no running proton serves it now, retry later`;
}

/** Answers with a JSON error body; the `x-invoke-error` header tells it from an answer of the workload. */
/** The workload id (still encoded) and the path the workload sees, from a URL under the endpoint. */
function splitInvokePath(url: string): { rawId: string; remainder: string } {
  const rest = url.slice(INVOKE_PATH_PREFIX.length);
  const slash = rest.search(/[/?]/);
  const rawId = slash === -1 ? rest : rest.slice(0, slash);
  let remainder = slash === -1 ? '/' : rest.slice(slash);
  if (remainder.startsWith('?')) remainder = `/${remainder}`;
  return { rawId, remainder };
}

/** Answers an upgrade that is not forwarded with an HTTP response like `reply`'s, and closes. */
function refuseUpgrade(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed || !socket.writable) return;
  const body = JSON.stringify({ error: { code, message, ...extra } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    `x-invoke-error: ${code}`,
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

function reply(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  req?: IncomingMessage,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ error: { code, message, ...extra } });
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-invoke-error', code);
  res.end(req?.method === 'HEAD' ? undefined : body);
  // An unread request body would otherwise hold the connection; let it drain (or close with it).
  if (req && !req.complete) req.resume();
}
