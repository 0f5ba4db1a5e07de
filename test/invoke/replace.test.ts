import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ReplaceWorkloadArtifactDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import {
  bearer,
  createArtifact,
  createRunningWorkload,
  endpointOf,
  startInvokeApp,
  uuidOf,
  waitForWorkload,
  type Echo,
  type InvokeTestApp,
} from './support.js';

describeEachDatabase('invoking a workload while it is replaced', (backend) => {
  let t: InvokeTestApp;

  beforeAll(async () => {
    t = await startInvokeApp(backend);
  });
  afterAll(() => t?.stop());

  it('drops no request under continuous traffic; each caller\'s responses switch from the old proton to the new once and never back', async () => {
    const w = await createRunningWorkload(t, { replicas: 2 });
    const oldProton = uuidOf(w.protons.find((p) => p.role === 'ACTIVE')!.id);
    const url = endpointOf(t, w);
    const authorization = await bearer();
    const callers = 6;
    const seen: string[][] = Array.from({ length: callers }, () => []);
    const failures: string[] = [];
    let stop = false;

    const caller = async (i: number) => {
      for (let k = 1; !stop; k++) {
        // The first two callers send slow POSTs (never retried by the endpoint), so some are in
        // flight at the old proton when it is taken out: they must finish there.
        const slow = i < 2;
        const method = slow || k % 2 === 0 ? 'POST' : 'GET';
        try {
          const res = await fetch(`${url}caller/${i}/${k}?slow=${slow}`, {
            method,
            ...(method === 'POST' && { body: `request ${i}/${k}` }),
            headers: { authorization, ...(slow && { 'x-sim-delay-ms': '700' }) },
          });
          const text = await res.text();
          if (res.status !== 200) {
            failures.push(`caller ${i} request ${k}: ${res.status} ${text}`);
            continue;
          }
          const echo = JSON.parse(text) as Echo;
          if (method === 'POST' && echo.body !== `request ${i}/${k}`) failures.push(`caller ${i} request ${k}: body ${echo.body}`);
          seen[i]!.push(echo.protonId);
        } catch (err) {
          failures.push(`caller ${i} request ${k}: ${String(err)}`);
        }
      }
    };
    const traffic = seen.map((_, i) => caller(i));
    await vi.waitFor(() => expect(seen.every((s) => s.length >= 2)).toBe(true), { timeout: 10_000, interval: 10 });

    const next = await createArtifact(t);
    const { replaceWorkloadArtifact } = await t.exec(ReplaceWorkloadArtifactDocument, { input: { id: w.id, artifactId: next } });
    expect(replaceWorkloadArtifact).toMatchObject({ __typename: 'WorkloadOperationPayload', changed: true });
    const done = await waitForWorkload(t, w.id, (x) => x.replacement?.status === 'COMPLETED', 30_000);
    const newProton = uuidOf(done.protons.find((p) => p.role === 'ACTIVE')!.id);
    expect(newProton).not.toBe(oldProton);
    // Traffic goes on until the old proton's last replica is gone and every caller has seen the new one.
    await vi.waitFor(
      async () => {
        expect(await t.app.runtime.listPods({ protonId: oldProton })).toHaveLength(0);
        expect(seen.every((s) => s.slice(-3).length === 3 && s.slice(-3).every((p) => p === newProton))).toBe(true);
      },
      { timeout: 20_000, interval: 20 },
    );
    stop = true;
    await Promise.all(traffic);

    expect(failures).toEqual([]);
    for (const s of seen) {
      const switchedAt = s.indexOf(newProton);
      expect(switchedAt).toBeGreaterThan(0);
      expect(new Set(s.slice(0, switchedAt))).toEqual(new Set([oldProton]));
      expect(new Set(s.slice(switchedAt))).toEqual(new Set([newProton]));
    }
  });
});
