import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { SharingRole } from '../domain/model.js';
import { liveWorkloadIds, workloadRoles } from '../store/access.js';

/** The most joiners one read answers (bounds the statement's parameter list). */
export const JOINER_BATCH_LIMIT = 500;

interface Waiter {
  id: string;
  stopped: () => boolean;
  resolve: (role: SharingRole | null) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  viewer: Viewer;
  waiters: Waiter[];
}

export interface JoinerRolesDeps {
  fork: () => EntityManager;
  /** Runs a read again after transient failures (the live service's retry policy). */
  retrying: <T>(read: () => Promise<T>, stopped: () => boolean) => Promise<T>;
  /** Everything about a caller that its roles depend on. */
  callerKey: (viewer: Viewer) => string;
}

/**
 * The roles of subscribers as they join, read in batches per caller. A batch is read on the
 * event-loop turn after its first request and leaves the map before its read starts, so the
 * read starts after every request in it was made: it sees every sharing change that any of its
 * joiners already knew of, as a read of the joiner's own would. Requests that come while a read
 * runs wait for the next batch. A storm of thousands of joins (a replica restarting, clients
 * reconnecting) costs two statements per caller and turn instead of two per subscriber.
 */
export class JoinerRoles {
  readonly #batches = new Map<string, Batch>();

  constructor(private readonly deps: JoinerRolesDeps) {}

  /** The caller's role on a workload that exists and is not deleted, or null. */
  roleOf(viewer: Viewer, id: string, stopped: () => boolean): Promise<SharingRole | null> {
    const key = this.deps.callerKey(viewer);
    let batch = this.#batches.get(key);
    if (!batch || batch.waiters.length >= JOINER_BATCH_LIMIT) {
      const fresh: Batch = { viewer, waiters: [] };
      this.#batches.set(key, fresh);
      setImmediate(() => void this.#read(key, fresh));
      batch = fresh;
    }
    const joining = batch;
    return new Promise((resolve, reject) => joining.waiters.push({ id, stopped, resolve, reject }));
  }

  async #read(key: string, batch: Batch): Promise<void> {
    if (this.#batches.get(key) === batch) this.#batches.delete(key);
    const ids = [...new Set(batch.waiters.map((w) => w.id))];
    try {
      const roles = await this.deps.retrying(
        async () => {
          const em = this.deps.fork();
          const found = await workloadRoles(em, batch.viewer, ids);
          const live = await liveWorkloadIds(em, ids.filter((_, i) => found[i] != null));
          return new Map(ids.map((id, i) => [id, live.has(id) ? (found[i] ?? null) : null]));
        },
        () => batch.waiters.every((w) => w.stopped()),
      );
      for (const w of batch.waiters) w.resolve(roles.get(w.id) ?? null);
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
    }
  }
}
