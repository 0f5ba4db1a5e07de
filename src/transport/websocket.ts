import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode, makeServer, type OperationResult } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import type { Authenticator } from '../auth/authenticator.js';
import { whenCredentialsExpire, type Viewer } from '../auth/viewer.js';
import type { ConnectionControls, GraphQLContext } from '../graphql/context.js';
import { withRequestId } from '../observability/request-id.plugin.js';
import { logUnexpectedErrors, REQUEST_ID_HEADER } from '../observability/request-scope.js';
import { preSerialized } from '../graphql/subscription/fan-out.js';
import { CLOSE_CODES } from '../domain/close-codes.js';
import { ALREADY_SENT, isAlreadySent, nextFrame } from './pre-serialized-frames.js';

/** Limits of the WebSocket transport; see README.md, "Live subscriptions". */
export interface WebSocketLimits {
  maxSubscriptionsPerConnection: number;
  connectionInitTimeoutMs: number;
  /** Bytes waiting to be sent on one connection before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /** Interval of server pings; a client that does not answer one within it is disconnected. */
  keepAliveMs: number;
  /** Bytes of one incoming message (GRAPHQL_MAX_BODY_BYTES); a larger one closes the connection with 1009. */
  maxMessageBytes: number;
}

export interface WebSocketTransport {
  /** Closes every connection (1001, going away) and stops accepting new ones. */
  close(): Promise<void>;
  /** Counters for tests and operators. */
  stats(): { connections: number; slowConsumersClosed: number };
}

interface ConnectionState {
  /** `ws-<uuid>`: in the connection's logs; its operations are `<connection id>/<operation id>`. */
  connectionId: string;
  socket: WebSocket;
  request: IncomingMessage;
  authorization: string | null;
  /**
   * The request Yoga's plugins and context factory see for this connection's operations, made
   * once (the credentials are the connection's): one per operation would be kept by each
   * subscription's context for as long as it runs.
   */
  yogaRequest?: Request;
  operations: Set<string>;
  /** Cancels the end of the connection at its token's expiry. */
  cancelExpiry?: () => void;
  /** Whether the connection's TCP socket holds its writes until the end of this turn. */
  corked?: boolean;
}

/**
 * Holds the connection's socket writes until the end of this turn of the event loop: a group
 * writes one frame to each of its members, many of which share a connection, and the frames then
 * leave in one system call instead of one each. `ws` keeps its TCP socket as `_socket` (not
 * public API, stable since ws 1); without it frames are written one by one as before.
 */
function corkForThisTurn(state: ConnectionState): void {
  if (state.corked) return;
  const raw = (state.socket as unknown as { _socket?: Duplex | null })._socket;
  if (!raw) return;
  state.corked = true;
  raw.cork();
  process.nextTick(() => {
    state.corked = false;
    raw.uncork();
  });
}

type Enveloped = ReturnType<YogaServerInstance<Record<string, never>, GraphQLContext>['getEnveloped']>;

/** Grace a slow consumer gets to read what was already sent, and the close frame, before it is cut. */
const SLOW_CONSUMER_GRACE_MS = 10_000;

/**
 * graphql-ws on the HTTP server's `/graphql` path. Every operation runs through Yoga's envelop
 * (`getEnveloped`), so the context factory (authentication), validation and every plugin apply
 * exactly as over HTTP. The caller authenticates with `connectionParams: { authorization:
 * 'Bearer <token>' }`, checked at connection_init and again for each operation.
 *
 * Sends are not awaited: a client that stops reading makes the connection's buffer grow, and when
 * more than `maxBufferedBytes` are still unsent as the next payload is due, it is closed with 4413,
 * so a slow client costs bounded memory.
 *
 * Request ids: a connection is `ws-<uuid>` and each of its operations `ws-<uuid>/<operation id>`;
 * the operation's id is in its errors' `extensions.requestId` and on the log line of an internal
 * error in it.
 *
 * The server's upgrades are dispatched here: the GraphQL endpoint's to graphql-ws, those that
 * `forward` handles (the invoke endpoint's) to it, any other is answered 404.
 */
export function attachWebSocketTransport(options: {
  server: Server;
  yoga: YogaServerInstance<Record<string, never>, GraphQLContext>;
  authenticator: Authenticator;
  limits: WebSocketLimits;
  logger: Logger;
  forward?: { handles(req: IncomingMessage): boolean; handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void };
}): WebSocketTransport {
  const { yoga, authenticator, limits, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === yoga.graphqlEndpoint) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } else if (options.forward?.handles(req)) {
      options.forward.handleUpgrade(req, socket, head);
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    }
  };
  options.server.on('upgrade', onUpgrade);
  const envelopes = new WeakMap<object, Enveloped>();
  const operationId = (state: ConnectionState, id: string) => `${state.connectionId}/${id}`;
  let slowConsumersClosed = 0;

  const closeSlowConsumer = (socket: WebSocket, reason: string) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    slowConsumersClosed += 1;
    logger.warn({ bufferedBytes: socket.bufferedAmount }, `closing a slow WebSocket consumer: ${reason}`);
    socket.close(CLOSE_CODES.slowConsumer, reason);
    setTimeout(() => socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
  };

  // The connection's token expired: every operation on it ends with TOKEN_EXPIRED, then the
  // connection closes with 4403 (graphql-ws clients reconnect, asking connectionParams again).
  const endWithExpiredToken = (state: ConnectionState) => {
    if (state.socket.readyState !== WebSocket.OPEN) return;
    for (const id of state.operations) {
      const errors = withRequestId(
        [{ message: 'the bearer token of this connection has expired; this operation has ended (reconnect with a fresh token)', extensions: { code: 'TOKEN_EXPIRED' } }],
        operationId(state, id),
      );
      state.socket.send(JSON.stringify({ id, type: 'error', payload: errors }));
    }
    state.socket.close(CLOSE_CODES.forbidden, 'Token expired');
  };

  const server = makeServer<Record<string, unknown> | undefined, ConnectionState>({
    connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
    async onConnect(ctx) {
      const value = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
      const authorization = typeof value === 'string' ? value : null;
      let viewer: Viewer;
      try {
        viewer = await authenticator.authenticate(authorization);
      } catch (err) {
        const message = err instanceof Error ? err.message : 'authentication failed';
        ctx.extra.socket.close(CLOSE_CODES.unauthorized, `Unauthorized: ${message}`.slice(0, 120));
        return false;
      }
      ctx.extra.authorization = authorization;
      const state = ctx.extra;
      state.cancelExpiry = whenCredentialsExpire(viewer, () => endWithExpiredToken(state));
      return true;
    },
    async onSubscribe(ctx, id, params) {
      const state = ctx.extra;
      if (state.operations.size >= limits.maxSubscriptionsPerConnection) {
        return [
          new GraphQLError(`at most ${limits.maxSubscriptionsPerConnection} operations may run at once on one connection`, {
            extensions: { code: 'SUBSCRIPTION_LIMIT', limit: limits.maxSubscriptionsPerConnection },
          }),
        ];
      }
      // The slot is taken before the first await: the messages of a burst are handled concurrently,
      // and each must see the slots of those before it. A refused operation gives its slot back.
      state.operations.add(id);
      const refuse = (errors: readonly GraphQLError[]) => {
        state.operations.delete(id);
        return errors;
      };
      // The request Yoga's context factory sees: the connection's credentials as its header.
      // POST: Yoga refuses mutations on GET requests (a rule for HTTP caches that a socket does not need).
      const request = (state.yogaRequest ??= new Request(`http://localhost${yoga.graphqlEndpoint}`, {
        method: 'POST',
        headers: { [REQUEST_ID_HEADER]: state.connectionId, ...(state.authorization ? { authorization: state.authorization } : {}) },
      }));
      const enveloped = yoga.getEnveloped({ request, params, socket: state.socket });
      let document;
      try {
        document = enveloped.parse(params.query);
      } catch (err) {
        if (err instanceof GraphQLError) return refuse([err]);
        state.operations.delete(id);
        throw err;
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return refuse(errors);
      let contextValue: object;
      try {
        contextValue = await enveloped.contextFactory();
      } catch (err) {
        if (err instanceof GraphQLError) return refuse([err]);
        state.operations.delete(id);
        throw err;
      }
      const connection: ConnectionControls = {
        close: (_code, reason) => closeSlowConsumer(state.socket, reason),
        // A grouped subscription's payloads are written here, around JSON serialized once for the group (ADR 0033).
        sendNext: (payloadJson) => {
          corkForThisTurn(state);
          sendFrame(state.socket, nextFrame(id, payloadJson));
        },
      };
      Object.assign(contextValue, { connection });
      envelopes.set(contextValue, enveloped);
      return {
        schema: enveloped.schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue,
      };
    },
    execute: (args) => envelopeOf(args).execute(args) as OperationResult,
    subscribe: (args) => envelopeOf(args).subscribe(args) as OperationResult,
    onNext(ctx, id, _payload, _args, result) {
      if (!result.errors?.length) {
        // A payload serialized once for its group: the frame is written around it, not re-serialized.
        const json = preSerialized(result);
        if (json === undefined) return undefined;
        sendFrame(ctx.extra.socket, nextFrame(id, json));
        return ALREADY_SENT as unknown as typeof result;
      }
      const requestId = operationId(ctx.extra, id);
      logUnexpectedErrors(result.errors, logger, requestId);
      return { ...result, errors: withRequestId(result.errors.map((e) => e.toJSON()), requestId) };
    },
    onError(ctx, id, _payload, errors) {
      const requestId = operationId(ctx.extra, id);
      logUnexpectedErrors(errors, logger, requestId);
      return withRequestId(errors.map((e) => e.toJSON()), requestId);
    },
    onComplete(ctx, id) {
      ctx.extra.operations.delete(id);
    },
  });

  /** Writes a frame unless the connection is closed or, holding too much unsent, a slow consumer. */
  function sendFrame(socket: WebSocket, data: string): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    // Measured before sending, so one large payload passes; a backlog the client has not
    // read by the time the next payload is due does not. Memory: the limit plus one payload.
    if (socket.bufferedAmount > limits.maxBufferedBytes) {
      closeSlowConsumer(socket, `Slow consumer: more than ${limits.maxBufferedBytes} bytes unread; resume with "after"`);
      return;
    }
    socket.send(data);
  }

  function envelopeOf(args: ExecutionArgs): Enveloped {
    const enveloped = typeof args.contextValue === 'object' && args.contextValue !== null ? envelopes.get(args.contextValue) : undefined;
    if (!enveloped) throw new Error('operation without an envelope');
    return enveloped;
  }

  wss.on('connection', (socket, request) => {
    const state: ConnectionState = { connectionId: `ws-${randomUUID()}`, socket, request, authorization: null, operations: new Set() };
    socket.once('error', (err) => {
      logger.warn({ err }, 'WebSocket error');
      socket.terminate();
    });
    let pongWait: NodeJS.Timeout | undefined;
    const pinger = setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN || pongWait) return;
      pongWait = setTimeout(() => socket.terminate(), limits.keepAliveMs);
      socket.ping();
    }, limits.keepAliveMs);
    socket.on('pong', () => {
      clearTimeout(pongWait);
      pongWait = undefined;
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => {
          if (!isAlreadySent(data)) sendFrame(socket, data);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (data) => {
            cb(String(data)).catch((err: unknown) => {
              logger.error({ requestId: state.connectionId, err }, 'internal error handling a WebSocket message');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      state,
    );
    socket.once('close', (code, reason) => {
      state.cancelExpiry?.();
      clearInterval(pinger);
      clearTimeout(pongWait);
      void closed(code, String(reason));
    });
  });
  wss.on('error', (err) => logger.error({ err }, 'WebSocket server error'));

  return {
    stats: () => ({ connections: wss.clients.size, slowConsumersClosed }),
    async close() {
      options.server.off('upgrade', onUpgrade);
      for (const client of wss.clients) client.close(CLOSE_CODES.goingAway, 'Server shutting down');
      const stragglers = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
      }, 1000);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      clearTimeout(stragglers);
    },
  };
}
