import { randomBytes } from 'node:crypto';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import { OBJECT_WEIGHTS } from '../../src/graphql/cost.js';
import { CreateArtifactDocument } from './generated/graphql.js';
import { createDatabase } from '../support/backends.js';
import { artifactInput } from '../support/fixtures.js';
import { sharedRedis, startLiveApp, startThrowawayRedis, wsClient, type LiveApp, type ThrowawayRedis } from '../support/live.js';
import { postGraphQL, wsOperation, type Outcome } from '../support/raw-graphql.js';
import type { TestSubject } from '../support/test-app.js';

const BUDGET = { GRAPHQL_MUTATION_RATE_POINTS: '3', GRAPHQL_MUTATION_RATE_DURATION_SECONDS: '60' };
const CREATE = print(CreateArtifactDocument);
const CREATE_TWO = `mutation Two($a: CreateArtifactInput!, $b: CreateArtifactInput!) {
  a: createArtifact(input: $a) { __typename }
  b: createArtifact(input: $b) { __typename }
}`;

/** A caller of its own per test, so that budgets never carry over between tests. */
const someone = (name: string): TestSubject => ({ sub: `${name}-${randomBytes(3).toString('hex')}` });

async function create(t: LiveApp, who: TestSubject): Promise<Outcome & { status: number; headers: Headers }> {
  return postGraphQL(t.url, who, { query: CREATE, variables: { input: artifactInput() } });
}

/** How many artifacts `who` owns, as `who` sees them. */
async function artifactsOf(t: LiveApp, who: TestSubject): Promise<number> {
  const outcome = await postGraphQL(t.url, who, { query: '{ artifacts { totalCount } }' });
  expect(outcome.errors).toEqual([]);
  return (outcome.data[0] as { artifacts: { totalCount: number } }).artifacts.totalCount;
}

function expectCreated(outcome: Outcome & { status: number }) {
  expect(outcome.status).toBe(200);
  expect(outcome.errors).toEqual([]);
  expect(outcome.data[0]).toMatchObject({ createArtifact: { __typename: 'CreateArtifactPayload' } });
}

function expectRateLimited(outcome: Outcome) {
  expect(outcome.data).toEqual([]);
  expect(outcome.errors).toHaveLength(1);
  expect(outcome.errors[0]?.message).toMatch(/^Too many mutations: at most 3 per 60 s/);
  expect(outcome.errors[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 3, windowSeconds: 60 });
  const retryAfter = outcome.errors[0]?.extensions?.retryAfterSeconds;
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  return retryAfter as number;
}

describe('mutation budget per caller, in one process', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase({ name: 'pglite' });
    drop = db.drop;
    t = await startLiveApp(db.database, BUDGET);
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('runs three mutations a minute for one caller, refuses the fourth with 429 and Retry-After, and runs nothing of it', async () => {
    const alice = someone('alice');
    for (let i = 0; i < 3; i++) expectCreated(await create(t, alice));
    const refused = await create(t, alice);
    expect(refused.status).toBe(429);
    const retryAfter = expectRateLimited(refused);
    expect(refused.headers.get('retry-after')).toBe(String(retryAfter));
    expect(await artifactsOf(t, alice)).toBe(3);
  });

  it('charges the caller, not everyone: another caller still mutates, and the limited one still queries', async () => {
    const bob = someone('bob');
    const carol = someone('carol');
    for (let i = 0; i < 3; i++) expectCreated(await create(t, bob));
    expectRateLimited(await create(t, bob));
    expectCreated(await create(t, carol));
    expect(await artifactsOf(t, bob)).toBe(3);
  });

  it('charges one point per root mutation field, so aliases do not multiply the budget', async () => {
    const dave = someone('dave');
    const two = { query: CREATE_TWO, variables: { a: artifactInput(), b: artifactInput() } };
    const first = await postGraphQL(t.url, dave, two);
    expect(first.errors).toEqual([]);
    expectRateLimited(await postGraphQL(t.url, dave, two));
    expect(await artifactsOf(t, dave)).toBe(2);
  });

  it('applies to mutations over WebSocket, from the same budget as HTTP', async () => {
    const erin = someone('erin');
    for (let i = 0; i < 3; i++) expectCreated(await create(t, erin));
    const client = await wsClient(t.wsUrl, erin);
    try {
      expectRateLimited(await wsOperation(client, CREATE, { input: artifactInput() }));
      // Queries over the same connection are not charged.
      expect((await wsOperation(client, '{ artifacts { totalCount } }')).data).toEqual([{ artifacts: { totalCount: 3 } }]);
    } finally {
      await client.dispose();
    }
  });
});

const redis = sharedRedis();
const requireAll = process.env.REQUIRE_ALL_BACKENDS === '1';

if (redis.missing && requireAll) {
  describe('mutation budget shared by replicas through Redis', () => {
    test('needs Redis', () => {
      throw new Error(`REQUIRE_ALL_BACKENDS=1 but Redis is unavailable: ${redis.missing}`);
    });
  });
} else {
  describe.skipIf(Boolean(redis.missing))('mutation budget shared by replicas through Redis', () => {
    let one: LiveApp;
    let two: LiveApp;
    const drops: (() => Promise<void>)[] = [];
    beforeAll(async () => {
      // A prefix of this run's own: budgets in the shared Redis belong to this test alone.
      const env = { ...BUDGET, REDIS_URL: redis.url ?? '', REDIS_CHANNEL_PREFIX: `rl-test-${randomBytes(4).toString('hex')}:` };
      const [a, b] = await Promise.all([createDatabase({ name: 'pglite' }), createDatabase({ name: 'pglite' })]);
      drops.push(a.drop, b.drop);
      [one, two] = await Promise.all([startLiveApp(a.database, env), startLiveApp(b.database, env)]);
    });
    afterAll(async () => {
      await Promise.all([one?.stop(), two?.stop()]);
      for (const drop of drops) await drop();
    });

    it('counts a caller’s mutations on every replica against one budget', async () => {
      const frank = someone('frank');
      expectCreated(await create(one, frank));
      expectCreated(await create(one, frank));
      expectCreated(await create(two, frank));
      expectRateLimited(await create(two, frank));
      expectRateLimited(await create(one, frank));
    });
  });
}

describe('mutation budget while Redis is away', () => {
  let t: LiveApp;
  let server: ThrowawayRedis;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    server = await startThrowawayRedis();
    const db = await createDatabase({ name: 'pglite' });
    drop = db.drop;
    t = await startLiveApp(db.database, { ...BUDGET, REDIS_URL: server.url });
  });
  afterAll(async () => {
    await t?.stop();
    await server?.stop();
    await drop?.();
  });

  it('falls back to a budget of the same size in each replica, instead of refusing or allowing every mutation', async () => {
    await server.stop();
    const grace = someone('grace');
    for (let i = 0; i < 3; i++) expectCreated(await create(t, grace));
    expectRateLimited(await create(t, grace));
    expect(await artifactsOf(t, grace)).toBe(3);
  });
});

describe('query cost budget per caller', () => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  // workloads(first: 100) { edges { node { id } } } costs 1 + 100 × (a row's weight + 2) (ADRs 0060, 0061): three fit in the budget, a fourth not.
  const EXPENSIVE = '{ workloads(first: 100) { edges { node { id } } } }';
  const EXPENSIVE_COST = 1 + 100 * (OBJECT_WEIGHTS.row + 2);
  const POINTS = 3 * EXPENSIVE_COST + 900;
  beforeAll(async () => {
    const db = await createDatabase({ name: 'pglite' });
    drop = db.drop;
    t = await startLiveApp(db.database, { ...BUDGET, GRAPHQL_QUERY_COST_RATE_POINTS: String(POINTS), GRAPHQL_QUERY_COST_RATE_DURATION_SECONDS: '60' });
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('refuses queries past the caller\'s cost budget with RATE_LIMITED, 429 and Retry-After, charging each at its measured cost', async () => {
    const who = someone('reader');
    for (let i = 0; i < 3; i++) {
      const ok = await postGraphQL(t.url, who, { query: EXPENSIVE });
      expect(ok.status).toBe(200);
      expect(ok.errors).toEqual([]);
    }
    const refused = await postGraphQL(t.url, who, { query: EXPENSIVE });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.data).toEqual([]);
    expect(refused.errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(new RegExp(`^Too much query cost: at most a cost of ${POINTS} per 60 s`)),
        extensions: expect.objectContaining({ code: 'RATE_LIMITED', budget: 'queryCost', limit: POINTS, windowSeconds: 60 }),
      }),
    ]);
    // What is left (900) still pays for cheap queries, and mutations have a budget of their own.
    expect((await postGraphQL(t.url, who, { query: '{ artifacts(first: 1) { totalCount } }' })).errors).toEqual([]);
    expectCreated(await create(t, who));
    // Another caller is not affected.
    expect((await postGraphQL(t.url, someone('other'), { query: EXPENSIVE })).status).toBe(200);
  });

  it('charges subscriptions when they start, over WebSocket too', async () => {
    const who = someone('subscriber');
    for (let i = 0; i < 3; i++) expect((await postGraphQL(t.url, who, { query: EXPENSIVE })).errors).toEqual([]);
    const client = await wsClient(t.wsUrl, who);
    try {
      const outcome = await wsOperation(client, EXPENSIVE);
      expect(outcome.errors[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', budget: 'queryCost' });
    } finally {
      await client.dispose();
    }
  });
});

