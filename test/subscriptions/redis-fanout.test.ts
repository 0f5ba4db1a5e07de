import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, test } from 'vitest';
import {
  CreateWorkloadDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadChangedDocument,
  WorkloadEventsLiveDocument,
  WorkloadsChangedDocument,
} from '../graphql/generated/graphql.js';
import { createDatabase, databaseBackends } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, sharedRedis, startLiveApp, startThrowawayRedis, subscribeSse, subscribeWs, wsClient, type LiveApp, type ThrowawayRedis } from '../support/live.js';
import type { TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };
const observer: TestSubject = { sub: 'olivia' };

// Two instances need one database both can reach: PostgreSQL (PGlite lives inside one process).
const postgres = databaseBackends().find((b) => b.name === 'postgres');
const redis = sharedRedis();
const missing = [postgres?.missing, redis.missing].filter(Boolean).join('; ');
const requireAll = process.env.REQUIRE_ALL_BACKENDS === '1';

function rawIdOf(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
}

async function exec(t: LiveApp) {
  return {
    async create(who = owner) {
      const { createWorkload } = await t.exec(who, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
      if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
      return createWorkload.workload;
    },
    async update(id: string, patch: Record<string, unknown>) {
      const { updateWorkload } = await t.exec(owner, UpdateWorkloadDocument, { input: { id, ...patch } as never });
      if (updateWorkload.__typename !== 'UpdateWorkloadPayload') throw new Error(JSON.stringify(updateWorkload));
    },
    async share(id: string, observers: string[]) {
      const roles = [
        { subjectType: 'USER' as const, subjectId: owner.sub, role: 'OWNER' as const },
        ...observers.map((subjectId) => ({ subjectType: 'USER' as const, subjectId, role: 'OBSERVER' as const })),
      ];
      const { updateWorkloadSharedRoles } = await t.exec(owner, UpdateWorkloadSharedRolesDocument, { input: { id, roles } });
      if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
    },
    async logged(globalId: string): Promise<number[]> {
      const rows = await t.app.orm.em.fork().getConnection().execute<{ sequence: number }[]>(
        'select sequence from workload_event where workload_id = ? order by sequence',
        [rawIdOf(globalId)],
      );
      return rows.map((r) => Number(r.sequence));
    },
  };
}

if (missing && requireAll) {
  describe('live subscriptions across two instances over Redis', () => {
    test('needs PostgreSQL and Redis', () => {
      throw new Error(`REQUIRE_ALL_BACKENDS=1 but ${missing}`);
    });
  });
}

describe.skipIf(Boolean(missing))('live subscriptions across two instances over Redis', () => {
  let a: LiveApp;
  let b: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    if (!postgres) throw new Error('no postgres backend');
    const db = await createDatabase(postgres);
    drop = db.drop;
    const env = { REDIS_URL: redis.url ?? '', REDIS_CHANNEL_PREFIX: `test-${randomBytes(4).toString('hex')}:` };
    a = await startLiveApp(db.database, env);
    b = await startLiveApp(db.database, env);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await drop?.();
  });

  it('delivers a change made through instance A to subscribers of instance B, over WebSocket and SSE', async () => {
    const viaA = await exec(a);
    const w = await viaA.create();
    const client = await wsClient(b.wsUrl, owner);
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const list = subscribeWs(client, WorkloadsChangedDocument, {});
    const events = subscribeSse(b.url, owner, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await changed.count(1);
    await events.count(1);
    await eventually(async () => {
      await viaA.update(w.id, { description: `from A ${Date.now()}` });
      return list.data.length > 0;
    }, 'the list subscription on B to hear A');
    await viaA.update(w.id, { importance: 'HIGH' });
    await eventually(() => changed.data.some((d) => d.workloadChanged.workload.importance === 'HIGH'), 'workloadChanged on B');
    await eventually(() => list.data.some((d) => d.workloadsChanged.workload?.importance === 'HIGH'), 'workloadsChanged on B');
    const logged = await viaA.logged(w.id);
    await eventually(() => events.data.length >= logged.length, 'every event over SSE on B');
    expect(events.data.map((d) => d.workloadEvents.sequence)).toEqual(logged);
    changed.stop();
    list.stop();
    events.stop();
    await client.dispose();
  });

  it('ends an observer\'s streams on instance B within one second of a revocation made through instance A', async () => {
    const viaA = await exec(a);
    const w = await viaA.create();
    await viaA.share(w.id, [observer.sub]);
    const client = await wsClient(b.wsUrl, observer);
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const events = subscribeSse(b.url, observer, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await changed.count(1);
    await events.count(2);
    const revokedAt = Date.now();
    await viaA.share(w.id, []);
    await eventually(() => changed.completed && events.completed, 'both streams on B to end', 1000);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    expect([...changed.errors, ...events.errors].map((e) => e.extensions?.code)).toEqual(['ACCESS_REVOKED', 'ACCESS_REVOKED']);
    await client.dispose();
  });
});

describe.skipIf(Boolean(postgres?.missing))('live subscriptions through a Redis outage', () => {
  let server: ThrowawayRedis;
  let a: LiveApp;
  let b: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    if (!postgres) throw new Error('no postgres backend');
    server = await startThrowawayRedis();
    const db = await createDatabase(postgres);
    drop = db.drop;
    a = await startLiveApp(db.database, { REDIS_URL: server.url });
    b = await startLiveApp(db.database, { REDIS_URL: server.url });
  }, 60_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await server?.stop();
    await drop?.();
  });

  it('gives every subscriber every event, none twice, when Redis is stopped and restarted during a stream of changes', async () => {
    const viaA = await exec(a);
    const w = await viaA.create();
    const client = await wsClient(b.wsUrl, owner);
    const events = subscribeWs(client, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    const changed = subscribeWs(client, WorkloadChangedDocument, { id: w.id });
    const sse = subscribeSse(a.url, owner, WorkloadEventsLiveDocument, { workloadId: w.id, after: 0 });
    await events.count(1);
    await changed.count(1);
    await sse.count(1);
    let n = 0;
    const change = () => viaA.update(w.id, { description: `change ${++n}` });
    for (let i = 0; i < 5; i += 1) await change();
    await server.stop();
    for (let i = 0; i < 5; i += 1) await change();
    await server.start();
    for (let i = 0; i < 5; i += 1) await change();
    const logged = await viaA.logged(w.id);
    const newest = logged[logged.length - 1];
    await eventually(() => events.data.length >= logged.length && sse.data.length >= logged.length, 'every event after the outage', 20_000);
    expect(events.data.map((d) => d.workloadEvents.sequence)).toEqual(logged);
    expect(sse.data.map((d) => d.workloadEvents.sequence)).toEqual(logged);
    await eventually(() => changed.data.at(-1)?.workloadChanged.sequence === newest, 'the newest state', 20_000);
    expect(changed.data.at(-1)?.workloadChanged.workload.description).toBe(`change ${n}`);
    // Subscribers stayed connected through the outage.
    expect(events.completed || changed.completed || sse.completed).toBe(false);
    events.stop();
    changed.stop();
    sse.stop();
    await client.dispose();
  }, 60_000);
});
