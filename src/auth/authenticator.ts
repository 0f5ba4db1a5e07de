import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Viewer } from './viewer.js';

/** How bearer tokens are verified and read. */
export interface AuthSettings {
  /** HS256 shared secret; exactly one of `secret` and `jwksUrl` is set. */
  secret?: string;
  /** URL of a JSON Web Key Set (RS256, ES256, ...), fetched and cached. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  claims: { groups: string; organization: string; roles: string };
  platformAdminRole: string;
}

/** A request could not be authenticated; the message says why, without secrets. */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
}

/** Turns the value of an Authorization header (or a connection parameter) into a viewer. */
export interface Authenticator {
  authenticate(authorization: string | null | undefined): Promise<Viewer>;
}

const MAX_TOKEN_LENGTH = 16_384;

function stringList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v.length > 0);
  if (typeof value === 'string' && value.length > 0) return [value];
  return [];
}

/** Maps verified claims to a viewer; the subject claim is required. */
export function viewerFromClaims(payload: JWTPayload, settings: AuthSettings): Viewer {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) {
    throw new AuthenticationError('the token has no usable "sub" claim');
  }
  const roles = stringList(payload[settings.claims.roles]);
  const organization = stringList(payload[settings.claims.organization])[0] ?? null;
  return {
    userId: payload.sub,
    groups: stringList(payload[settings.claims.groups]),
    organization,
    roles,
    isPlatformAdmin: roles.includes(settings.platformAdminRole),
    ...(typeof payload.exp === 'number' && { expiresAt: payload.exp * 1000 }),
  };
}

/** Verifies `Bearer` JWTs with the configured secret or key set: signature, expiry, issuer, audience. */
export function createJwtAuthenticator(settings: AuthSettings): Authenticator {
  const key: Uint8Array | JWTVerifyGetKey = settings.secret
    ? new TextEncoder().encode(settings.secret)
    : createRemoteJWKSet(new URL(settings.jwksUrl ?? ''), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
  const algorithms = settings.secret ? ['HS256'] : ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];
  return {
    async authenticate(authorization) {
      if (!authorization) throw new AuthenticationError('no bearer token: send "Authorization: Bearer <token>"');
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) throw new AuthenticationError('the Authorization header must be "Bearer <token>"');
      const token = match[1];
      if (token.length > MAX_TOKEN_LENGTH) throw new AuthenticationError('the bearer token is too long');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key as Uint8Array, {
          algorithms,
          issuer: settings.issuer,
          audience: settings.audience,
          requiredClaims: ['sub', 'exp'],
        }));
      } catch (err) {
        throw new AuthenticationError(describeJoseError(err));
      }
      return viewerFromClaims(payload, settings);
    },
  };
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the bearer token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the bearer token's "${err.claim}" claim is not accepted`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the bearer token\'s signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no known key signed the bearer token';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the bearer token is signed with an algorithm that is not accepted';
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JOSEError && err.code === 'ERR_JWKS_INVALID') {
    return 'the signing keys could not be fetched';
  }
  return 'the bearer token is malformed or cannot be verified';
}
