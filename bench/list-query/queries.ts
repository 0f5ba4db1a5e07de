/** The documents the list-query benchmark sends, and its floor server. */

/** Issue #14's list: the page, its total, each workload's artifact and current protons. */
export const LIST_QUERY = `query List($first: Int!) {
  workloads(first: $first) {
    totalCount
    edges { node { id name status importance createdAt artifact { id name status version } protons { id role status } } }
  }
}`;

/**
 * The JSON of LIST_QUERY's `workloads` field for a caller with only a user grant (the bench's),
 * built by PostgreSQL: the page, its total, each workload's artifact and current protons. `$1` is
 * the subject, `$2` the page size.
 */
function workloadsJsonSql(): string {
  const gid = (type: string, col: string) => `encode(convert_to('${type}:' || ${col}, 'UTF8'), 'base64')`;
  const iso = (col: string) => `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const visible = `w.deleted_at is null and exists (select 1 from workload_shared_role g where g.workload_id = w.id and g.subject_type = 'user' and g.subject_id = $1)`;
  return `json_build_object(
    'totalCount', (select count(*) from workload w where ${visible}),
    'edges', coalesce((select json_agg(json_build_object('node', json_build_object(
        'id', ${gid('Workload', 'w.id')}, 'name', w.name, 'status', upper(w.status::text), 'importance', upper(w.importance::text),
        'createdAt', ${iso('w.created_at')},
        'artifact', (select json_build_object('id', ${gid('Artifact', 'a.id')}, 'name', a.name, 'status', upper(a.status::text), 'version', a.version)
                       from artifact a where a.id = w.artifact_id),
        'protons', (select coalesce(json_agg(json_build_object('id', ${gid('Proton', 'p.id')}, 'role', upper(p.role::text), 'status', upper(p.status::text))
                                             order by p.role, p.created_at), '[]'::json)
                      from proton p where p.workload_id = w.id and p.removed_at is null)))
      order by w.created_at desc, w.id desc)
      from (select * from workload w where ${visible} order by w.created_at desc, w.id desc limit $2) w), '[]'::json))`;
}

/** The floor's one statement: the same JSON as the API's whole answer to LIST_QUERY. */
export function floorSql(): string {
  return `select json_build_object('data', json_build_object('workloads', ${workloadsJsonSql()})) as body`;
}

/** The floor: a bare node:http server that answers every POST with the floor statement's JSON. */
export const FLOOR_SERVER = `
import http from 'node:http';
import pg from 'pg';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, idleTimeoutMillis: 0 });
const sql = ${JSON.stringify(floorSql())};
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', async () => {
    try {
      const { first, subject } = JSON.parse(body);
      // The JSON is built by PostgreSQL; pg parses it, so it is serialized once more here.
      const { rows } = await pool.query(sql, [subject, first]);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(rows[0].body));
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening http://127.0.0.1:' + server.address().port + '/'));
`;

/**
 * The GraphQL floor: the least a GraphQL server on this stack does for LIST_QUERY. graphql-yoga
 * over node:http with a schema of just the list's types (plain strings for enums and times), the
 * caller's token verified (jose, HS256, as the API's), and one resolver that answers the
 * `workloads` field with the floor statement's JSON, which graphql-js then walks with its default
 * resolvers. What it spends beyond the bare floor is what GraphQL over HTTP itself costs here.
 */
export const GRAPHQL_FLOOR_SERVER = `
import http from 'node:http';
import pg from 'pg';
import { GraphQLError } from 'graphql';
import { createSchema, createYoga } from 'graphql-yoga';
import { jwtVerify } from 'jose';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, idleTimeoutMillis: 0 });
const secret = new TextEncoder().encode(process.env.AUTH_JWT_SECRET);
// Each distinct Authorization header verified once, as the API's cached authenticator does.
const verified = new Map();
const subjectOf = async (authorization) => {
  let subject = verified.get(authorization);
  if (subject === undefined) {
    ({ payload: { sub: subject } } = await jwtVerify(authorization.replace(/^Bearer /, ''), secret, { algorithms: ['HS256'] }));
    verified.set(authorization, subject);
  }
  return subject;
};
const sql = ${JSON.stringify(`select ${workloadsJsonSql()} as workloads`)};
const schema = createSchema({
  typeDefs: \`
    type Artifact { id: ID! name: String! status: String! version: Int }
    type Proton { id: ID! role: String! status: String! }
    type Workload { id: ID! name: String! status: String! importance: String! createdAt: String! artifact: Artifact! protons: [Proton!]! }
    type WorkloadEdge { node: Workload! }
    type WorkloadConnection { totalCount: Int! edges: [WorkloadEdge!]! }
    type Query { workloads(first: Int!): WorkloadConnection! }
  \`,
  resolvers: {
    Query: {
      workloads: async (_root, { first }, ctx) => {
        let subject;
        try {
          subject = await subjectOf(ctx.request.headers.get('authorization') ?? '');
        } catch {
          throw new GraphQLError('unauthenticated', { extensions: { code: 'UNAUTHENTICATED' } });
        }
        return (await pool.query(sql, [subject, first])).rows[0].workloads;
      },
    },
  },
});
const yoga = createYoga({ schema, graphiql: false, logging: false });
const server = http.createServer(yoga);
// Exits on SIGTERM (as the API does), so that a --cpu-prof run writes its profile.
process.once('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(0, '127.0.0.1', () => console.log('listening http://127.0.0.1:' + server.address().port + '/graphql'));
`;

const node = (fields: string) => `query V($first: Int!) { workloads(first: $first) { edges { node { ${fields} } } } }`;
const SCALARS = 'id name description status statusReason statusMessage importance createdAt updatedAt expiresAt endpoint';
const ARTIFACT = `${SCALARS} artifact { id name status version }`;
const PROTONS = `${ARTIFACT} protons { id role status`;
/** The ten scalars beyond `id` once more, aliased: with them, twenty more fields per row than `id` alone. */
const TEN_ALIASED = SCALARS.split(' ').slice(1).map((f) => `${f}2: ${f}`).join(' ');

/**
 * The calibration's variants: each adds one kind of field to the one before (the first two differ
 * only in their page), so the difference in CPU per request, per object, is what that kind costs.
 * `first` is the page each is asked for; the data gives every workload one artifact, one current
 * proton and two replicas (`bench/list-query/run.ts`).
 */
export const CALIBRATION_VARIANTS = [
  { name: 'one row', first: 1, query: node('id') },
  { name: 'ids', first: 100, query: node('id') },
  { name: '+20 scalars', first: 100, query: node(`${SCALARS} ${TEN_ALIASED}`) },
  { name: '+10 scalars', first: 100, query: node(SCALARS) },
  { name: '+artifact', first: 100, query: node(ARTIFACT) },
  { name: '+protons', first: 100, query: node(`${PROTONS} }`) },
  { name: '+replicas', first: 100, query: node(`${PROTONS} replicas { name status ready restartCount } }`) },
  { name: '+proton statistics', first: 100, query: node(`${PROTONS} replicas { name status ready restartCount } statistics { requestCount latencyP50Ms } }`) },
] as const;
