import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../support/backends.js';
import { startLiveApp, wsClient, type LiveApp } from '../support/live.js';
import { postGraphQL, sseOperation, wsOperation } from '../support/raw-graphql.js';
import type { TestSubject } from '../support/test-app.js';

const caller: TestSubject = { sub: 'exposure-caller' };
const INTROSPECTION = '{ __schema { queryType { name } } }';

async function liveApp(env: Record<string, string>): Promise<{ t: LiveApp; drop: () => Promise<void> }> {
  const db = await createDatabase({ name: 'pglite' });
  return { t: await startLiveApp(db.database, env), drop: db.drop };
}

/** Makes every read of artifacts fail inside the database, with a message that names the table. */
async function breakArtifacts(t: LiveApp) {
  await t.app.orm.em.fork().getConnection().execute('alter table artifact rename to artifact_gone');
}

describe('in production', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ t, drop } = await liveApp({ NODE_ENV: 'production' })));
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('answers introspection for an authenticated caller (GRAPHQL_INTROSPECTION defaults to on)', async () => {
    const outcome = await postGraphQL(t.url, caller, { query: INTROSPECTION });
    expect(outcome.errors).toEqual([]);
    expect(outcome.data).toEqual([{ __schema: { queryType: { name: 'Query' } } }]);
  });

  it.each([
    ['introspection', INTROSPECTION],
    ['a field that does not exist', '{ workloadz { id } }'],
    ['a document that does not parse', '{ workloads {'],
    ['a document over the depth limit', `{ workloads { edges { node { ${'artifact { spec { containerGroups { containers { name } } } } '.repeat(3)} } } } }`],
  ])('refuses %s without credentials with 401 before looking at the document', async (_what, query) => {
    const outcome = await postGraphQL(t.url, null, { query });
    expect(outcome.status).toBe(401);
    expect(outcome.headers.get('www-authenticate')).toBe('Bearer');
    expect(outcome.errors).toHaveLength(1);
    expect(outcome.errors[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    // Nothing about the schema: no validation error, no suggestion, no syntax error.
    expect(outcome.text).not.toMatch(/Cannot query|Did you mean|Syntax Error|depth/);
  });

  it('refuses a subscription over SSE without credentials the same way', async () => {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { workloadChanged(id: "x") { sequence } }' }),
    });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('UNAUTHENTICATED');
  });

  it('masks an unexpected error: a fixed message and a code, nothing of the cause', async () => {
    await breakArtifacts(t);
    const outcome = await postGraphQL(t.url, caller, { query: '{ artifacts { totalCount } }' });
    expect(outcome.errors).toHaveLength(1);
    expect(outcome.errors[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(outcome.errors[0]?.extensions).not.toHaveProperty('originalError');
    expect(outcome.text).not.toMatch(/artifact_gone|relation|stack|\.ts:/);
  });

  it('serves the GraphiQL page with no token preset, and what it sends without one is refused', async () => {
    const page = await (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(page).toContain('GraphiQL');
    expect(page).not.toContain('Bearer ');
    const introspection = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
    });
    expect(introspection.status).toBe(401);
  });
});

describe('in development, with GRAPHQL_INTROSPECTION=false', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => ({ t, drop } = await liveApp({ NODE_ENV: 'development', GRAPHQL_INTROSPECTION: 'false' })));
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it.each([
    ['__schema', INTROSPECTION],
    ['__type', '{ __type(name: "Workload") { fields { name } } }'],
    ['__schema inside a fragment', 'query { ...F } fragment F on Query { __schema { types { name } } }'],
  ])('refuses %s with INTROSPECTION_DISABLED over HTTP, SSE and WebSocket', async (field, query) => {
    const http = await postGraphQL(t.url, caller, { query });
    const sse = await sseOperation(t.url, caller, query);
    const client = await wsClient(t.wsUrl, caller);
    const ws = await wsOperation(client, query).finally(() => client.dispose());
    for (const outcome of [http, sse, ws]) {
      expect(outcome.data).toEqual([]);
      expect(outcome.errors[0]?.extensions).toMatchObject({ code: 'INTROSPECTION_DISABLED' });
      expect(outcome.errors[0]?.message).toContain(`"${field.split(' ')[0]}"`);
    }
  });

  it('still answers __typename', async () => {
    expect((await postGraphQL(t.url, caller, { query: '{ __typename }' })).data).toEqual([{ __typename: 'Query' }]);
  });

  it('names an unknown field without suggesting the fields that exist', async () => {
    const outcome = await postGraphQL(t.url, caller, { query: '{ workloadz { id } }' });
    expect(outcome.errors).toHaveLength(1);
    expect(outcome.errors[0]?.message).toBe('Cannot query field "workloadz" on type "Query".');
  });

  it('shows what an unexpected error masks, in extensions.originalError', async () => {
    await breakArtifacts(t);
    const outcome = await postGraphQL(t.url, caller, { query: '{ artifacts { totalCount } }' });
    expect(outcome.errors[0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(outcome.errors[0]?.extensions?.originalError).toMatchObject({ message: expect.stringContaining('"artifact"') });
  });
});
