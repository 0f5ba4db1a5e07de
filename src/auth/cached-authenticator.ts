/**
 * Remembers verified bearer tokens for a short while, so a client sending many requests a second
 * (GraphQL, invoke) pays for the signature check (WebCrypto through jose, tens of microseconds
 * and a trip through the thread pool) once per `ttlMs` rather than per request. A token is never remembered past its own `exp`, and failures
 * are not cached. Keyed by the whole Authorization header value.
 */
import type { Authenticator } from './authenticator.js';
import type { Viewer } from './viewer.js';

const MAX_ENTRIES = 10_000;

/** Wraps `inner` with a bounded cache of successful authentications. */
export function cachedAuthenticator(inner: Authenticator, ttlMs: number, now: () => number = Date.now): Authenticator {
  if (ttlMs <= 0) return inner;
  const cache = new Map<string, { viewer: Viewer; until: number }>();
  return {
    async authenticate(authorization) {
      if (!authorization) return inner.authenticate(authorization);
      const hit = cache.get(authorization);
      if (hit && hit.until > now()) return hit.viewer;
      if (hit) cache.delete(authorization);
      const viewer = await inner.authenticate(authorization);
      const exp = expiryOf(authorization);
      const until = Math.min(now() + ttlMs, exp ?? 0);
      if (until > now()) {
        cache.set(authorization, { viewer, until });
        if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
      }
      return viewer;
    },
  };
}

/** The `exp` of a verified JWT in the header, in ms; undefined if it cannot be read. */
function expiryOf(authorization: string): number | undefined {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
