/**
 * Real HTTP for simulated replicas: while a pod's primary container runs, a small server on a
 * loopback port answers for it, so the invoke endpoint works end to end on the simulated
 * cluster. It answers with its workload, proton and replica ids and echoes what it was sent.
 *
 * Its life follows the container, like a real process's: it starts when the container runs, is
 * killed (connections cut) when the container crashes or the pod is evicted, and shuts down
 * gracefully when the pod is removed: no new connections, requests in flight finish (up to the
 * grace period), idle keep-alive connections linger a moment and answer what still arrives on
 * them with `Connection: close`, then it exits. Between the pod's deletion and its removal it
 * still serves, like an app behind a `preStop` sleep, so a request routed just before a switch
 * still lands.
 *
 * Request headers steer it, for tests and demos (the path and query stay free to echo):
 * | Header | Effect |
 * | --- | --- |
 * | `x-sim-delay-ms: N` | answers N ms after the request body has arrived |
 * | `x-sim-status: N` | answers with status N |
 * | `x-sim-response-bytes: N` | answers with N bytes (`x-sim-chunked: 1`: without a content-length) |
 * | `x-sim-behaviour: echo-body` | streams the request body back as it arrives |
 * | `x-sim-behaviour: hang` | never answers |
 * | `x-sim-behaviour: reset` | closes the connection without answering |
 *
 * A WebSocket upgrade is accepted on any path: the replica first sends its identity and the path
 * as a JSON text message, then echoes every message back (text as text, binary as binary). When
 * the pod is removed its WebSockets are closed with 1001.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { SimPod } from './sim-pod.js';

/** How simulated replicas serve. */
export interface ReplicaServerOptions {
  /** Interface to listen on; default 127.0.0.1. */
  readonly host?: string;
  /** How long a removed pod's server may finish requests in flight before it is cut; default 30 s. */
  readonly graceMs?: number;
}

/** The most of a request body echoed back as text. */
const ECHO_TEXT_LIMIT = 64 * 1024;
/**
 * How long a shutting-down server keeps its idle keep-alive connections (at most its grace
 * period). A proxy may have picked one of them for a request an instant before: closing it at
 * once resets that request, and a request with a body is not retried (ADR 0051, decision 3).
 */
const IDLE_LINGER_MS = 1000;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** The identity a replica answers with. */
interface ReplicaIdentity {
  readonly workloadId: string;
  readonly protonId: string;
  readonly replica: string;
}

/** One replica's HTTP server. */
class ReplicaServer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #websockets = new WebSocketServer({ noServer: true });
  #origin: URL | undefined;
  #draining = false;
  #closed = false;
  /** Resolves with the origin once listening, or with undefined if it never does. */
  readonly listening: Promise<URL | undefined>;

  constructor(
    readonly identity: ReplicaIdentity,
    /** The container instance it runs as: a restarted container gets a new server. */
    readonly containerID: string,
    host: string,
  ) {
    this.#server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('upgrade', (req, socket, head) => {
      if (this.#draining) {
        socket.destroy();
        return;
      }
      this.#websockets.handleUpgrade(req, socket, head, (ws) => this.#echo(ws, req));
    });
    this.listening = new Promise((resolve) => {
      this.#server.once('error', () => resolve(undefined));
      this.#server.listen(0, host, () => {
        const address = this.#server.address() as AddressInfo;
        const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        this.#origin = new URL(`http://${h}:${address.port}`);
        resolve(this.#closed ? undefined : this.#origin);
      });
    });
  }

  /** The origin while it accepts connections. */
  get origin(): URL | undefined {
    return this.#draining || this.#closed ? undefined : this.#origin;
  }

  /** Stops accepting connections, lets requests in flight finish, and cuts what is left after `graceMs`. */
  shutdown(graceMs: number, onClosed: () => void): void {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    // Like an app on SIGTERM: its WebSockets are told it is going away.
    for (const ws of this.#websockets.clients) ws.close(1001, 'replica shutting down');
    // Stops accepting without http.Server#close, which also closes idle connections at once;
    // what arrives on them meanwhile is answered with `Connection: close` (#handle).
    NetServer.prototype.close.call(this.#server, () => {
      this.#finish();
      onClosed();
    });
    const linger = setTimeout(() => this.#server.closeIdleConnections(), Math.min(IDLE_LINGER_MS, graceMs));
    linger.unref();
    this.#timers.add(linger);
    const cut = setTimeout(() => this.kill(), graceMs);
    cut.unref();
    this.#timers.add(cut);
  }

  /** Stops at once: every connection is cut, like a killed process's. */
  kill(): void {
    if (this.#closed) return;
    this.#draining = true;
    this.#server.close(() => this.#finish());
    for (const ws of this.#websockets.clients) ws.terminate();
    for (const socket of this.#sockets) socket.destroy();
    this.#server.closeAllConnections();
    this.#finish();
  }

  #finish(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #echo(ws: WebSocket, req: IncomingMessage): void {
    const { workloadId, protonId, replica } = this.identity;
    ws.send(JSON.stringify({ workloadId, protonId, replica, path: req.url ?? '/', headers: req.headers }));
    ws.on('message', (data, isBinary) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => ws.terminate());
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const { workloadId, protonId, replica } = this.identity;
    res.setHeader('x-workload-id', workloadId);
    res.setHeader('x-proton-id', protonId);
    res.setHeader('x-replica', replica);
    const behaviour = header(req, 'x-sim-behaviour');
    if (behaviour === 'reset') {
      req.socket.destroy();
      return;
    }
    if (behaviour === 'hang') {
      req.resume();
      return;
    }
    const status = intHeader(req, 'x-sim-status') ?? 200;
    if (behaviour === 'echo-body') {
      res.writeHead(status, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    const hash = createHash('sha256');
    const text: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      if (bytes < ECHO_TEXT_LIMIT) text.push(chunk.subarray(0, ECHO_TEXT_LIMIT - bytes));
      bytes += chunk.length;
    });
    req.on('end', () => {
      const respond = () => {
        if (res.destroyed) return;
        // A shutting-down server answers what it has, then lets the connection go.
        if (this.#draining) res.setHeader('connection', 'close');
        const responseBytes = intHeader(req, 'x-sim-response-bytes');
        if (responseBytes !== undefined) {
          writeBytes(res, status, responseBytes, header(req, 'x-sim-chunked') === '1');
          return;
        }
        const url = new URL(req.url ?? '/', 'http://replica');
        const body = JSON.stringify({
          workloadId,
          protonId,
          replica,
          method: req.method,
          path: url.pathname,
          query: url.search,
          headers: req.headers,
          body: Buffer.concat(text).toString('utf8'),
          bodyBytes: bytes,
          bodySha256: hash.digest('hex'),
        });
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      const delay = intHeader(req, 'x-sim-delay-ms');
      if (delay && delay > 0) this.#after(delay, respond);
      else respond();
    });
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function intHeader(req: IncomingMessage, name: string): number | undefined {
  const v = header(req, name);
  if (v === undefined || !/^\d{1,12}$/.test(v)) return undefined;
  return Number(v);
}

function writeBytes(res: ServerResponse, status: number, total: number, chunked: boolean): void {
  res.writeHead(status, { 'content-type': 'application/octet-stream', ...(!chunked && { 'content-length': String(total) }) });
  let left = total;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!res.write(CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/**
 * The servers of every simulated replica of one cluster. The cluster calls `sync` after each
 * change of a pod record and `removed` when a pod is gone; the route resolver asks `origin`.
 */
export class SimulatedReplicaServers {
  readonly #servers = new Map<string, ReplicaServer>();
  /** Servers of removed pods, finishing their requests in flight. */
  readonly #stopping = new Set<ReplicaServer>();
  readonly #host: string;
  readonly #graceMs: number;

  constructor(options: ReplicaServerOptions = {}) {
    this.#host = options.host ?? '127.0.0.1';
    this.#graceMs = options.graceMs ?? 30_000;
  }

  /** Starts, keeps or kills the pod's server to match its primary container. */
  sync(pod: SimPod): void {
    const primary = pod.containers.find((c) => c.spec.primary) ?? pod.containers[0];
    const state = primary?.state;
    const current = this.#servers.get(pod.name);
    if (!state || state.kind !== 'running' || pod.evicted) {
      // The process is gone (crashed, evicted, not started): whatever it served is cut.
      if (current) {
        current.kill();
        this.#servers.delete(pod.name);
      }
      return;
    }
    if (current && current.containerID === state.containerID) return;
    current?.kill();
    this.#servers.set(
      pod.name,
      new ReplicaServer({ workloadId: pod.workloadId, protonId: pod.protonId, replica: pod.name }, state.containerID, this.#host),
    );
  }

  /** The pod is gone: its server finishes the requests in flight and exits. */
  removed(pod: SimPod): void {
    const server = this.#servers.get(pod.name);
    if (!server) return;
    this.#servers.delete(pod.name);
    this.#stopping.add(server);
    server.shutdown(this.#graceMs, () => this.#stopping.delete(server));
  }

  /** The loopback origin of the pod's server once it listens; undefined if it serves nothing. */
  async origin(podName: string): Promise<URL | undefined> {
    const server = this.#servers.get(podName);
    if (!server) return undefined;
    await server.listening;
    return server.origin;
  }

  /** How many replicas serve now. */
  get size(): number {
    return this.#servers.size;
  }

  /** Kills every server (the cluster shuts down). */
  killAll(): void {
    for (const server of [...this.#servers.values(), ...this.#stopping]) server.kill();
    this.#servers.clear();
    this.#stopping.clear();
  }
}
