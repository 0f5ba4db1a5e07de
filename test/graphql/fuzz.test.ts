import fc from 'fast-check';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isAbstractType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/graphql/schema.js';
import { CreateArtifactDocument } from './generated/graphql.js';
import { createDatabase } from '../support/backends.js';
import { artifactInput } from '../support/fixtures.js';
import { startLiveApp, type LiveApp } from '../support/live.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';

/**
 * Sends generated documents, variables and bodies to a running app over HTTP and checks that every
 * answer is a well-formed GraphQL response with an expected status, that nothing unexpected
 * happened inside (no masked internal error), that nothing was written, and that the server still
 * answers a normal query afterwards. FUZZ_SEED=<n> replays a run; FUZZ_RUNS=<n> runs longer.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const caller: TestSubject = { sub: 'fuzz-caller' };
/** Small enough that generated documents reach it; the defaults are tested elsewhere. */
const ENV = { GRAPHQL_MAX_BODY_BYTES: String(256 * 1024), GRAPHQL_MAX_DOCUMENT_BYTES: String(16 * 1024) };
const EXPECTED_STATUS = [200, 400, 413];

const schema = buildSchema();
/** Ids of objects that exist, so that generated documents also reach past "not found". */
const knownIds: string[] = [];

interface Sent {
  body: string | Uint8Array<ArrayBuffer>;
}

// ---- Generators ------------------------------------------------------------------------------

const jsonString = (s: string) => JSON.stringify(s);
const names = (type: GraphQLObjectType) => Object.keys(type.getFields());

/** A literal for an input type: usually of the right shape, sometimes of the wrong one. */
function literal(g: fc.GeneratorValue, type: GraphQLInputType, depth = 0): string {
  if (depth > 3 || g(fc.integer, { min: 0, max: 9 }) === 0) return g(fc.constantFrom, '42', '"x"', 'null', '[1, 2]', '{ a: 1 }', 'true', '1e999');
  const nullable = getNullableType(type);
  if (isListType(nullable)) return `[${literal(g, nullable.ofType, depth + 1)}]`;
  if (isEnumType(nullable)) return g(fc.constantFrom, ...nullable.getValues().map((v) => v.name), 'NOT_A_VALUE');
  if (isInputObjectType(nullable)) {
    const fields = Object.values(nullable.getFields()).filter(() => g(fc.boolean));
    return `{ ${fields.map((f) => `${f.name}: ${literal(g, f.type, depth + 1)}`).join(', ')} }`;
  }
  switch (nullable.name) {
    case 'Int':
      return String(g(() => fc.oneof(fc.integer({ min: -5, max: 200 }), fc.constant(2 ** 31), fc.constant(-1))));
    case 'Boolean':
      return String(g(fc.boolean));
    case 'ID':
      return jsonString(knownIds.length > 0 && g(fc.boolean) ? knownIds[g(fc.nat, knownIds.length - 1)]! : g(fc.string, { maxLength: 24 }));
    case 'DateTime':
      return jsonString(g(() => fc.oneof(fc.constant('2026-01-01T00:00:00Z'), fc.string({ maxLength: 12 }))));
    default:
      return jsonString(g(fc.string, { maxLength: 24, unit: 'binary' }));
  }
}

/** A selection on `type`, of its real fields (with arguments and aliases), `depth` levels deep at most. */
function selection(g: fc.GeneratorValue, type: GraphQLNamedType, depth: number): string {
  if (isAbstractType(type)) {
    const possible = schema.getPossibleTypes(type);
    const picked = possible.filter(() => g(fc.integer, { min: 0, max: 3 }) === 0).slice(0, 3);
    return `__typename ${picked.map((t) => `... on ${t.name} { ${selection(g, t, depth - 1)} }`).join(' ')}`;
  }
  if (!isObjectType(type) || depth <= 0) return '__typename';
  const fields = type.getFields();
  const picked = g(() => fc.uniqueArray(fc.constantFrom(...names(type)), { minLength: 1, maxLength: 4 }));
  return picked.map((name) => field(g, fields[name]!, depth)).join(' ');
}

function field(g: fc.GeneratorValue, f: GraphQLField<unknown, unknown>, depth: number): string {
  const args = f.args.filter((a) => isNonNullType(a.type) || g(fc.boolean));
  const argText = args.length ? `(${args.map((a) => `${a.name}: ${literal(g, a.type)}`).join(', ')})` : '';
  const alias = g(fc.integer, { min: 0, max: 5 }) === 0 ? `a${g(fc.nat, 99)}: ` : '';
  const named = getNamedType(f.type);
  const sub = isLeafType(named) ? '' : ` { ${selection(g, named, depth - 1)} }`;
  return `${alias}${f.name}${argText}${sub}`;
}

/** Documents built from the schema's own names: mostly valid queries, with wrong arguments now and then. */
const schemaQuery = fc.gen().map((g) => `query Fuzz { ${selection(g, schema.getQueryType()!, g(fc.integer, { min: 1, max: 7 }))} }`);

/**
 * Mutations that can never run: every one leaves out a required argument, so validation refuses
 * the operation before any resolver (the fuzz must write nothing).
 */
const mutationFields = Object.values(schema.getMutationType()!.getFields()).filter((f) => f.args.some((a) => isNonNullType(a.type)));
const refusedMutation = fc.gen().map((g) => {
  // By index: fast-check compares generated values, and a field definition is a cyclic graph.
  const f = mutationFields[g(fc.nat, mutationFields.length - 1)]!;
  const optional = f.args.filter((a) => !isNonNullType(a.type) && g(fc.boolean));
  const argText = optional.length ? `(${optional.map((a) => `${a.name}: ${literal(g, a.type)}`).join(', ')})` : '';
  return `mutation { ${f.name}${argText} { __typename } }`;
});

const fieldNames = [...new Set([...names(schema.getQueryType()!), 'edges', 'node', 'workload', 'artifact', 'protons', 'replicas', 'spec', '__typename', '__schema'])];
const deepNesting = fc
  .tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom(...fieldNames))
  .map(([depth, name]) => `${'{ '.concat(name, ' ').repeat(depth)}id${' }'.repeat(depth)}`);

const hugeDocument = fc
  .tuple(fc.integer({ min: 1_000, max: 40_000 }), fc.constantFrom('id ', 'a: workloads { totalCount } ', '__typename ', '# comment\n', '"str" '))
  .map(([n, piece]) => `{ workloads { edges { node { ${piece.repeat(n)} } } } }`);

const garbage = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.constantFrom('{', '}', '(', ')', '[', ']', '...', '$', ':', '@', '!', '=', '"', '"""', '#', 'query', 'mutation', 'subscription', 'fragment', 'on', 'workloads', ' ', '\n'), maxLength: 80 }),
);

/** A request body: a JSON envelope around a document (and variables), or bytes that are not one. */
const jsonBody = (query: fc.Arbitrary<string>) =>
  fc
    .record(
      {
        query,
        variables: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 3 })),
        operationName: fc.oneof(fc.constant(undefined), fc.constant('Fuzz'), fc.string({ maxLength: 10 })),
      },
      { requiredKeys: ['query'] },
    )
    .map((envelope): Sent => ({ body: JSON.stringify(envelope) }));

/** Declared variables that receive values of every other type. */
const wrongVariables = fc
  .tuple(
    fc.constantFrom(
      'query Fuzz($n: Int) { workloads(first: $n) { totalCount } }',
      'query Fuzz($id: ID!) { workload(id: $id) { __typename } }',
      'query Fuzz($f: WorkloadFilter) { workloads(filter: $f) { totalCount } }',
      'query Fuzz($o: WorkloadOrder, $a: String) { workloads(orderBy: $o, after: $a) { totalCount } }',
      'query Fuzz($from: DateTime, $id: ID!) { workload(id: $id) { ... on Workload { statistics(from: $from) { __typename } } } }',
      'mutation Fuzz($input: CreateArtifactInput!) { createArtifact(input: $input) { __typename } }',
    ),
    fc.dictionary(fc.constantFrom('n', 'id', 'f', 'o', 'a', 'from', 'input'), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(2 ** 53), fc.constant('9'.repeat(400)))),
  )
  .map(([query, variables]): Sent => ({ body: JSON.stringify({ query, variables, operationName: 'Fuzz' }) }));

/** JSON-looking bodies with bytes that are not UTF-8 (lone continuation bytes, overlongs, surrogates). */
const malformedUtf8 = fc
  .tuple(fc.string({ maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]))
  .map(([text, noise, bad]): Sent => {
    const head = new TextEncoder().encode(`{"query":"{ workloads { totalCount } } # ${text.replace(/["\\]/g, '')}`);
    const tail = new TextEncoder().encode('"}');
    const bytes = new Uint8Array(head.length + bad.length + noise.length + tail.length);
    bytes.set(head, 0);
    bytes.set(bad, head.length);
    bytes.set(noise, head.length + bad.length);
    bytes.set(tail, head.length + bad.length + noise.length);
    return { body: bytes };
  });

const rawGarbage = fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })).map((body): Sent => ({ body }));

// ---- The run ---------------------------------------------------------------------------------

interface WireResponse {
  status: number;
  text: string;
}

function expectWellFormed(sent: Sent, response: WireResponse): void {
  const context = `status ${response.status} for ${typeof sent.body === 'string' ? sent.body.slice(0, 300) : `${sent.body.length} bytes`}: ${response.text.slice(0, 300)}`;
  expect(EXPECTED_STATUS, context).toContain(response.status);
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(response.text)), context).not.toThrow();
  expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), context).toBe(true);
  const result = parsed as { data?: unknown; errors?: unknown };
  if (result.errors === undefined) {
    expect(typeof result.data === 'object' && result.data !== null, context).toBe(true);
    return;
  }
  expect(Array.isArray(result.errors) && result.errors.length > 0, context).toBe(true);
  for (const error of result.errors as unknown[]) {
    expect(typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string', context).toBe(true);
    // A masked error is a failure inside the server: the fuzz found a bug.
    expect((error as { extensions?: { code?: unknown } }).extensions?.code, context).not.toBe('INTERNAL_SERVER_ERROR');
  }
}

describe('fuzzing the GraphQL endpoint over HTTP', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  let authorization: string;
  let rowCounts: () => Promise<Record<string, number>>;
  let before: Record<string, number>;

  beforeAll(async () => {
    console.info(`GraphQL fuzz: seed ${SEED}, ${RUNS} runs per property (FUZZ_SEED=${SEED} replays this run)`);
    const db = await createDatabase({ name: 'pglite' });
    drop = db.drop;
    t = await startLiveApp(db.database, ENV);
    authorization = `Bearer ${await tokenFor(caller)}`;
    // Something to read, so that generated queries reach resolvers and the database. An artifact,
    // not a workload: the controller would go on writing a workload's progress during the run.
    const { createArtifact } = await t.exec(caller, CreateArtifactDocument, { input: artifactInput() as never });
    if (createArtifact.__typename !== 'CreateArtifactPayload') throw new Error(JSON.stringify(createArtifact));
    knownIds.push(createArtifact.artifact.id);
    const connection = t.app.orm.em.fork().getConnection();
    const tables = (await connection.execute<{ name: string }[]>("select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1")).map((r) => r.name);
    expect(tables).toContain('workload_event');
    rowCounts = async () => {
      const counts: Record<string, number> = {};
      for (const name of tables) {
        const [row] = await connection.execute<{ n: number }[]>(`select count(*)::int as n from "${name}"`);
        counts[name] = Number(row?.n);
      }
      return counts;
    };
    before = await rowCounts();
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  async function send(sent: Sent): Promise<WireResponse> {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization },
      body: sent.body,
    });
    return { status: response.status, text: await response.text() };
  }

  const properties: [string, fc.Arbitrary<Sent>, number][] = [
    ['random strings as documents', jsonBody(garbage), RUNS],
    ['random bodies that are not a GraphQL request', rawGarbage, RUNS],
    ['deeply nested selections', jsonBody(deepNesting), RUNS],
    ['huge documents', jsonBody(hugeDocument), Math.ceil(RUNS / 3)],
    ['malformed UTF-8 in the body', malformedUtf8, RUNS],
    ['variables of the wrong type', wrongVariables, RUNS],
    ['documents built from the schema, with wrong arguments now and then', jsonBody(schemaQuery), RUNS * 2],
    ['mutations that leave out a required argument', jsonBody(refusedMutation), RUNS],
  ];

  it.each(properties)('answers %s with a well-formed GraphQL response', async (_what, arbitrary, numRuns) => {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (sent) => expectWellFormed(sent, await send(sent))),
      { seed: SEED, numRuns, endOnFailure: true },
    );
  });

  it('still answers a normal query, and nothing was written', async () => {
    const response = await send({ body: JSON.stringify({ query: '{ artifacts { totalCount } }' }) });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ data: { artifacts: { totalCount: 1 } } });
    expect(await rowCounts()).toEqual(before);
  });
});
