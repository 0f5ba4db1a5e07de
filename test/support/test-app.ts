import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult } from 'graphql';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Backend } from './backends.js';
import { createDatabase } from './backends.js';
import { testEnvironment } from './ports.js';
import type { ProtonRuntime } from '../../src/runtime/proton-runtime.js';

/** A clock that tests move by hand. */
export class TestClock {
  constructor(private now = new Date('2026-01-01T00:00:00.000Z')) {}
  readonly read = () => new Date(this.now);
  advance(ms: number): void {
    this.now = new Date(this.now.getTime() + ms);
  }
}

/** The HS256 secret every test app verifies tokens with. */
export const TEST_JWT_SECRET = testEnvironment().AUTH_JWT_SECRET!;
export const TEST_ISSUER = testEnvironment().AUTH_ISSUER!;

/** Claims of a test caller: a user id and, optionally, groups, organization and roles. */
export interface TestSubject {
  sub: string;
  groups?: string[];
  org?: string;
  roles?: string[];
}

/** Signs a token the test apps accept (or, with options, one they must refuse). */
export async function tokenFor(
  subject: TestSubject,
  options: { secret?: string; expiresInSeconds?: number; issuer?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const { sub, ...claims } = subject;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(options.issuer ?? TEST_ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600))
    .sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** A caller bound to a token. */
export interface TestCaller {
  exec<TData, TVars>(doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData>;
  execRaw(query: string, variables?: Record<string, unknown>): Promise<ExecutionResult>;
}

export interface TestApp {
  app: App;
  clock: TestClock;
  /** Every SQL statement sent since the app started (or since `queries.length = 0`). */
  queries: string[];
  /** Runs a typed operation in-process as the default caller (user "developer"); throws on top-level errors. */
  exec<TData, TVars>(doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData>;
  /** Runs any document as the default caller and returns the raw result, errors included. */
  execRaw(query: string, variables?: Record<string, unknown>): Promise<ExecutionResult>;
  /** The same, as another caller; `null` sends no credentials, a string sends that Authorization header. */
  as(who: TestSubject | string | null): TestCaller;
  /** Another API replica on the same database (no controller): what one process keeps to itself, the other does not see. */
  replica(): Promise<{ as(who: TestSubject): TestCaller; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

/** Whether a statement of `TestApp.queries` is the one a controller pass reads its workload with (`readRoundRows`). */
export const isPassViewRead = (query: string): boolean => /^\[query\] select w\.id, w\.importance, w\.created_at, /.test(query);

/** Builds the app on a fresh database of `backend`, with migrations applied. */
export async function startTestApp(
  backend: Backend,
  env: Record<string, string> = {},
  options: { controller?: boolean; runtime?: ProtonRuntime; clock?: () => Date } = {},
): Promise<TestApp> {
  const { database, drop } = await createDatabase(backend);
  const clock = new TestClock();
  const queries: string[] = [];
  const config = loadConfig(testEnvironment(env));
  const build = (runtime?: ProtonRuntime) =>
    buildApp({
      config,
      database,
      clock: options.clock ?? clock.read,
      ...(runtime && { runtime }),
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      orm: { onQuery: (message) => {
        if (message.startsWith('[query]')) queries.push(message);
      } },
    });
  const app = await build(options.runtime);
  if (options.controller) await app.controller.start();
  const callerOf = (app: App) => (authorization: Promise<string | null>): TestCaller => {
    const execRaw = async (query: string, variables?: Record<string, unknown>): Promise<ExecutionResult> => {
      const auth = await authorization;
      const response = await app.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as ExecutionResult;
    };
    return {
      execRaw,
      async exec<TData, TVars>(doc: TypedDocumentNode<TData, TVars>, variables: TVars): Promise<TData> {
        const result = await execRaw(print(doc), variables as Record<string, unknown>);
        if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
        return result.data as TData;
      },
    };
  };
  const caller = callerOf(app);
  const bearer = async (subject: TestSubject) => `Bearer ${await tokenFor(subject)}`;
  const developer = caller(bearer({ sub: 'developer' }));
  return {
    app,
    clock,
    queries,
    execRaw: developer.execRaw,
    exec: developer.exec,
    as: (who) => caller(Promise.resolve(who === null ? null : typeof who === 'string' ? who : bearer(who)).then((x) => x)),
    async replica() {
      const other = await build();
      return { as: (who: TestSubject) => callerOf(other)(bearer(who)), stop: () => other.stop() };
    },
    async stop() {
      await app.stop();
      await drop();
    },
  };
}
