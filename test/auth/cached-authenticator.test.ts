import { describe, expect, it } from 'vitest';
import { AuthenticationError, type Authenticator } from '../../src/auth/authenticator.js';
import { userViewer } from '../../src/auth/viewer.js';
import { cachedAuthenticator } from '../../src/auth/cached-authenticator.js';

/** A JWT-shaped header whose payload carries `exp` (the signature is the inner authenticator's business). */
const header = (sub: string, expSeconds: number) =>
  `Bearer x.${Buffer.from(JSON.stringify({ sub, exp: expSeconds })).toString('base64url')}.y`;

function counting(): Authenticator & { calls: number } {
  const inner = {
    calls: 0,
    async authenticate(authorization: string | null | undefined) {
      inner.calls += 1;
      if (!authorization?.includes('.')) throw new AuthenticationError('bad');
      return userViewer('someone');
    },
  };
  return inner;
}

describe('remembering verified tokens', () => {
  it('verifies a token once per time-to-live', async () => {
    let now = 1_000_000;
    const inner = counting();
    const auth = cachedAuthenticator(inner, 1000, () => now);
    const h = header('a', 10_000);
    await auth.authenticate(h);
    await auth.authenticate(h);
    expect(inner.calls).toBe(1);
    now += 1001;
    await auth.authenticate(h);
    expect(inner.calls).toBe(2);
  });

  it('never remembers a token past its own expiry', async () => {
    let now = 1_000_000;
    const inner = counting();
    const auth = cachedAuthenticator(inner, 60_000, () => now);
    const h = header('a', 1_000_000 / 1000 + 1);
    await auth.authenticate(h);
    now += 1000;
    await auth.authenticate(h);
    expect(inner.calls).toBe(2);
  });

  it('does not remember failures, and passes everything through with a time-to-live of 0', async () => {
    const inner = counting();
    const auth = cachedAuthenticator(inner, 1000);
    await expect(auth.authenticate('Bearer nodots')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(auth.authenticate('Bearer nodots')).rejects.toBeInstanceOf(AuthenticationError);
    expect(inner.calls).toBe(2);
    const uncached = counting();
    expect(cachedAuthenticator(uncached, 0)).toBe(uncached);
  });
});
