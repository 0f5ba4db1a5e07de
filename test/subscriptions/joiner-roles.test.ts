import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { userViewer, type Viewer } from '../../src/auth/viewer.js';
import { LiveService } from '../../src/service/live.service.js';
import { CreateWorkloadDocument, UpdateWorkloadSharedRolesDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { recordSql } from '../support/sql-log.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const admin: Viewer = { ...userViewer('root'), isPlatformAdmin: true };

describeEachDatabase('joining subscribers: role reads batched per caller', (backend) => {
  let t: TestApp;
  let live: LiveService;
  beforeAll(async () => {
    t = await startTestApp(backend);
    live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed: t.app.bus.feed, maxPendingEvents: 1000 });
  });
  afterAll(() => t?.stop());

  async function createWorkload(): Promise<{ globalId: string; id: string }> {
    const { createWorkload } = await t.exec(CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(JSON.stringify(createWorkload));
    const globalId = createWorkload.workload.id;
    return { globalId, id: Buffer.from(globalId, 'base64').toString().split(':')[1]! };
  }
  async function share(globalId: string, userId: string): Promise<void> {
    const roles = [
      { subjectType: 'USER' as const, subjectId: 'developer', role: 'OWNER' as const },
      { subjectType: 'USER' as const, subjectId: userId, role: 'OBSERVER' as const },
    ];
    const { updateWorkloadSharedRoles } = await t.exec(UpdateWorkloadSharedRolesDocument, { input: { id: globalId, roles } as never });
    if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
  }
  async function markDeleted(id: string): Promise<void> {
    await t.app.orm.em.fork().getConnection().execute('update workload set deleted_at = now() where id = ?', [id]);
  }

  it('answers 300 subscribers of one caller joining at once with one batched read, each with its own role', async () => {
    const shared = await createWorkload();
    const notShared = await createWorkload();
    const deleted = await createWorkload();
    await share(shared.globalId, 'olivia');
    await share(deleted.globalId, 'olivia');
    await markDeleted(deleted.id);
    const olivia = userViewer('olivia');
    const asked = [shared.id, notShared.id, deleted.id, randomUUID(), 'not-a-uuid'];

    const log = recordSql(t.app.orm);
    const roles = await Promise.all(Array.from({ length: 300 }, (_, i) => live.roleOf(olivia, asked[i % asked.length]!, null)));
    log.stop();

    roles.forEach((role, i) => expect(role, `join ${i} on ${asked[i % asked.length]}`).toBe(i % asked.length === 0 ? 'OBSERVER' : null));
    // One role statement and one existence statement for the whole storm (not two per subscriber).
    expect(log.statements.filter((s) => s.includes('from workload_shared_role'))).toHaveLength(1);
    expect(log.statements.filter((s) => s.startsWith('select id from workload'))).toHaveLength(1);
  });

  it('gives a platform admin no role on a deleted or unknown workload, as a read of its own would', async () => {
    const kept = await createWorkload();
    const deleted = await createWorkload();
    await markDeleted(deleted.id);
    const roles = await Promise.all([kept.id, deleted.id, randomUUID()].map((id) => live.roleOf(admin, id, null)));
    expect(roles).toEqual(['OWNER', null, null]);
  });

  it('never answers a join with a read that started before it was asked: a share granted meanwhile is seen', async () => {
    const first = await createWorkload();
    const second = await createWorkload();
    await share(first.globalId, 'oscar');
    const oscar = userViewer('oscar');
    const log = recordSql(t.app.orm);
    const early = live.roleOf(oscar, first.id, null);
    // The first batch's read is sent on the next turn: wait until it is on its way.
    while (!log.statements.some((s) => s.includes('from workload_shared_role'))) await new Promise((r) => setImmediate(r));
    await share(second.globalId, 'oscar');
    const late = live.roleOf(oscar, second.id, null);
    expect(await early).toBe('OBSERVER');
    log.stop();
    // Had it joined the batch already under way, whose read never asked about the second workload, it would get null.
    expect(await late).toBe('OBSERVER');
  });
});
