/**
 * Forwards one HTTP request to a replica and streams the answer back, over pooled keep-alive
 * connections (undici's `Agent`: a pool per origin, its own HTTP/1.1 parser, no `ClientRequest` or
 * `IncomingMessage` per request). The caller's response is written from the dispatch callbacks
 * directly, with back-pressure both ways (a full caller socket pauses the replica's; the request
 * body is streamed by undici). See docs/adr/0050-invoke-endpoint.md (amendment of issue 14).
 *
 * Failures map as before: refused, reset or no response -> 502 `UPSTREAM_ERROR`; a declared
 * response over the limit -> 502 `RESPONSE_TOO_LARGE`; no status and headers within the upstream
 * timeout -> 504 `UPSTREAM_TIMEOUT`; a body over a limit after the status went out, or a replica
 * that breaks off mid-response, cuts the caller's connection.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { RouteResolver } from '../runtime/route-resolver.js';
import { reply } from './replies.js';

/** Methods a retry cannot apply twice (RFC 9110, section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Response headers that end at this hop: the caller's connection is ours to manage. */
const HOP_BY_HOP_RESPONSE = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection'];

/** One request on its way to a proton, and what became of it. */
export interface Exchange {
  readonly workloadId: string;
  readonly protonId: string;
  readonly started: number;
  readonly concurrency: number;
  readonly hasBody: boolean;
  attempts: number;
  /** Why the endpoint answered or cut the response itself. */
  failure?: 'timeout' | 'requestTooLarge' | 'responseTooLarge' | 'upstream';
  /** The response was cut after its status was sent. */
  broken: boolean;
  /** Aborts what is under way upstream (set while a dispatch runs). */
  abort?: (reason: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface HttpForwarderSettings {
  readonly maxRequestBytes: number;
  readonly maxResponseBytes: number;
  readonly upstreamTimeoutMs: number;
}

/** The pooled client to the replicas. */
export class HttpForwarder {
  readonly #agent: Agent;

  constructor(
    private readonly settings: HttpForwarderSettings,
    private readonly resolver: RouteResolver,
    private readonly logger: Logger,
  ) {
    // Keep-alive to the replicas: a new connection per request would cost more than the proxying.
    // Bodies may stream for as long as they like (0: no body timeout); the wait for a response's
    // status is ours (upstreamTimeoutMs), not undici's.
    this.#agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 60_000, bodyTimeout: 0, headersTimeout: 0, pipelining: 1 });
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.#agent.destroy().catch(() => undefined);
  }

  /**
   * Sends the request (its headers already prepared, `req.url` the path the workload sees) and
   * streams the answer into `res`. A body without a declared length is counted as it streams.
   */
  forward(req: IncomingMessage, res: ServerResponse, x: Exchange, target: URL): void {
    // The caller went away: stop what is under way upstream.
    res.once('close', () => {
      clearTimeout(x.timer);
      if (!res.writableFinished) x.abort?.(new Error('the caller went away'));
    });
    const body = !x.hasBody ? null : req.headers['transfer-encoding'] !== undefined ? this.#limited(req, res, x) : req;
    // undici frames the body itself; the caller's framing ends at this hop.
    delete req.headers['transfer-encoding'];
    // The caller's `Expect: 100-continue` was answered by this server already.
    delete req.headers.expect;
    this.#dispatch(req, res, x, target, body);
  }

  #dispatch(req: IncomingMessage, res: ServerResponse, x: Exchange, target: URL, body: Readable | null): void {
    x.attempts += 1;
    clearTimeout(x.timer);
    let started = false;
    x.timer = setTimeout(() => {
      if (res.headersSent) return;
      x.failure = 'timeout';
      x.abort?.(new Error('upstream timeout'));
      reply(res, 504, 'UPSTREAM_TIMEOUT', `the workload did not answer within ${this.settings.upstreamTimeoutMs} ms`, req);
    }, this.settings.upstreamTimeoutMs);
    const max = this.settings.maxResponseBytes;
    let seen = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (controller) => {
        x.abort = (reason) => controller.abort(reason);
        if (x.failure || res.destroyed) controller.abort(new Error('no longer wanted'));
      },
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        if (statusCode < 200) return;
        clearTimeout(x.timer);
        if (x.failure || res.headersSent || res.destroyed) {
          controller.abort(new Error('no longer wanted'));
          return;
        }
        const declared = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
        if (declared !== undefined && declared > max) {
          x.failure = 'responseTooLarge';
          controller.abort(new Error('response too large'));
          reply(res, 502, 'RESPONSE_TOO_LARGE', `the workload's response of ${declared} bytes exceeds the limit of ${max} bytes`, req);
          return;
        }
        started = true;
        // What the server decided for the caller's connection (`close` while shutting down) stays.
        const out: OutgoingHttpHeaders = headers;
        for (const h of HOP_BY_HOP_RESPONSE) delete out[h];
        // Sent with the first chunk of the body (one write), or at its end.
        res.writeHead(statusCode, statusMessage || undefined, out);
      },
      onResponseData: (controller, chunk) => {
        if (x.broken) return;
        seen += chunk.length;
        if (seen > max) {
          x.failure = 'responseTooLarge';
          x.broken = true;
          controller.abort(new Error('response too large'));
          res.destroy();
          return;
        }
        if (!res.write(chunk)) {
          controller.pause();
          res.once('drain', () => controller.resume());
        }
      },
      onResponseEnd: () => {
        x.abort = undefined;
        if (!x.broken) res.end();
      },
      onResponseError: (_controller, err: Error & { code?: string }) => {
        x.abort = undefined;
        clearTimeout(x.timer);
        if (x.failure) return;
        if (started || res.headersSent) {
          // The replica broke off mid-response: the caller's response cannot be completed either.
          if (!res.writableFinished) {
            x.broken = true;
            res.destroy();
          }
          return;
        }
        if (res.destroyed) return;
        void this.#retryOrFail(err, req, res, x, body);
      },
    };
    try {
      this.#agent.dispatch({ origin: target.origin, path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers as Record<string, string | string[]>, body }, handler);
    } catch (err) {
      // A request undici refuses to send (a header it cannot frame): answered like a replica that failed.
      handler.onResponseError!(undefined as never, err as Error);
    }
  }

  /**
   * Sent once more, to wherever the route points now: a request without a body whose connection
   * was refused (nothing reached the workload), or an idempotent one whose pooled connection was
   * closed by the replica as it was reused. Otherwise 502.
   */
  async #retryOrFail(err: Error & { code?: string }, req: IncomingMessage, res: ServerResponse, x: Exchange, body: Readable | null): Promise<void> {
    const refused = err.code === 'ECONNREFUSED';
    const closedUnder = (err.code === 'UND_ERR_SOCKET' || err.code === 'ECONNRESET') && IDEMPOTENT.has(req.method ?? '');
    if ((refused || closedUnder) && !x.hasBody && x.attempts < 2) {
      const route = await this.resolver.resolveRoute(x.workloadId);
      if (route.kind === 'forward' && !res.headersSent && !res.destroyed) {
        this.#dispatch(req, res, x, route.target, body);
        return;
      }
    }
    x.failure = 'upstream';
    this.logger.debug({ err, workloadId: x.workloadId, protonId: x.protonId }, 'invoke upstream error');
    reply(res, 502, 'UPSTREAM_ERROR', `the workload's proton ${x.protonId} could not be reached or closed the connection without a response (${err.code ?? err.message})`, req);
  }

  /** The request body, counted as it streams; past the limit the request fails with 413. */
  #limited(req: IncomingMessage, res: ServerResponse, x: Exchange): Readable {
    const max = this.settings.maxRequestBytes;
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
      x.abort?.(new Error('request too large'));
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
