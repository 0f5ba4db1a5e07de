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
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEXT_LIMITS } from '../../src/domain/validate.js';
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

/** A character no text input accepts: a C0 control other than tab and line breaks, DEL, a C1 control, an unpaired surrogate. */
const forbiddenInAnyText = fc.oneof(
  fc.integer({ min: 0, max: 0x1f }).filter((c) => c !== 0x09 && c !== 0x0a && c !== 0x0d).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'),
);

/** A text that holds at least one forbidden character, anywhere. */
const badText = fc.tuple(fc.string({ maxLength: 20 }), forbiddenInAnyText, fc.string({ maxLength: 20 })).map(([a, c, b]) => `${a}${c}${b}`);

/** A text over the cap of its field (within the body limit of this run; 900 kB is tried below). */
const tooLong = (max: number) => fc.integer({ min: max + 1, max: Math.min(max * 4, 200_000) }).map((n) => 'x'.repeat(n));

const spec = (container: string) => `{ containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: "nginx:1", primary: true, port: 8080 ${container} }] }] }`;

/**
 * Every free-text input, with where its refusal must point: mutations answer a typed
 * ValidationError whose issue path ends with the field; queries and subscriptions a top-level
 * VALIDATION error with the argument's path. `$v` is the text under test.
 */
const textInputs: { name: string; query: string; field: string; max: number; mutation: boolean }[] = [
  { name: 'artifact name', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: $v, spec: ${spec('')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'name', max: TEXT_LIMITS.name, mutation: true },
  { name: 'artifact description', query: `mutation Fuzz($v: String) { r: createArtifact(input: { name: "a", description: $v, spec: ${spec('')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'description', max: TEXT_LIMITS.description, mutation: true },
  { name: 'environment variable name', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: "a", spec: ${spec('environmentVars: [{ name: $v, value: "1" }]')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'name', max: TEXT_LIMITS.environmentVariableName, mutation: true },
  { name: 'environment variable value', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: "a", spec: ${spec('environmentVars: [{ name: "A", value: $v }]')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'value', max: TEXT_LIMITS.environmentVariableValue, mutation: true },
  { name: 'entrypoint item', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: "a", spec: ${spec('entrypoint: ["sh", $v]')} }) { __typename ... on ValidationError { issues { path } } } }`, field: '1', max: TEXT_LIMITS.entrypointItem, mutation: true },
  { name: 'image URI', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: "a", spec: { containerGroups: [{ name: "default", containers: [{ name: "app", imageUri: $v, primary: true, port: 8080 }] }] } }) { __typename ... on ValidationError { issues { path } } } }`, field: 'imageUri', max: TEXT_LIMITS.imageUri, mutation: true },
  { name: 'memory quantity', query: `mutation Fuzz($v: String) { r: createArtifact(input: { name: "a", spec: ${spec('resources: { memory: $v }')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'memory', max: TEXT_LIMITS.quantity, mutation: true },
  { name: 'probe path', query: `mutation Fuzz($v: String!) { r: createArtifact(input: { name: "a", spec: ${spec('readinessProbe: { path: $v }')} }) { __typename ... on ValidationError { issues { path } } } }`, field: 'path', max: TEXT_LIMITS.probePath, mutation: true },
  { name: 'workload name', query: `mutation Fuzz($v: String!) { r: createWorkload(input: { name: $v, artifact: { name: "a", spec: ${spec('')} } }) { __typename ... on ValidationError { issues { path } } } }`, field: 'name', max: TEXT_LIMITS.name, mutation: true },
  { name: 'workload description', query: `mutation Fuzz($v: String) { r: createWorkload(input: { name: "w", description: $v, artifact: { name: "a", spec: ${spec('')} } }) { __typename ... on ValidationError { issues { path } } } }`, field: 'description', max: TEXT_LIMITS.description, mutation: true },
  { name: 'shared role subject', query: `mutation Fuzz($v: String!, $id: ID!) { r: updateArtifactSharedRoles(input: { id: $id, roles: [{ subjectType: USER, subjectId: $v, role: OWNER }] }) { __typename ... on ValidationError { issues { path } } } }`, field: 'subjectId', max: TEXT_LIMITS.subjectId, mutation: true },
  { name: 'workload search', query: 'query Fuzz($v: String) { r: workloads(filter: { search: $v }) { totalCount } }', field: 'search', max: TEXT_LIMITS.search, mutation: false },
  { name: 'artifact search', query: 'query Fuzz($v: String) { r: artifacts(filter: { search: $v }) { totalCount } }', field: 'search', max: TEXT_LIMITS.search, mutation: false },
];

const badTextInput = fc.tuple(fc.nat(textInputs.length - 1), fc.oneof({ weight: 4, arbitrary: badText }, { weight: 1, arbitrary: fc.constant(null) })).chain(([i, text]) =>
  (text === null ? tooLong(textInputs[i]!.max) : fc.constant(text)).map((v) => ({ input: textInputs[i]!, v })),
);

/** Cursors a client could craft: garbage, base64 of the wrong JSON, non-UUID ids, dates that are not, NUL bytes. */
const craftedCursor = fc.oneof(
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.string({ maxLength: 600 }),
  fc
    .tuple(
      fc.oneof(fc.string({ maxLength: 30, unit: 'binary' }), fc.constantFrom('2026-13-45T99:00:00Z', 'not a date', '', '\u0000', 'x'.repeat(600)), fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.uuid(), fc.constantFrom('not-a-uuid', '00000000-0000-0000-0000-00000000000g', '')),
    )
    .map((position) => Buffer.from(JSON.stringify(position), 'utf8').toString('base64url')),
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url')),
);

const cursorQuery = fc.tuple(
  fc.constantFrom('workloads', 'artifacts'),
  fc.constantFrom('after', 'before'),
  fc.constantFrom('CREATED_AT', 'UPDATED_AT', 'NAME'),
  fc.constantFrom('ASC', 'DESC'),
  craftedCursor,
);

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

  it('refuses a bad text in every free-text input with a typed error naming the field, before anything is written', async () => {
    await fc.assert(
      fc.asyncProperty(badTextInput, async ({ input, v }) => {
        const sent = { body: JSON.stringify({ query: input.query, variables: { v, id: knownIds[0] }, operationName: 'Fuzz' }) };
        const response = await send(sent);
        expectWellFormed(sent, response);
        const context = `${input.name} = ${JSON.stringify(v.slice(0, 60))} (${v.length} characters): ${response.text.slice(0, 400)}`;
        const result = JSON.parse(response.text) as { data?: { r?: { __typename: string; issues?: { path: string[] }[] } }; errors?: { extensions?: { code?: string; path?: string[] } }[] };
        if (input.mutation) {
          expect(result.data?.r?.__typename, context).toBe('ValidationError');
          expect(result.data?.r?.issues?.map((i) => i.path.at(-1)), context).toContain(input.field);
        } else {
          expect(result.errors?.[0]?.extensions?.code, context).toBe('VALIDATION');
          expect(result.errors?.[0]?.extensions?.path, context).toEqual(['filter', input.field]);
        }
      }),
      { seed: SEED, numRuns: RUNS * 2, endOnFailure: true },
    );
  });

  it('answers crafted cursors with INVALID_CURSOR, never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(cursorQuery, async ([list, argument, field, direction, cursor]) => {
        const sent = {
          body: JSON.stringify({
            query: `query Fuzz($c: String) { ${list}(${argument}: $c, orderBy: { field: ${field}, direction: ${direction} }) { edges { node { id } } } }`,
            variables: { c: cursor },
          }),
        };
        const response = await send(sent);
        expectWellFormed(sent, response);
        const result = JSON.parse(response.text) as { errors?: { extensions?: { code?: string; argument?: string } }[] };
        // A well-made position (a real date and a UUID, or a name and a UUID) is a valid cursor: it may page.
        if (result.errors) expect(result.errors[0]?.extensions, response.text).toMatchObject({ code: 'INVALID_CURSOR', argument });
      }),
      { seed: SEED, numRuns: RUNS * 2, endOnFailure: true },
    );
    for (const [position, field] of [
      [['2026-01-01T00:00:00.000Z', 'not-a-uuid'], 'CREATED_AT'],
      [['not a date', '6f1c1c8e-0a4c-4c1e-9f7e-2a4f0e6c1d3b'], 'CREATED_AT'],
      [['hello\u0000', '6f1c1c8e-0a4c-4c1e-9f7e-2a4f0e6c1d3b'], 'NAME'],
    ] as const) {
      const cursor = Buffer.from(JSON.stringify(position)).toString('base64url');
      const response = await send({ body: JSON.stringify({ query: `{ workloads(after: "${cursor}", orderBy: { field: ${field}, direction: ASC }) { totalCount } }` }) });
      expect(JSON.parse(response.text).errors?.[0]?.extensions, JSON.stringify(position)).toMatchObject({ code: 'INVALID_CURSOR', argument: 'after' });
    }
  });

  it('still answers a normal query, and nothing was written', async () => {
    const response = await send({ body: JSON.stringify({ query: '{ artifacts { totalCount } }' }) });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text)).toEqual({ data: { artifacts: { totalCount: 1 } } });
    expect(await rowCounts()).toEqual(before);
  });
});

/** Sends a raw HTTP/1.1 request with whatever Host header and request target a client chooses. */
function rawRequest(url: string, target: string, host: string | undefined): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (host !== undefined) headers.host = host;
    const req = request({ hostname, port, method: 'GET', path: target, headers, setHost: host === undefined }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('malformed request targets in production', () => {
  let t: LiveApp;

  beforeAll(async () => {
    t = await startLiveApp({ kind: 'pglite-memory' }, { NODE_ENV: 'production', GRAPHIQL: 'false', METRICS_ENABLED: 'true' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const hosts = fc.oneof(
    fc.constantFrom('[::1', 'a b', 'host:port', 'host:99999999', 'ex%ample.com', 'exa\\mple', 'a@b', 'x/y', '[zz]', 'h:1:2', '\u00ff\u00fe', ''),
    fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(' ', '%', '[', ']', '/', '\\', '@', '#', '?', '^', '|', '"', '<', '{'), fc.string({ maxLength: 10 }))
      .map(([a, c, b]) => `${a}${c}${b}`.replace(/[^\x20-\x7e]/g, '')),
  );

  it('refuses a 900 kB search (within the default body limit) with a typed error naming the field', async () => {
    for (const list of ['workloads', 'artifacts']) {
      const sent = { body: JSON.stringify({ query: `query Fuzz($v: String) { ${list}(filter: { search: $v }) { totalCount } }`, variables: { v: 'x'.repeat(900_000) } }) };
      const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(caller)}` }, body: sent.body }).then(async (r) => ({ status: r.status, text: await r.text() }));
      expectWellFormed(sent, response);
      const [error] = (JSON.parse(response.text) as { errors: { message: string; extensions: Record<string, unknown> }[] }).errors;
      expect(error?.extensions).toMatchObject({ code: 'VALIDATION', argument: 'filter', path: ['filter', 'search'] });
      expect(error?.message).toContain(`at most ${TEXT_LIMITS.search} characters`);
    }
  });

  it('answers a malformed Host header with 400, unauthenticated, with no stack trace or file path', async () => {
    await fc.assert(
      fc.asyncProperty(hosts, fc.constantFrom('/graphql', '/endpoints/workloads/6f1c1c8e-0a4c-4c1e-9f7e-2a4f0e6c1d3b/', '/healthz', '/anything'), async (host, path) => {
        const { status, body } = await rawRequest(t.url, path, host);
        const context = `Host ${JSON.stringify(host)} ${path}: ${status} ${body.slice(0, 300)}`;
        expect(status, context).toBe(400);
        expect(JSON.parse(body), context).toEqual({ error: 'malformed Host header' });
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });

  it('answers a request target that is not a path with 400, not a stack trace', async () => {
    for (const target of ['http://localhost:4000http://evil/', '*', 'http://[::1/graphql']) {
      const { status, body } = await rawRequest(t.url, target, 'localhost');
      expect(status, `${target}: ${body}`).toBe(400);
      expect(body).not.toMatch(/\bat \S+ \(|\.js:\d+|\.ts:\d+|node_modules|\/work\//);
    }
  });

  it('still serves well-formed hosts (a name, an address, an IPv6 literal, with and without a port)', async () => {
    for (const host of ['localhost', 'api.example.com:443', '127.0.0.1:4000', '[::1]:4000', 'workload-api']) {
      const { status } = await rawRequest(t.url, '/healthz', host);
      expect(status, host).toBe(200);
      const graphql = await rawRequest(t.url, '/graphql?query=%7B__typename%7D', host);
      expect(graphql.status, host).toBe(401);
    }
  });
});
