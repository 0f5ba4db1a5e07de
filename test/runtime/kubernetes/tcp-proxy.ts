/**
 * A TCP proxy between a client and the API server that a test can break on purpose: refuse
 * (connections are cut and new ones refused, like a server that is down) or freeze (bytes stop
 * flowing but sockets stay open, like a dead NAT entry: the failure only a dead-watch timer sees).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeConfig as KubeConfigClass } from '@kubernetes/client-node';

export type ProxyMode = 'pass' | 'refuse' | 'freeze';

export class BreakableProxy {
  mode: ProxyMode = 'pass';
  readonly #server: Server;
  readonly #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #port = 0;

  private constructor(readonly target: { host: string; port: number }) {
    this.#server = createServer((client) => this.#accept(client));
  }

  /** Starts a proxy on a free loopback port in front of `target`. */
  static async start(target: { host: string; port: number }): Promise<BreakableProxy> {
    const proxy = new BreakableProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.#port = (proxy.#server.address() as { port: number }).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** How many client connections are open through the proxy now. */
  get openConnections(): number {
    return this.#pairs.size;
  }

  /** A copy of `kc` whose cluster server is this proxy (TLS still verifies: the certificate names 127.0.0.1). */
  kubeConfigThrough(kc: KubeConfig): KubeConfig {
    const copy = new KubeConfigClass();
    copy.loadFromString(kc.exportConfig());
    const cluster = copy.getCurrentCluster()!;
    const url = new URL(cluster.server);
    url.host = `127.0.0.1:${this.#port}`;
    copy.clusters = copy.clusters.map((c) => (c.name === cluster.name ? { ...c, server: url.toString().replace(/\/$/, '') } : c));
    return copy;
  }

  /** Cuts every connection and refuses new ones. */
  refuse(): void {
    this.mode = 'refuse';
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Stops the bytes of the connections open now; new connections still pass. */
  freeze(): void {
    this.mode = 'pass';
    for (const pair of this.#pairs) {
      pair.client.unpipe();
      pair.upstream.unpipe();
      pair.client.pause();
      pair.upstream.pause();
      (pair as { frozen?: boolean }).frozen = true;
    }
  }

  /** Lets connections through again. */
  pass(): void {
    this.mode = 'pass';
  }

  async close(): Promise<void> {
    this.refuse();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const drop = () => {
      if ((pair as { frozen?: boolean }).frozen) return;
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** The host and port of the API server a kubeconfig points at. */
export function apiServerAddress(kc: KubeConfig): { host: string; port: number } {
  const url = new URL(kc.getCurrentCluster()!.server);
  return { host: url.hostname, port: Number(url.port || 443) };
}
