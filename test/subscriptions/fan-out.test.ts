import type { GraphQLFieldResolver, GraphQLResolveInfo } from 'graphql';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CreateWorkloadDocument,
  UpdateArtifactSharedRolesDocument,
  UpdateWorkloadDocument,
  UpdateWorkloadSharedRolesDocument,
  WorkloadChangedWithArtifactRoleDocument,
  WorkloadChangedWithRoleDocument,
  WorkloadEventsLiveDocument,
} from '../graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, subscribeSse, subscribeWs, wsClient, type LiveApp, type Received } from '../support/live.js';
import type { TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };
const olivia: TestSubject = { sub: 'olivia' };
const oscar: TestSubject = { sub: 'oscar' };

type Role = 'OBSERVER' | 'EDITOR';

describeEachDatabase('subscription fan-out: one execution per group of subscribers', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  /** Calls of the subscription fields' resolvers: one per execution of a payload. */
  const resolverCalls = { workloadEvents: 0, workloadChanged: 0 };
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database);
    const fields = t.app.yoga.getEnveloped().schema.getSubscriptionType()!.getFields();
    for (const name of ['workloadEvents', 'workloadChanged'] as const) {
      const resolve = fields[name]!.resolve as GraphQLFieldResolver<unknown, unknown>;
      fields[name]!.resolve = (source: unknown, args: Record<string, unknown>, context: unknown, info: GraphQLResolveInfo) => {
        resolverCalls[name] += 1;
        return resolve(source, args, context, info);
      };
    }
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  async function createWorkload() {
    const { createWorkload } = await t.exec(owner, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    return createWorkload.workload;
  }
  async function update(id: string, patch: Record<string, unknown>) {
    const { updateWorkload } = await t.exec(owner, UpdateWorkloadDocument, { input: { id, ...patch } as never });
    if (updateWorkload.__typename !== 'UpdateWorkloadPayload') throw new Error(JSON.stringify(updateWorkload));
  }
  async function share(id: string, grants: [TestSubject, Role][]) {
    const roles = [{ subjectType: 'USER' as const, subjectId: owner.sub, role: 'OWNER' as const }, ...grants.map(([who, role]) => ({ subjectType: 'USER' as const, subjectId: who.sub, role }))];
    const { updateWorkloadSharedRoles } = await t.exec(owner, UpdateWorkloadSharedRolesDocument, { input: { id, roles } });
    if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
  }
  async function lastSequence(globalId: string): Promise<number> {
    const id = Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
    const rows = await t.app.orm.em.fork().getConnection().execute<{ n: number }[]>('select last_event_sequence as n from workload where id = ?', [id]);
    return Number(rows[0]!.n);
  }
  /** Makes one change and waits until every stream has it; returns the executions and resolver calls it took. */
  async function oneEvent(workloadId: string, streams: Received<unknown>[], field: keyof typeof resolverCalls, importance: string) {
    const counts = streams.map((s) => s.data.length);
    const executions = t.app.fanOut.stats().executions;
    const calls = resolverCalls[field];
    await update(workloadId, { importance });
    await Promise.all(streams.map((s, i) => s.count(counts[i]! + 1)));
    return { executions: t.app.fanOut.stats().executions - executions, resolverCalls: resolverCalls[field] - calls };
  }

  it('executes an event once for subscribers of one document, variables and role, over WebSocket and SSE, and each receives it', async () => {
    const w = await createWorkload();
    const after = await lastSequence(w.id);
    const first = await wsClient(t.wsUrl, owner);
    const second = await wsClient(t.wsUrl, owner);
    const variables = { workloadId: w.id, after: after - 1 };
    const streams = [
      subscribeWs(first, WorkloadEventsLiveDocument, variables),
      subscribeWs(first, WorkloadEventsLiveDocument, variables),
      subscribeWs(second, WorkloadEventsLiveDocument, variables),
      subscribeSse(t.url, owner, WorkloadEventsLiveDocument, variables),
    ];
    // Each replays the last event: every stream is live.
    await Promise.all(streams.map((s) => s.count(1)));
    const { executions, resolverCalls: calls } = await oneEvent(w.id, streams, 'workloadEvents', 'HIGH');
    // The per-subscriber path executed the payload once per subscriber (4).
    expect(calls).toBe(1);
    expect(executions).toBe(1);
    const sequence = await lastSequence(w.id);
    for (const s of streams) {
      expect(s.errors).toEqual([]);
      expect(s.data.at(-1)).toEqual({ workloadEvents: { sequence, type: 'importanceChanged', message: expect.any(String) } });
    }
    for (const s of streams) s.stop();
    await first.dispose();
    await second.dispose();
  });

  it('ends a revoked subscriber of a shared group with ACCESS_REVOKED and nothing after, while the other keeps receiving', async () => {
    const w = await createWorkload();
    await share(w.id, [
      [olivia, 'OBSERVER'],
      [oscar, 'OBSERVER'],
    ]);
    const after = await lastSequence(w.id);
    const oliviaClient = await wsClient(t.wsUrl, olivia);
    const oscarClient = await wsClient(t.wsUrl, oscar);
    const revoked = subscribeWs(oliviaClient, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    const kept = subscribeWs(oscarClient, WorkloadEventsLiveDocument, { workloadId: w.id, after: after - 1 });
    await Promise.all([revoked.count(1), kept.count(1)]);
    // Two callers with the same role on the workload are one group.
    expect(await oneEvent(w.id, [revoked, kept], 'workloadEvents', 'HIGH')).toEqual({ executions: 1, resolverCalls: 1 });

    const lastShared = await lastSequence(w.id);
    await share(w.id, [[oscar, 'OBSERVER']]);
    await eventually(() => revoked.completed, 'the revoked stream to end');
    expect(revoked.errors.map((e) => e.extensions?.code)).toEqual(['ACCESS_REVOKED']);
    await update(w.id, { importance: 'HIGH' });
    await update(w.id, { description: 'after the revocation' });
    const newest = await lastSequence(w.id);
    await eventually(() => kept.data.at(-1)?.workloadEvents.sequence === newest, 'the other subscriber to keep receiving');
    // The revoked subscriber got nothing from the sharing change on; the other got every event.
    expect(revoked.data.map((d) => d.workloadEvents.sequence)).toEqual([after, lastShared]);
    expect(kept.data.map((d) => d.workloadEvents.sequence)).toEqual(Array.from({ length: newest - after + 1 }, (_, i) => after + i));
    expect(kept.errors).toEqual([]);
    await oliviaClient.dispose();
    await oscarClient.dispose();
  });

  it('puts subscribers with different roles or documents in different groups, each with its own payload', async () => {
    const w = await createWorkload();
    await share(w.id, [
      [olivia, 'OBSERVER'],
      [oscar, 'EDITOR'],
    ]);
    const clients = await Promise.all([wsClient(t.wsUrl, owner), wsClient(t.wsUrl, olivia), wsClient(t.wsUrl, oscar)]);
    const [ownerClient, oliviaClient, oscarClient] = clients;
    const byRole = {
      OWNER: subscribeWs(ownerClient!, WorkloadChangedWithRoleDocument, { id: w.id }),
      OBSERVER: subscribeWs(oliviaClient!, WorkloadChangedWithRoleDocument, { id: w.id }),
      EDITOR: subscribeWs(oscarClient!, WorkloadChangedWithRoleDocument, { id: w.id }),
    };
    const otherDocument = subscribeWs(oliviaClient!, WorkloadChangedWithArtifactRoleDocument, { id: w.id });
    const streams = [...Object.values(byRole), otherDocument];
    await Promise.all(streams.map((s) => s.count(1)));
    // Three roles on one document, and a second document: four groups.
    expect(await oneEvent(w.id, streams, 'workloadChanged', 'HIGH')).toEqual({ executions: 4, resolverCalls: 4 });
    for (const [role, s] of Object.entries(byRole)) {
      expect(s.errors).toEqual([]);
      expect(s.data.at(-1)?.workloadChanged.workload).toEqual({ id: w.id, importance: 'HIGH', viewerRole: role });
    }
    expect(otherDocument.data.at(-1)?.workloadChanged.workload).toMatchObject({ id: w.id, importance: 'HIGH', artifact: { viewerRole: 'OBSERVER' } });
    for (const client of clients) await client.dispose();
  });

  it('never shares a document that selects what is the caller\'s own (an artifact role) between two callers of the same workload role', async () => {
    const w = await createWorkload();
    await share(w.id, [
      [olivia, 'OBSERVER'],
      [oscar, 'OBSERVER'],
    ]);
    const roles = [
      { subjectType: 'USER' as const, subjectId: owner.sub, role: 'OWNER' as const },
      { subjectType: 'USER' as const, subjectId: olivia.sub, role: 'EDITOR' as const },
    ];
    const { updateArtifactSharedRoles } = await t.exec(owner, UpdateArtifactSharedRolesDocument, { input: { id: w.artifact.id, roles } });
    expect(updateArtifactSharedRoles.__typename).toBe('UpdateArtifactSharedRolesPayload');
    const oliviaClient = await wsClient(t.wsUrl, olivia);
    const oscarClient = await wsClient(t.wsUrl, oscar);
    const editor = subscribeWs(oliviaClient, WorkloadChangedWithArtifactRoleDocument, { id: w.id });
    const observer = subscribeWs(oscarClient, WorkloadChangedWithArtifactRoleDocument, { id: w.id });
    await Promise.all([editor.count(1), observer.count(1)]);
    expect(await oneEvent(w.id, [editor, observer], 'workloadChanged', 'HIGH')).toEqual({ executions: 2, resolverCalls: 2 });
    expect(editor.data.at(-1)?.workloadChanged.workload.artifact.viewerRole).toBe('EDITOR');
    expect(observer.data.at(-1)?.workloadChanged.workload.artifact.viewerRole).toBe('OBSERVER');
    await oliviaClient.dispose();
    await oscarClient.dispose();
  });
});
