import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { mutationAdmission, type AdmissionPlace } from '../../src/graphql/admission.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { startTestApp } from '../support/test-app.js';

const CREATE = `mutation($input: CreateWorkloadInput!) { createWorkload(input: $input) {
  __typename ... on CreateWorkloadPayload { workload { id } } ... on Error { code message } } }`;

/** A server whose `write` mutation waits until the test releases it, counting how many run at once. */
function server(concurrency: number, perTurn?: number) {
  const admission = mutationAdmission(concurrency, perTurn);
  let running = 0;
  let most = 0;
  const started: string[] = [];
  const releases: (() => void)[] = [];
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { ping: String! } type Mutation { write(name: String!): String! }',
      resolvers: {
        Query: { ping: () => 'pong' },
        Mutation: {
          write: async (_: unknown, { name }: { name: string }) => {
            running++;
            most = Math.max(most, running);
            started.push(name);
            await new Promise<void>((resolve) => releases.push(resolve));
            running--;
            return name;
          },
        },
      },
    }),
    plugins: [admission.plugin],
    logging: false,
  });
  const send = (query: string) =>
    Promise.resolve(yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).then((r) => r.json() as Promise<any>);
  return { admission, send, started, releases, most: () => most };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe('mutation admission', () => {
  it('runs at most its concurrency of mutations at once, the rest in arrival order, and never holds a query back', async () => {
    const s = server(2);
    const writes: Promise<any>[] = ['a', 'b', 'c', 'd', 'e'].map((name) => s.send(`mutation { write(name: "${name}") }`));
    await until(() => s.started.length === 2 && s.admission.waiting() === 3);
    expect(s.admission.active()).toBe(2);
    // A query arriving behind the burst is answered at once.
    expect(await s.send('{ ping }')).toEqual({ data: { ping: 'pong' } });
    // Each finished mutation lets the next one in, first come first served.
    while (s.started.length < 5 || s.releases.length > 0) {
      await until(() => s.releases.length > 0);
      s.releases.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await Promise.all(writes)).map((r) => r.data.write)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.started).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.most()).toBe(2);
    expect([s.admission.active(), s.admission.waiting()]).toEqual([0, 0]);
  });

  it.each([1, 2])('hands places given back at once to the waiting mutations %i to a turn of the loop, so that timers and I/O run between them', async (perTurn) => {
    const s = server(3, perTurn);
    const writes: Promise<any>[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => s.send(`mutation { write(name: "${name}") }`));
    await until(() => s.started.length === 3 && s.admission.waiting() === 3);
    // Three mutations finish in one turn (as a statement's creates are answered together)...
    for (const release of s.releases.splice(0)) release();
    // ...and the started count is looked at once in each turn of the loop after it.
    const seen: number[] = [];
    for (let turn = 0; turn < 100 && s.started.length < 6; turn++) {
      await new Promise((r) => setImmediate(r));
      seen.push(s.started.length);
    }
    expect(s.started).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const admittedPerTurn = seen.map((n, i) => n - (i === 0 ? 3 : seen[i - 1]!));
    // Three given back: `perTurn` admitted in a turn at most (not all three at once), and in some turn that many.
    expect(Math.max(...admittedPerTurn), JSON.stringify(seen)).toBe(perTurn);
    await until(() => s.releases.length === 3);
    for (const release of s.releases.splice(0)) release();
    expect((await Promise.all(writes)).map((r) => r.data.write)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect([s.admission.active(), s.admission.waiting()]).toEqual([0, 0]);
  });

  it('lets the next mutation in when one fails', async () => {
    const admission = mutationAdmission(1);
    const yoga = createYoga({
      schema: createSchema({
        typeDefs: 'type Query { ping: String! } type Mutation { fail: String! ok: String! }',
        resolvers: { Mutation: { fail: () => Promise.reject(new Error('refused')), ok: () => 'ok' } },
      }),
      plugins: [admission.plugin],
      logging: false,
    });
    const send = (query: string) =>
      Promise.resolve(yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).then((r) => r.json() as Promise<any>);
    const [failed, ok] = await Promise.all([send('mutation { fail }'), send('mutation { ok }')]);
    expect(failed.errors).toHaveLength(1);
    expect(ok).toEqual({ data: { ok: 'ok' } });
  });
});

describe('an admitted place given back', () => {
  it('lets the next mutation in while a mutation waits outside its place, and takes one again ahead of those not yet admitted, in the order they came back', async () => {
    const admission = mutationAdmission(1);
    const log: string[] = [];
    const waits = new Map<string, () => void>();
    const wait = (name: string) => new Promise<void>((resolve) => waits.set(name, resolve));
    const yoga = createYoga({
      schema: createSchema({
        typeDefs: 'type Query { ping: String! } type Mutation { hold(name: String!): String! outside(name: String!): String! }',
        resolvers: {
          Mutation: {
            hold: async (_: unknown, { name }: { name: string }) => {
              log.push(`start ${name}`);
              await wait(name);
              log.push(`end ${name}`);
              return name;
            },
            outside: async (_: unknown, { name }: { name: string }, ctx: { admission: AdmissionPlace }) => {
              log.push(`start ${name}`);
              await ctx.admission.outside(() => wait(name));
              log.push(`end ${name}`);
              return name;
            },
          },
        },
      }),
      plugins: [admission.plugin],
      logging: false,
    });
    const send = (query: string) =>
      Promise.resolve(yoga.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) })).then((r) => r.json() as Promise<any>);
    const answers = [send('mutation { outside(name: "a") }')];
    await until(() => waits.has('a'));
    answers.push(send('mutation { outside(name: "b") }'));
    await until(() => waits.has('b'));
    // Both wait outside: the one place is free for the next mutation, which holds it.
    expect([admission.active(), admission.waiting()]).toEqual([0, 0]);
    answers.push(send('mutation { hold(name: "c") }'));
    await until(() => waits.has('c'));
    answers.push(send('mutation { hold(name: "d") }'));
    await until(() => admission.waiting() === 1);
    // a and b come back while c holds the place: they wait for it, before d.
    waits.get('a')!();
    waits.get('b')!();
    await until(() => admission.waiting() === 3);
    waits.get('c')!();
    await until(() => waits.has('d'));
    waits.get('d')!();
    expect((await Promise.all(answers)).map((r) => Object.values(r.data)[0])).toEqual(['a', 'b', 'c', 'd']);
    expect(log).toEqual(['start a', 'start b', 'start c', 'end c', 'end a', 'end b', 'start d', 'end d']);
    expect([admission.active(), admission.waiting()]).toEqual([0, 0]);
  });
});

describeEachDatabase('mutations admitted by the API', (backend) => {
  it('holds a mutation past GRAPHQL_MUTATION_CONCURRENCY until the one running finishes, and answers a query meanwhile', async () => {
    if (backend.name !== 'postgres') return; // a row lock held from a second connection: the embedded database has one
    const t = await startTestApp(backend, { GRAPHQL_MUTATION_CONCURRENCY: '1' });
    const lock = t.app.orm.em.fork();
    try {
      const created = await t.execRaw(CREATE, { input: workloadInput({ name: 'held', artifact: artifactInput() }) });
      const id = (created.data as any).createWorkload.workload.id as string;
      // The one admitted mutation waits on the workload's row, locked from another connection.
      await lock.begin();
      await lock.execute('select id from workload where id = ? for update', [Buffer.from(id, 'base64').toString().split(':')[1]]);
      const first = t.execRaw(`mutation($input: UpdateWorkloadInput!) { updateWorkload(input: $input) { __typename } }`, { input: { id, description: 'after the lock' } });
      await new Promise((r) => setTimeout(r, 200));
      let secondDone = false;
      const second = t.execRaw(CREATE, { input: workloadInput({ name: 'waits-its-turn', artifact: artifactInput() }) }).then((r) => {
        secondDone = true;
        return r;
      });
      // A query is answered at once; the second mutation waits for its turn, not for the lock.
      expect(await t.execRaw('{ workloads(first: 5) { totalCount } }')).toEqual({ data: { workloads: { totalCount: 1 } } });
      await new Promise((r) => setTimeout(r, 300));
      expect(secondDone).toBe(false);
      await lock.commit();
      expect(((await first).data as any).updateWorkload.__typename).toBe('UpdateWorkloadPayload');
      expect(((await second).data as any).createWorkload.__typename).toBe('CreateWorkloadPayload');
    } finally {
      if (lock.isInTransaction()) await lock.rollback();
      await t.stop();
    }
  });
});
