import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, decodeJwt } from 'jose';
import type { AuthSettings } from './authenticator.js';

/** The sample subjects of development mode, so sharing can be tried with several people. */
const DEVELOPMENT_SUBJECTS: Record<string, Record<string, unknown>> = {
  alice: { groups: ['team-a'], org: 'example' },
  bob: { groups: ['team-b'], org: 'example' },
  carol: { groups: [], org: 'other' },
  admin: { roles: ['platform-admin'] },
};

export const DEVELOPMENT_ISSUER = 'workload-api-development';
const TOKEN_LIFETIME_SECONDS = 365 * 24 * 3600;

export interface DevelopmentAuth {
  settings: AuthSettings;
  /** A ready bearer token per sample subject. */
  tokens: Record<string, string>;
  file: string;
}

interface DevelopmentAuthFile {
  secret: string;
  tokens: Record<string, string>;
}

async function mint(secret: string, sub: string, claims: Record<string, unknown>, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer(DEVELOPMENT_ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + TOKEN_LIFETIME_SECONDS)
    .sign(new TextEncoder().encode(secret));
}

/**
 * Development mode: a random signing secret and long-lived tokens for sample subjects, kept in
 * `<dataDir>/dev-auth.json` (made on first start, re-minted when expired). Tokens are verified
 * exactly as in production; only where the secret comes from differs.
 */
export async function prepareDevelopmentAuth(
  dataDir: string,
  base: Omit<AuthSettings, 'secret' | 'jwksUrl' | 'issuer' | 'audience'>,
  now: Date,
): Promise<DevelopmentAuth> {
  const file = path.resolve(dataDir, 'dev-auth.json');
  let stored: DevelopmentAuthFile | undefined;
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (
      typeof parsed === 'object' && parsed !== null && 'secret' in parsed && typeof parsed.secret === 'string' &&
      'tokens' in parsed && typeof parsed.tokens === 'object' && parsed.tokens !== null
    ) {
      stored = { secret: parsed.secret, tokens: parsed.tokens as Record<string, string> };
    }
  } catch {
    stored = undefined;
  }
  const fresh = (token: string | undefined) => {
    if (!token) return false;
    try {
      const { exp } = decodeJwt(token);
      return typeof exp === 'number' && exp * 1000 > now.getTime() + 24 * 3600_000;
    } catch {
      return false;
    }
  };
  if (!stored || !Object.keys(DEVELOPMENT_SUBJECTS).every((s) => fresh(stored?.tokens[s]))) {
    const secret = stored?.secret ?? randomBytes(32).toString('base64url');
    const tokens: Record<string, string> = {};
    for (const [sub, claims] of Object.entries(DEVELOPMENT_SUBJECTS)) tokens[sub] = await mint(secret, sub, claims, now);
    stored = { secret, tokens };
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
  return { settings: { ...base, secret: stored.secret, issuer: DEVELOPMENT_ISSUER }, tokens: stored.tokens, file };
}
