/**
 * Who may invoke a workload: any role on it (SPEC section 4). A caller with no role, like a
 * missing workload, gets nothing (404). Answers are cached briefly per caller and workload, so a
 * stream of requests costs one lookup per `cacheMs`; a revoked role stops working within that.
 */
import type { Principal } from '../domain/sharing.js';
import type { SharingRole, WorkloadStatus } from '../domain/model.js';
import { workloadUuidFromPathId } from '../domain/ids.js';
import type { Orm } from '../store/orm.js';
import { workloadRoles } from '../store/access.js';
import { queryRows } from '../store/sql.js';

/** What the endpoint needs to know about a workload the caller may invoke. */
export interface InvokeGrant {
  readonly workloadId: string;
  readonly role: SharingRole;
  readonly status: WorkloadStatus;
  readonly statusReason: string | null;
}

const MAX_ENTRIES = 10_000;

/** Looks up (and caches) whether a caller may invoke a workload. */
export class InvokeAccess {
  readonly #cache = new Map<string, { at: number; grant: InvokeGrant | null }>();

  constructor(
    private readonly orm: Orm,
    private readonly cacheMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * The caller's grant on the workload (named by its UUID or its global id), or null when it is
   * unknown, deleted or not shared with them.
   */
  async grant(who: Principal, workloadId: string): Promise<InvokeGrant | null> {
    return (await this.read(who, workloadId)).grant;
  }

  /**
   * The same, with the moment it was read from the database (on `now`'s clock): a cached answer
   * is as old as its read, which is what bounds how long anyone may go on relying on it.
   */
  async read(who: Principal, workloadId: string): Promise<{ grant: InvokeGrant | null; readAt: number }> {
    const id = workloadUuidFromPathId(workloadId);
    if (!id) return { grant: null, readAt: this.now() };
    const key = `${id}\u0000${principalKey(who)}`;
    const cached = this.#cache.get(key);
    if (cached && this.now() - cached.at < this.cacheMs) return { grant: cached.grant, readAt: cached.at };
    const readAt = this.now();
    const grant = await this.#lookup(who, id);
    if (this.cacheMs > 0) {
      this.#cache.delete(key);
      this.#cache.set(key, { at: readAt, grant });
      if (this.#cache.size > MAX_ENTRIES) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return { grant, readAt };
  }

  /** The clock of `read`'s `readAt` (monotonic by default). */
  clock(): number {
    return this.now();
  }

  /** The same, read now (never cached): for re-checking connections that stay open. */
  async current(who: Principal, workloadId: string): Promise<InvokeGrant | null> {
    const id = workloadUuidFromPathId(workloadId);
    return id ? this.#lookup(who, id) : null;
  }

  async #lookup(who: Principal, workloadId: string): Promise<InvokeGrant | null> {
    const em = this.orm.em.fork();
    const rows = await queryRows<{ status: WorkloadStatus; status_reason: string | null }>(
      em,
      'select status, status_reason from workload where id = ? and deleted_at is null',
      [workloadId],
    );
    const row = rows[0];
    if (!row) return null;
    const [role] = await workloadRoles(em, who, [workloadId]);
    if (!role) return null;
    return { workloadId, role, status: row.status, statusReason: row.status_reason };
  }
}

/** Everything about a caller that their roles depend on, as one string. */
export function principalKey(who: Principal): string {
  return `${who.userId}\u0000${who.groups.join(',')}\u0000${who.organization ?? ''}\u0000${who.roles.join(',')}\u0000${who.isPlatformAdmin}`;
}
