import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.js';
import { buildSchema } from '../../src/graphql/schema.js';
import { measureComplexity } from '../../src/graphql/limits.js';
import { OBJECT_WEIGHTS } from '../../src/graphql/cost.js';

const W = OBJECT_WEIGHTS;
import { CreateWorkloadDocument } from './generated/graphql.js';
import { createDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startLiveApp, wsClient, type LiveApp } from '../support/live.js';
import { postGraphQL, sseOperation, wsOperation, type Outcome, type WireError } from '../support/raw-graphql.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'limits-owner' };
/** The default `GRAPHQL_MAX_COMPLEXITY`. */
const DEFAULT_LIMIT = loadConfig({}).graphql.limits.maxComplexity;

const LIMITS = {
  GRAPHQL_MAX_DEPTH: '6',
  GRAPHQL_MAX_COMPLEXITY: '1000',
  GRAPHQL_MAX_ALIASES: '2',
  GRAPHQL_MAX_TOKENS: '400',
  GRAPHQL_MAX_DIRECTIVES: '2',
  GRAPHQL_MAX_DOCUMENT_BYTES: '3000',
  GRAPHQL_MAX_BODY_BYTES: '16384',
};

const PAGE = 'query Page($n: Int) { workloads(first: $n) { edges { node { id name artifact { name } } } } }';
const EVENTS =
  'subscription Events($id: ID!, $n: Int) { workloadChanged(id: $id) { sequence workload { events(first: $n) { edges { node { sequence type message } } } } } }';

/** One operation over one limit per row: what it is, the document, its variables, the limit, its max, the measured value. */
const overLimit: [string, string, Record<string, unknown>, string, number, number | undefined][] = [
  ['a query nested 7 deep', '{ workloads(first: 1) { edges { node { protons { replicas { containers { name } } } } } } }', {}, 'depth', 6, 7],
  [
    'a subscription nested 7 deep',
    'subscription($id: ID!) { workloadChanged(id: $id) { workload { artifact { spec { containerGroups { containers { name } } } } } } }',
    { id: 'V29ya2xvYWQ6eA==' },
    'depth',
    6,
    7,
  ],
  ['three aliases', '{ a: workloads(first: 1) { totalCount } b: workloads(first: 1) { totalCount } c: workloads(first: 1) { totalCount } }', {}, 'aliases', 2, 3],
  [
    'three directives',
    '{ workloads(first: 1) { totalCount @include(if: true) edges @skip(if: false) { cursor @include(if: true) } } }',
    {},
    'directives',
    2,
    3,
  ],
  ['over 400 tokens in 1.4 kB', `{ workloads(first: 1) { edges { node { ${'id '.repeat(450)} } } } }`, {}, 'tokens', 400, undefined],
  ['a 4 kB document of one field and a comment', `# ${'x'.repeat(4000)}\n{ __typename }`, {}, 'documentBytes', 3000, 4003 + '{ __typename }'.length],
  // Each row weighs its edge (a row's weight), its node, and its fields; an artifact its weight and its fields.
  ['a page of 100 (the page size weighs each row and its selection)', PAGE, { n: 100 }, 'complexity', 1000, 1 + 100 * (OBJECT_WEIGHTS.row + 3 + OBJECT_WEIGHTS.artifact + 1)],
  ['a subscription reading 100 events per change', EVENTS, { id: 'V29ya2xvYWQ6eA==', n: 100 }, 'complexity', 1000, 4 + 100 * (OBJECT_WEIGHTS.row + 4)],
];

function expectRefused(outcome: Outcome, limit: string, max: number, actual: number | undefined, transport: 'http' | 'sse' | 'ws') {
  expect(outcome.data).toEqual([]);
  expect(outcome.errors).toHaveLength(1);
  const [error] = outcome.errors as [WireError];
  expect(error.message).toMatch(/exceeds the limit of \d+/);
  expect(error.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit, max });
  expect(error.extensions?.actual).toBe(actual);
  // Yoga keeps the HTTP status hint to itself; graphql-ws passes extensions through as they are.
  if (transport !== 'ws') expect(error.extensions).not.toHaveProperty('http');
}

describe('limits on what one GraphQL operation may weigh', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  let ws: Client;
  let workloadId: string;

  beforeAll(async () => {
    const db = await createDatabase({ name: 'pglite' });
    drop = db.drop;
    t = await startLiveApp(db.database, LIMITS);
    ws = await wsClient(t.wsUrl, owner);
    const { createWorkload } = await t.exec(owner, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    workloadId = createWorkload.workload.id;
  });
  afterAll(async () => {
    await ws?.dispose();
    await t?.stop();
    await drop?.();
  });

  describe.each(overLimit)('%s', (_what, query, variables, limit, max, actual) => {
    it(`is refused over HTTP with ${limit === 'documentBytes' ? 413 : 400}, naming the limit`, async () => {
      const outcome = await postGraphQL(t.url, owner, { query, variables }, { accept: 'application/graphql-response+json' });
      expect(outcome.status).toBe(limit === 'documentBytes' ? 413 : 400);
      expectRefused(outcome, limit, max, actual, 'http');
      // With the older media type, a refused operation is a 200 like any other validation error (GraphQL over HTTP).
      const legacy = await postGraphQL(t.url, owner, { query, variables });
      expect(legacy.status).toBe(200);
      expectRefused(legacy, limit, max, actual, 'http');
    });

    it('is refused over WebSocket the same way', async () => {
      expectRefused(await wsOperation(ws, query, variables), limit, max, actual, 'ws');
    });

    it('is refused over SSE the same way', async () => {
      expectRefused(await sseOperation(t.url, owner, query, variables), limit, max, actual, 'sse');
    });
  });

  it('counts what it refuses in the operation metrics: rejected before execution, an error during it', async () => {
    const count = async (type: string, name: string, outcome: string) => {
      const text = await t.app.metrics.registry.metrics();
      const line = text.split('\n').find((l) => l.startsWith(`workload_api_graphql_operations_total{operation_type="${type}",operation_name="${name}",outcome="${outcome}"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const before = [await count('query', 'Page', 'error'), await count('query', 'Deep', 'rejected'), await count('unknown', 'Big', 'rejected')];
    await postGraphQL(t.url, owner, { query: PAGE, variables: { n: 100 }, operationName: 'Page' });
    await postGraphQL(t.url, owner, { query: 'query Deep { workloads { edges { node { protons { replicas { containers { name } } } } } } }' });
    await postGraphQL(t.url, owner, { query: `# ${'x'.repeat(4000)}\nquery Big { __typename }`, operationName: 'Big' });
    expect([await count('query', 'Page', 'error'), await count('query', 'Deep', 'rejected'), await count('unknown', 'Big', 'rejected')]).toEqual(
      before.map((n) => n + 1),
    );
  });

  it('measures a connection by the page it asks for: first: 100 costs about 100 times first: 1', () => {
    const schema = buildSchema();
    const cost = (n: number) => measureComplexity({ schema, document: parse(`{ workloads(first: ${n}) { edges { node { id name } } } }`) });
    // Per row: its edge (35, measured), the node (1) and its two fields.
    expect(cost(1)).toBe(1 + 1 * (W.row + 1 + 2));
    expect(cost(100)).toBe(1 + 100 * (W.row + 1 + 2));
    // Without `first`, the default page of 20; beyond the largest page, what the server could return.
    expect(measureComplexity({ schema, document: parse('{ workloads { edges { node { id name } } } }') })).toBe(cost(20));
    expect(cost(100_000)).toBe(cost(100));
  });

  it('weighs statistics as an aggregate query and a series as many points', () => {
    const schema = buildSchema();
    const cost = (selection: string) => measureComplexity({ schema, document: parse(`{ workloads(first: 100) { edges { node { ${selection} } } } }`) });
    // Per workload: its row (35), the node (1), statistics (8,750), its requestCount (1); a series of 60 points of one field each.
    expect(cost('statistics { requestCount }')).toBe(1 + 100 * (W.row + 1 + 8750 + 1));
    expect(cost('statistics { series { requestCount } }')).toBe(1 + 100 * (W.row + 1 + 8750 + 1 + 60 * 1));
    // So the statistics of a full page of workloads are over the default limit; of a default page (20), within it.
    expect(cost('statistics { requestCount }')).toBeGreaterThan(DEFAULT_LIMIT);
    expect(measureComplexity({ schema, document: parse('{ workloads { edges { node { statistics { requestCount } } } } }') })).toBeLessThan(DEFAULT_LIMIT);
  });

  it('lets the console\'s workload list through at the largest page, replicas included, and weighs protons and replicas by their bounds', () => {
    const schema = buildSchema();
    const console = readFileSync(new URL('../../console/src/operations.graphql', import.meta.url), 'utf8');
    const list = (first: number) => measureComplexity({ schema, document: parse(console), variableValues: { first }, operationName: 'ConsoleWorkloads' });
    expect(list(100)).toBeLessThanOrEqual(DEFAULT_LIMIT);
    const protons = (selection: string) => measureComplexity({ schema, document: parse(`{ workloads(first: 1) { edges { node { protons { ${selection} } } } } }`) });
    // At most 3 protons (active, candidate, previous), each weighing a proton's weight beyond its fields; each replica its weight beyond its fields, at most 10 of them.
    expect(protons('id')).toBe(1 + (W.row + 1 + (3 * W.proton + 3 * 1)));
    expect(protons('replicas { name }')).toBe(1 + (W.row + 1 + (3 * W.proton + 3 * (10 * W.replica + 10 * 1))));
    // An artifact weighs its weight beyond its fields, on a workload and on a proton.
    expect(protons('artifact { name }')).toBe(1 + (W.row + 1 + (3 * W.proton + 3 * (W.artifact + 1))));
  });

  it('runs the same documents within the limits on every transport, with the cost taken from the variables', async () => {
    const http = await postGraphQL(t.url, owner, { query: PAGE, variables: { n: 10 } });
    expect(http.status).toBe(200);
    expect(http.errors).toEqual([]);
    expect(http.data).toHaveLength(1);
    // The same document over the limit again: a result cached for the small page must not pass it.
    expect((await postGraphQL(t.url, owner, { query: PAGE, variables: { n: 100 } })).errors[0]?.extensions?.limit).toBe('complexity');

    const overWs = await wsOperation(ws, PAGE, { n: 10 });
    expect(overWs.errors).toEqual([]);
    expect(overWs.data).toHaveLength(1);

    const live = await sseOperation(t.url, owner, EVENTS, { id: workloadId, n: 5 }, (o) => o.data.length > 0 || o.errors.length > 0);
    expect(live.errors).toEqual([]);
    expect(live.data[0]).toMatchObject({ workloadChanged: { workload: { events: { edges: expect.any(Array) } } } });

    const liveWs = await new Promise<Outcome>((resolve) => {
      const outcome: Outcome = { data: [], errors: [] };
      const stop = ws.subscribe(
        { query: EVENTS, variables: { id: workloadId, n: 5 } },
        {
          next: (r) => {
            if (r.data) outcome.data.push(r.data);
            if (r.errors) outcome.errors.push(...(r.errors as WireError[]));
            stop();
            resolve(outcome);
          },
          error: (err) => resolve({ data: [], errors: [{ message: String(err) }] }),
          complete: () => resolve(outcome),
        },
      );
    });
    expect(liveWs.errors).toEqual([]);
    expect(liveWs.data).toHaveLength(1);
  });

  it('lets the GraphiQL introspection query through (its depth is not counted; its cost is 1)', async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const outcome = await postGraphQL(t.url, owner, { query: getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }) });
    expect(outcome.errors).toEqual([]);
    expect(outcome.data[0]).toHaveProperty('__schema.queryType.name', 'Query');
  });

  it('refuses an HTTP body over GRAPHQL_MAX_BODY_BYTES with 413 before reading a document from it', async () => {
    const body = JSON.stringify({ query: '{ __typename }', variables: { padding: 'p'.repeat(20_000) } });
    const outcome = await postGraphQL(t.url, owner, body);
    expect(outcome.status).toBe(413);
    expect(outcome.errors[0]?.extensions).toMatchObject({ code: 'REQUEST_ENTITY_TOO_LARGE' });

    // Also when the body arrives in chunks, without a Content-Length to refuse it by.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new TextEncoder().encode(i === 0 ? body.slice(0, 5000) : body.slice(i * 5000, (i + 1) * 5000)));
        controller.close();
      },
    });
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${await tokenFor(owner)}` },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
  });

  it('closes a WebSocket connection whose message is over GRAPHQL_MAX_BODY_BYTES with 1009, and only that one', async () => {
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await tokenFor(owner)}` }, padding: 'p'.repeat(20_000) }));
    expect(await closed).toBe(1009);
    // Other connections are unaffected.
    expect((await wsOperation(ws, '{ __typename }')).data).toEqual([{ __typename: 'Query' }]);
  });
});
