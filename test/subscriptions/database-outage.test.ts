import { parse } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postGraphQL } from '../support/raw-graphql.js';
import { eventually, startLiveApp, subscribeWs, wsClient, type LiveApp, type Received } from '../support/live.js';
import { postgresBinDir, startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway-postgres.js';
import { tokenFor } from '../support/test-app.js';

const missing = postgresBinDir() ? undefined : 'PostgreSQL server binaries are not installed';
if (missing && process.env.REQUIRE_ALL_BACKENDS === '1') {
  it('needs PostgreSQL server binaries for the outage test', () => {
    throw new Error(`REQUIRE_ALL_BACKENDS=1 but ${missing}`);
  });
}

const owner = { sub: 'outage-owner' };

// Only fields of the workload row: a payload reads nothing more, so what is tested is the stream.
const changed = parse('subscription ($id: ID!) { workloadChanged(id: $id) { sequence workload { id description } } }');
const events = parse('subscription ($id: ID!, $after: Int) { workloadEvents(workloadId: $id, after: $after) { sequence type } }');
const list = parse('subscription { workloadsChanged { workloadId sequence workload { id description } } }');

type Changed = { workloadChanged: { sequence: number; workload: { id: string; description: string } } };
type Events = { workloadEvents: { sequence: number; type: string } };
type List = { workloadsChanged: { workloadId: string; sequence: number; workload: { id: string; description: string } | null } };

describe.skipIf(Boolean(missing))('live subscriptions and requests through a database outage', () => {
  let pg: ThrowawayPostgres;
  let t: LiveApp;
  const clients: Client[] = [];

  const gql = (query: string, variables: Record<string, unknown> = {}) => postGraphQL(t.url, owner, { query, variables });
  const describeWorkload = (id: string, description: string) =>
    gql('mutation ($id: ID!, $d: String) { updateWorkload(input: { id: $id, description: $d }) { __typename } }', { id, d: description });

  beforeAll(async () => {
    pg = await startThrowawayPostgres();
    t = await startLiveApp({ kind: 'postgres', url: pg.url, poolMax: 5 }, { SUBSCRIPTIONS_DATABASE_RETRY_SECONDS: '30' });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.stop().catch(() => {});
    await pg?.destroy();
  });

  it('answers requests SERVICE_UNAVAILABLE with 503 and Retry-After, and subscriptions ride it out and deliver what followed', async () => {
    const created = await gql(
      `mutation { createWorkload(input: { name: "outage", artifact: { name: "a", spec: { containerGroups: [{ name: "default", containers: [
        { name: "app", imageUri: "nginx:1", primary: true, port: 8080 }] }] } } }) { ... on CreateWorkloadPayload { workload { id } } } }`,
    );
    const id = (created.data[0] as { createWorkload: { workload: { id: string } } }).createWorkload.workload.id;

    // Several streams of each kind, on two connections.
    const subscriptions: { kind: string; received: Received<unknown> }[] = [];
    for (let i = 0; i < 2; i++) {
      const client = await wsClient(t.wsUrl, owner);
      clients.push(client);
      for (let j = 0; j < 2; j++) {
        subscriptions.push({ kind: 'workloadChanged', received: subscribeWs(client, changed, { id }) as Received<unknown> });
        subscriptions.push({ kind: 'workloadEvents', received: subscribeWs(client, events, { id, after: 0 }) as Received<unknown> });
        subscriptions.push({ kind: 'workloadsChanged', received: subscribeWs(client, list, {}) as Received<unknown> });
      }
    }
    const ofKind = <T>(kind: string) => subscriptions.filter((s) => s.kind === kind).map((s) => s.received as Received<T>);
    // Every stream is set up once it has delivered something: the first change below reaches them all.
    await Promise.all(ofKind<Changed>('workloadChanged').map((r) => r.count(1)));
    expect((await describeWorkload(id, 'before')).errors).toEqual([]);
    await eventually(() => subscriptions.every((s) => s.received.data.length > 0 && (s.kind !== 'workloadChanged' || s.received.data.length > 1)), 'every stream to deliver the first change');

    await pg.stop();
    // Requests: a typed, retryable error, over HTTP 503 with Retry-After; nothing about the host or driver.
    const down = await gql('{ workloads { totalCount } }');
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(down.errors).toHaveLength(1);
    expect(down.errors[0]).toMatchObject({ message: 'The database is unavailable; retry after 5 s.', extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 } });
    expect(down.text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|postgres/);
    const mutation = await describeWorkload(id, 'while down');
    expect(mutation.status).toBe(503);
    expect(mutation.errors[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    // The invoke endpoint too: the caller's access cannot be read, and it says so the same way.
    const uuid = Buffer.from(id, 'base64').toString().split(':')[1]!;
    const invoked = await fetch(`${t.url}/endpoints/workloads/${uuid}/`, { headers: { authorization: `Bearer ${await tokenFor(owner)}` } });
    expect(invoked.status).toBe(503);
    expect(invoked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await invoked.json()).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });

    // Every stream is woken while the database is away (as when Redis reconnects and notifications
    // may have been lost): each reads, fails, and retries.
    t.app.bus.feed.resync();
    // A blip of a few seconds: requests keep failing meanwhile.
    await eventually(async () => (await gql('{ artifacts { totalCount } }')).status === 503 && undefined, 'a blip of 2 s', 2000).catch(() => {});
    await pg.start();

    // The first request after the restart may still meet a dead pooled connection: retry as a client would.
    await eventually(async () => (await describeWorkload(id, 'after the blip')).errors.length === 0, 'the update to succeed after the restart', 20_000);

    for (const r of ofKind<Changed>('workloadChanged')) {
      await eventually(() => r.data.some((d) => d.workloadChanged.workload.description === 'after the blip'), 'workloadChanged to deliver the change', 20_000);
    }
    for (const r of ofKind<List>('workloadsChanged')) {
      await eventually(() => r.data.some((d) => d.workloadsChanged.workload?.description === 'after the blip'), 'workloadsChanged to deliver the change', 20_000);
    }
    const latest = await gql('query ($id: ID!) { workload(id: $id) { ... on Workload { events(last: 1) { edges { node { sequence type } } } } } }', { id });
    const newest = (latest.data[0] as { workload: { events: { edges: { node: { sequence: number } }[] } } }).workload.events.edges[0]!.node.sequence;
    for (const r of ofKind<Events>('workloadEvents')) {
      await eventually(() => r.data.some((d) => d.workloadEvents.sequence === newest), `workloadEvents to reach event ${newest}`, 20_000);
      // The whole log, in order, with no gap and no duplicate across the outage.
      expect(r.data.map((d) => d.workloadEvents.sequence)).toEqual(Array.from({ length: newest }, (_, i) => i + 1));
    }
    for (const { kind, received } of subscriptions) {
      expect(received.errors, kind).toEqual([]);
      expect(received.completed, kind).toBe(false);
      expect(received.closed, kind).toBeUndefined();
    }
  }, 120_000);

  it('ends a subscription with SERVICE_UNAVAILABLE once the outage outlasts SUBSCRIPTIONS_DATABASE_RETRY_SECONDS', async () => {
    const short = await startLiveApp({ kind: 'postgres', url: pg.url, poolMax: 2, connectTimeoutMs: 1000 }, { SUBSCRIPTIONS_DATABASE_RETRY_SECONDS: '1' });
    try {
      const created = await postGraphQL(short.url, owner, {
        query: `mutation { createWorkload(input: { name: "short-outage", artifact: { name: "a", spec: { containerGroups: [{ name: "default", containers: [
          { name: "app", imageUri: "nginx:1", primary: true, port: 8080 }] }] } } }) { ... on CreateWorkloadPayload { workload { id } } } }`,
      });
      const id = (created.data[0] as { createWorkload: { workload: { id: string } } }).createWorkload.workload.id;
      const client = await wsClient(short.wsUrl, owner);
      clients.push(client);
      const watching = subscribeWs(client, changed, { id }) as Received<Changed>;
      const following = subscribeWs(client, events, { id, after: 0 }) as Received<Events>;
      await watching.count(1);
      await following.count(1);
      await pg.stop();
      try {
        // Woken as when notifications may have been lost: each stream reads, and keeps failing.
        short.app.bus.feed.resync();
        for (const r of [watching, following] as Received<unknown>[]) {
          await eventually(() => r.errors.length > 0, 'the stream to end', 20_000);
          expect(r.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }) })]);
        }
      } finally {
        await pg.start();
      }
    } finally {
      await short.stop().catch(() => {});
    }
  }, 60_000);
});
