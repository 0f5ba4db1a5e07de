import { Agent, request } from 'node:http';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ReplaceWorkloadArtifactDocument, UpdateWorkloadSharedRolesDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { tokenFor, type TestSubject } from '../support/test-app.js';
import {
  bearer,
  createArtifact,
  createRunningWorkload,
  endpointOf,
  startInvokeApp,
  uuidOf,
  type Echo,
  type InvokeTestApp,
  type WorkloadView,
} from './support.js';

/** The access cache of these tests: long enough that a repeat on one connection is served from it. */
const ACCESS_CACHE_MS = 400;
const observer: TestSubject = { sub: 'oscar' };

interface Answer {
  status: number;
  body: string;
  /** Date.now() as the request was sent. */
  sentAt: number;
  /** Whether the request went over a connection that had carried an earlier one. */
  reused: boolean;
}

/** One keep-alive connection (an agent with a single socket): every request reuses it. */
function connection() {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const send = (url: string, authorization: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const sentAt = Date.now();
      const req = request(url, { agent, headers: { authorization } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentAt, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  return { send, close: () => agent.destroy() };
}

describeEachDatabase('the invoke endpoint remembers a connection\'s caller, within the access cache\'s bound', (backend) => {
  let t: InvokeTestApp;
  let w: WorkloadView;

  beforeAll(async () => {
    t = await startInvokeApp(backend, { INVOKE_ACCESS_CACHE_MS: String(ACCESS_CACHE_MS) });
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  async function share(observers: string[]): Promise<void> {
    const roles = [
      { subjectType: 'USER' as const, subjectId: 'developer', role: 'OWNER' as const },
      ...observers.map((subjectId) => ({ subjectType: 'USER' as const, subjectId, role: 'OBSERVER' as const })),
    ];
    const { updateWorkloadSharedRoles } = await t.exec(UpdateWorkloadSharedRolesDocument, { input: { id: w.id, roles } });
    if (updateWorkloadSharedRoles.__typename !== 'UpdateWorkloadSharedRolesPayload') throw new Error(JSON.stringify(updateWorkloadSharedRoles));
  }

  it('stops the invokes of a revoked share on the same connection within the access cache\'s bound', async () => {
    await share([observer.sub]);
    const c = connection();
    const authorization = await bearer(observer);
    const url = `${endpointOf(t, w)}revoke`;
    try {
      // Served, then served again from the connection's memory.
      expect((await c.send(url, authorization)).status).toBe(200);
      expect(await c.send(url, authorization)).toMatchObject({ status: 200, reused: true });
      await share([]);
      const revokedAt = Date.now();
      const after: Answer[] = [];
      for (;;) {
        const a = await c.send(url, authorization);
        after.push(a);
        if (a.status !== 200) break;
        if (Date.now() - revokedAt > 10 * ACCESS_CACHE_MS) break;
      }
      const refused = after.at(-1)!;
      expect(refused).toMatchObject({ status: 404, reused: true });
      // Nothing sent later than the bound after the revocation was served.
      for (const a of after.filter((x) => x.status === 200)) expect(a.sentAt - revokedAt).toBeLessThan(ACCESS_CACHE_MS);
    } finally {
      c.close();
    }
  });

  it('refuses a token that expires while its connection stays open, at its expiry', async () => {
    const token = await tokenFor({ sub: 'developer' }, { expiresInSeconds: 2 });
    const expiresAt = (decodeJwt(token).exp ?? 0) * 1000;
    const c = connection();
    const url = `${endpointOf(t, w)}expiry`;
    try {
      const answers: Answer[] = [];
      for (;;) {
        const a = await c.send(url, `Bearer ${token}`);
        answers.push(a);
        if (a.status !== 200 || Date.now() > expiresAt + 2000) break;
      }
      const refused = answers.at(-1)!;
      expect(refused).toMatchObject({ status: 401, reused: true });
      expect(refused.sentAt).toBeGreaterThanOrEqual(expiresAt - 50);
      // Many requests were answered over the connection, and none that was sent after the expiry.
      expect(answers.length).toBeGreaterThan(3);
      for (const a of answers.filter((x) => x.status === 200)) expect(a.sentAt).toBeLessThan(expiresAt);
    } finally {
      c.close();
    }
  });

  it('follows the route to the new proton on the same connection as soon as a replacement switches it', async () => {
    const workload = await createRunningWorkload(t);
    const workloadId = uuidOf(workload.id);
    const oldProton = uuidOf(workload.protons.find((p) => p.role === 'ACTIVE')!.id);
    const c = connection();
    const authorization = await bearer();
    const url = `${endpointOf(t, workload)}route`;
    try {
      expect(JSON.parse((await c.send(url, authorization)).body)).toMatchObject({ protonId: oldProton });
      const next = await createArtifact(t);
      const { replaceWorkloadArtifact } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id: workload.id, artifactId: next } });
      expect(replaceWorkloadArtifact).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
      // Requests on the one connection (its grant remembered) follow the route as it is at each request.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const route = await t.app.runtime.resolveRoute(workloadId);
        const a = await c.send(url, authorization);
        expect(a.status).toBe(200);
        expect(a.reused).toBe(true);
        const echo = JSON.parse(a.body) as Echo;
        if (route.kind === 'forward' && route.protonId !== oldProton) {
          // The first request after the switch reaches the new proton.
          expect(echo.protonId).toBe(route.protonId);
          break;
        }
        expect(Date.now()).toBeLessThan(deadline);
      }
    } finally {
      c.close();
    }
  });
});
