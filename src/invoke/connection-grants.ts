/**
 * Per connection, the last caller and workload the endpoint let through: a keep-alive connection
 * that sends the same `Authorization` to the same workload again skips token verification and
 * the authorization lookup (and their promise hops) while the grant is younger than `ttlMs` and
 * the token has not expired. The bound on a revocation stays the shared access cache's
 * (`INVOKE_ACCESS_CACHE_MS`, ADR 0050): a grant's age counts from its read in the database (a
 * grant taken from the shared cache is as old as that read), and no grant outlives the token's
 * `exp`. The route is not remembered: it is resolved per request, so a switch applies to the
 * next request (ADR 0051).
 */
import type { Viewer } from '../auth/viewer.js';
import type { InvokeGrant } from './invoke-access.js';

interface Remembered {
  readonly authorization: string;
  readonly rawId: string;
  readonly viewer: Viewer;
  readonly grant: InvokeGrant;
  /** On the grant clock (monotonic): when the grant must be read again. */
  readonly staleAt: number;
  /** Wall-clock ms (token expiry is wall-clock): when the token expires. */
  readonly expiresAt: number;
}

/** What a connection last was allowed, keyed by its socket. */
export class ConnectionGrants {
  readonly #bySocket = new WeakMap<object, Remembered>();

  constructor(
    private readonly ttlMs: number,
    /** The clock grants are read on (InvokeAccess's). */
    private readonly grantClock: () => number,
    private readonly wallClock: () => number = Date.now,
  ) {}

  /** The remembered viewer and grant, if this connection asked for the same thing recently enough. */
  get(socket: object, authorization: string | undefined, rawId: string): Remembered | undefined {
    if (this.ttlMs <= 0 || authorization === undefined) return undefined;
    const r = this.#bySocket.get(socket);
    if (!r || r.authorization !== authorization || r.rawId !== rawId) return undefined;
    if (this.grantClock() >= r.staleAt || this.wallClock() >= r.expiresAt) {
      this.#bySocket.delete(socket);
      return undefined;
    }
    return r;
  }

  /** Remembers a grant read at `readAt` (grant clock) for this connection. */
  remember(socket: object, authorization: string | undefined, rawId: string, viewer: Viewer, grant: InvokeGrant, readAt: number): void {
    if (this.ttlMs <= 0 || authorization === undefined) return;
    this.#bySocket.set(socket, { authorization, rawId, viewer, grant, staleAt: readAt + this.ttlMs, expiresAt: viewer.expiresAt ?? Number.POSITIVE_INFINITY });
  }
}
