import { spawn, type ChildProcess } from 'node:child_process';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { DatabaseConfig } from '../../src/store/orm.js';
import { tokenFor, type TestSubject } from './test-app.js';
import { freePort, testEnvironment } from './ports.js';
import { sseEvents } from './sse.js';

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A started app instance with HTTP and WebSocket listeners on a free port. */
export interface LiveApp {
  app: App;
  url: string;
  wsUrl: string;
  exec<TData, TVars>(who: TestSubject, doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData>;
  stop(): Promise<void>;
}

/** Builds and starts an app on `database`, with the test token settings and `env` on top. */
export async function startLiveApp(database: DatabaseConfig, env: Record<string, string> = {}): Promise<LiveApp> {
  const config = loadConfig({
    ...testEnvironment(),
    // The simulated cluster is not under test here: keep it slow so that its events stay few.
    SIMULATED_SPEED: '0.01',
    ...env,
  });
  const app = await buildApp({ config, database, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const url = await app.start();
  return {
    app,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    async exec(who, doc, variables) {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await tokenFor(who)}` },
        body: JSON.stringify({ query: print(doc), variables }),
      });
      const result = (await response.json()) as ExecutionResult;
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as never;
    },
    stop: () => app.stop(),
  };
}

/** What a subscription has received so far. */
export interface Received<TData> {
  data: TData[];
  errors: { message: string; extensions?: Record<string, unknown> }[];
  completed: boolean;
  /** The close event of the connection, when it closed. */
  closed?: { code: number; reason: string };
  /** Waits until `n` payloads arrived. */
  count(n: number, timeoutMs?: number): Promise<TData[]>;
  stop(): void;
}

/** A graphql-ws client that authenticates with connectionParams; it never retries. */
export async function wsClient(wsUrl: string, who: TestSubject | null, extra: { onClosed?: (code: number, reason: string) => void } = {}): Promise<Client> {
  const authorization = who ? `Bearer ${await tokenFor(who)}` : undefined;
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: authorization ? { authorization } : {},
    on: { closed: (event) => {
      const e = event as { code: number; reason: string };
      extra.onClosed?.(e.code, String(e.reason));
    } },
    onNonLazyError: () => {},
  });
}

/** Subscribes over graphql-ws and collects what arrives. */
export function subscribeWs<TData, TVars>(client: Client, doc: TypedDocumentNode<TData, TVars>, variables: TVars): Received<TData> {
  const received: Received<TData> = {
    data: [],
    errors: [],
    completed: false,
    count: (n, timeoutMs) => eventually(() => received.data.length >= n && received.data.slice(0, n), `${n} payloads (have ${received.data.length})`, timeoutMs),
    stop: () => {},
  };
  received.stop = client.subscribe<TData>(
    { query: print(doc), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.data) received.data.push(result.data as TData);
        if (result.errors) received.errors.push(...(result.errors as Received<TData>['errors']));
      },
      error: (err) => {
        if (Array.isArray(err)) received.errors.push(...(err as Received<TData>['errors']));
        else if (err && typeof err === 'object' && 'code' in err) received.closed = { code: Number((err as { code: number }).code), reason: String((err as { reason?: string }).reason) };
        else received.errors.push({ message: String(err) });
      },
      complete: () => {
        received.completed = true;
      },
    },
  );
  return received;
}

/** Subscribes over GraphQL over SSE (Yoga), authenticating with the Authorization header. */
export function subscribeSse<TData, TVars>(url: string, who: TestSubject | { authorization: string }, doc: TypedDocumentNode<TData, TVars>, variables: TVars): Received<TData> & { status: Promise<number> } {
  const abort = new AbortController();
  let resolveStatus: (s: number) => void = () => {};
  const received: Received<TData> & { status: Promise<number> } = {
    data: [],
    errors: [],
    completed: false,
    status: new Promise((r) => (resolveStatus = r)),
    count: (n, timeoutMs) => eventually(() => received.data.length >= n && received.data.slice(0, n), `${n} SSE payloads (have ${received.data.length})`, timeoutMs),
    stop: () => abort.abort(),
  };
  void (async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      signal: abort.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'authorization' in who ? who.authorization : `Bearer ${await tokenFor(who)}` },
      body: JSON.stringify({ query: print(doc), variables }),
    });
    resolveStatus(response.status);
    if (!response.body) return;
    for await (const { event, data: result } of sseEvents(response.body)) {
      if (event === 'complete') received.completed = true;
      else if (result) {
        if (result.data) received.data.push(result.data as TData);
        if (result.errors) received.errors.push(...result.errors);
      }
    }
    received.completed = true;
  })().catch(() => {});
  return received;
}

/** A redis-server of a test's own, on a free port, that the test may stop and start again. */
export interface ThrowawayRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts a throwaway redis-server (no persistence) and waits until it answers. */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout?.on('data', (d: Buffer) => {
        out += String(d);
        if (out.includes('Ready to accept connections')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
    });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    },
  };
}

/** The Redis the suite runs against, or why there is none (REQUIRE_ALL_BACKENDS=1 makes that a failure). */
export function sharedRedis(): { url?: string; missing?: string } {
  const url = process.env.REDIS_URL;
  return url ? { url } : { missing: 'REDIS_URL is not set' };
}
