/**
 * The API remembers verified tokens (AUTH_TOKEN_CACHE_MS, ADR 0004 decision 11), never past a
 * token's own `exp`: a token answered a moment ago is refused once it expires.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/backends.js';
import { startTestApp, tokenFor, type TestApp } from '../support/test-app.js';

describeEachDatabase('remembered tokens in the API', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend, { AUTH_TOKEN_CACHE_MS: '600000' });
  });
  afterAll(() => t?.stop());

  it('answers a token it verified, then refuses it once its exp has passed, however long it may remember', async () => {
    const token = await tokenFor({ sub: 'short-lived' }, { expiresInSeconds: 2 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
    const caller = t.as(`Bearer ${token}`);
    expect((await caller.execRaw('{ workloads(first: 1) { totalCount } }')).errors).toBeUndefined();
    expect((await caller.execRaw('{ workloads(first: 1) { totalCount } }')).errors).toBeUndefined();
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 50));
    const late = await caller.execRaw('{ workloads(first: 1) { totalCount } }');
    expect(late.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })]);
  });

  it('does not remember a token it refused', async () => {
    const forged = `Bearer ${await tokenFor({ sub: 'forger' }, { secret: 'another-secret-of-at-least-32-chars!!' })}`;
    for (let i = 0; i < 2; i++) {
      const r = await t.as(forged).execRaw('{ workloads(first: 1) { totalCount } }');
      expect(r.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })]);
    }
  });
});
