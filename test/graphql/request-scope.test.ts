import type { EntityManager } from '@mikro-orm/postgresql';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import type { Viewer } from '../../src/auth/viewer.js';
import { createOperationContext, holdsRequestScope, releaseRequestScope, type GraphQLContext } from '../../src/graphql/context.js';
import { LiveStreams } from '../../src/transport/live-streams.js';
import { sseEvents } from '../support/sse.js';

const viewer: Viewer = { userId: 'u', groups: [], organization: null, roles: [], isPlatformAdmin: false };

/** A Yoga server whose operations get the app's lazy request scope, released as the app does; counts EntityManager forks. */
function server() {
  const forks: object[] = [];
  const contexts: GraphQLContext[] = [];
  let emit: ((n: number) => void) | undefined;
  /** Sends the next payload once the subscription waits for it; false until then. */
  const send = (n: number) => {
    if (!emit) return false;
    const e = emit;
    emit = undefined;
    e(n);
    return true;
  };
  const yoga = createYoga<object, GraphQLContext>({
    schema: createSchema<GraphQLContext>({
      typeDefs: 'type Query { read: Int } type Subscription { ticks: Int }',
      resolvers: {
        Query: { read: (_r, _a, ctx) => (ctx.em ? forks.length : -1) },
        Subscription: {
          ticks: {
            subscribe: async function* (_r, _a, ctx) {
              contexts.push(ctx);
              for (;;) yield await new Promise<number>((resolve) => (emit = resolve));
            },
            // Reading a payload touches the EntityManager and the role loaders.
            resolve: (n: number, _a, ctx) => (ctx.em && ctx.access.workloadRole ? n : -1),
          },
        },
      },
    }),
    // As the app wires it: the stream tracker releases the scope after each payload.
    plugins: [new LiveStreams(releaseRequestScope).plugin()],
    context: (initial) =>
      createOperationContext(initial, { viewer, services: {} as never, publicBaseUrl: '', live: {} as never }, () => {
        const em = { fork: () => em } as unknown as EntityManager;
        forks.push(em);
        return em;
      }),
  });
  return { yoga, forks, contexts, send };
}

/** The `next` payloads of an SSE response. */
async function* sseData(response: Response): AsyncGenerator<unknown> {
  for await (const { event, data } of sseEvents(response.body!)) if (event === 'next') yield data;
}

describe('the request scope of an operation', () => {
  it('creates the EntityManager only when a resolver uses it, once per query', async () => {
    const s = server();
    const response = await s.yoga.fetch('http://localhost/graphql?query=%7B__typename%7D');
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    expect(s.forks).toHaveLength(0);
    const read = await s.yoga.fetch('http://localhost/graphql?query=%7Bread%7D');
    expect(await read.json()).toEqual({ data: { read: 1 } });
    expect(s.forks).toHaveLength(1);
  });

  it('gives each subscription payload a fresh EntityManager and holds none while the subscription waits', async () => {
    const s = server();
    const response = await s.yoga.fetch('http://localhost/graphql?query=subscription%7Bticks%7D', { headers: { accept: 'text/event-stream' } });
    const payloads = sseData(response);
    for (const n of [1, 2, 3]) {
      const next = payloads.next();
      await expect.poll(() => s.send(n)).toBe(true);
      expect((await next).value).toEqual({ data: { ticks: n } });
      const ctx = s.contexts[0]!;
      expect(s.forks).toHaveLength(n);
      expect(holdsRequestScope(ctx)).toBe(false);
    }
    await payloads.return(undefined);
  });
});
