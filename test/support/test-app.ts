import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult } from 'graphql';
import { pino } from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Backend } from './backends.js';
import { createDatabase } from './backends.js';

/** A clock that tests move by hand. */
export class TestClock {
  constructor(private now = new Date('2026-01-01T00:00:00.000Z')) {}
  readonly read = () => new Date(this.now);
  advance(ms: number): void {
    this.now = new Date(this.now.getTime() + ms);
  }
}

export interface TestApp {
  app: App;
  clock: TestClock;
  /** Every SQL statement sent since the app started (or since `queries.length = 0`). */
  queries: string[];
  /** Runs a typed operation in-process; throws if the response carries top-level errors. */
  exec<TData, TVars>(doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData>;
  /** Runs any document and returns the raw result, errors included. */
  execRaw(query: string, variables?: Record<string, unknown>): Promise<ExecutionResult>;
  stop(): Promise<void>;
}

/** Builds the app on a fresh database of `backend`, with migrations applied. */
export async function startTestApp(backend: Backend, env: Record<string, string> = {}): Promise<TestApp> {
  const { database, drop } = await createDatabase(backend);
  const clock = new TestClock();
  const queries: string[] = [];
  const config = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', ...env });
  const app = await buildApp({
    config,
    database,
    clock: clock.read,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    orm: { onQuery: (message) => {
      if (message.startsWith('[query]')) queries.push(message);
    } },
  });
  const execRaw = async (query: string, variables?: Record<string, unknown>): Promise<ExecutionResult> => {
    const response = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as ExecutionResult;
  };
  return {
    app,
    clock,
    queries,
    execRaw,
    async exec<TData, TVars>(doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData> {
      const result = await execRaw(print(doc), variables as Record<string, unknown>);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as TData;
    },
    async stop() {
      await app.stop();
      await drop();
    },
  };
}
