// The floors of a create, run by bench/controller/run.ts as a process of their own (plain Node.js,
// no flags): the transport's, and two that write a create's input in one insert into one table
// before they answer.
//
//   FLOOR_MODE=transport  a bare HTTP server that answers each request at once, writing nothing
//   FLOOR_MODE=statement  a bare HTTP server: parses the body and inserts (the least a create can do)
//   FLOOR_MODE=graphql    graphql-yoga with a one-mutation schema, the caller's token verified (jose,
//                         HS256) and the same insert: the least a create over GraphQL with
//                         authentication can do on this stack; and the bench's read (the newest
//                         rows and their count) answered from one statement, so that the read loop
//                         the API serves during its burst runs beside this floor's too
//
// FLOOR_DATABASE_URL: PostgreSQL through a pool of 10 (the API's size); without it, PGlite in this
// process. PORT: where to listen; AUTH_JWT_SECRET: the secret the bench signs its tokens with.
// GET /loop answers the event-loop delay p99 since the last such request (ms, as the API's
// /metrics gives it through prom-client: a monitor of the same 10 ms resolution), so the bench
// measures the floor's loop as it measures the API's.
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

const mode = process.env.FLOOR_MODE;
let query;
if (mode === 'transport') {
  query = undefined;
} else if (process.env.FLOOR_DATABASE_URL) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 10 });
  query = (sql, params) => pool.query(sql, params);
} else {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite();
  query = (sql, params) => db.query(sql, params);
}
await query?.('create table floor_create (id bigserial primary key, name text not null, input jsonb not null, created_at timestamptz not null default now())');
const insert = async (input) => (await query('insert into floor_create (name, input) values ($1, $2) returning id', [input.name, input])).rows[0].id;

let handler;
if (mode === 'graphql') {
  const { createSchema, createYoga } = await import('graphql-yoga');
  const { GraphQLError } = await import('graphql');
  const { jwtVerify } = await import('jose');
  const secret = new TextEncoder().encode(process.env.AUTH_JWT_SECRET);
  const verified = new Set();
  // Each distinct Authorization header verified once, as the API's cached authenticator does.
  const authenticate = async (ctx) => {
    const authorization = ctx.request.headers.get('authorization') ?? '';
    if (verified.has(authorization)) return;
    try {
      await jwtVerify(authorization.replace(/^Bearer /, ''), secret, { algorithms: ['HS256'] });
    } catch {
      throw new GraphQLError('unauthenticated', { extensions: { code: 'UNAUTHENTICATED' } });
    }
    verified.add(authorization);
  };
  const schema = createSchema({
    // The bench's document, as the API's schema types it: an input of its own type, a result
    // union with an error interface.
    typeDefs: /* GraphQL */ `
      scalar CreateWorkloadInput
      interface Error { code: String! message: String! }
      type Refused implements Error { code: String! message: String! }
      type Workload { id: ID! status: String! }
      type CreateWorkloadPayload { workload: Workload! }
      union CreateWorkloadResult = CreateWorkloadPayload | Refused
      enum OrderField { UPDATED_AT }
      enum Direction { DESC }
      input Order { field: OrderField! direction: Direction! }
      type WorkloadEdge { node: ReadWorkload! }
      type ReadWorkload { id: ID! name: String! status: String! }
      type WorkloadConnection { totalCount: Int! edges: [WorkloadEdge!]! }
      type Query { ready: Boolean! workloads(first: Int!, orderBy: Order): WorkloadConnection! }
      type Mutation { createWorkload(input: CreateWorkloadInput!): CreateWorkloadResult! }
    `,
    resolvers: {
      Query: {
        ready: () => true,
        // The newest rows and the count in one statement: the least a list read can do.
        workloads: async (_root, { first }, ctx) => {
          await authenticate(ctx);
          const [row] = (
            await query(
              `select (select count(*)::int from floor_create) as total,
                      coalesce((select json_agg(json_build_object('id', id::text, 'name', name, 'status', 'SUBMITTED'))
                                  from (select id, name from floor_create order by id desc limit $1) newest), '[]') as nodes`,
              [first],
            )
          ).rows;
          return { totalCount: row.total, edges: row.nodes.map((node) => ({ node })) };
        },
      },
      CreateWorkloadResult: { __resolveType: (r) => r.__typename },
      Mutation: {
        createWorkload: async (_root, { input }, ctx) => {
          await authenticate(ctx);
          const id = await insert(input);
          return { __typename: 'CreateWorkloadPayload', workload: { id: String(id), status: 'SUBMITTED' } };
        },
      },
    },
  });
  handler = createYoga({ schema, graphiql: false, logging: false });
} else if (mode === 'transport') {
  const answer = JSON.stringify({ data: { createWorkload: { __typename: 'CreateWorkloadPayload' } } });
  handler = (q, s) => {
    q.resume();
    q.on('end', () => {
      s.setHeader('content-type', 'application/json');
      s.end(answer);
    });
  };
} else {
  const answer = JSON.stringify({ data: { createWorkload: { __typename: 'CreateWorkloadPayload' } } });
  handler = (q, s) => {
    let body = '';
    q.setEncoding('utf8');
    q.on('data', (d) => (body += d));
    q.on('end', async () => {
      await insert(JSON.parse(body).variables.input);
      s.setHeader('content-type', 'application/json');
      s.end(answer);
    });
  };
}
const answerLoop = (s) => {
  const p99 = loop.percentile(99) / 1e6;
  loop.reset();
  s.setHeader('content-type', 'application/json');
  s.end(JSON.stringify({ p99 }));
};
createServer((q, s) => (q.method === 'GET' && q.url === '/loop' ? answerLoop(s) : handler(q, s))).listen({ port: Number(process.env.PORT), host: '127.0.0.1', backlog: 4096 }, () => console.log('listening'));
// Exits on SIGTERM (the bench's stop), so that a --cpu-prof run writes its profile.
process.once('SIGTERM', () => process.exit(0));
