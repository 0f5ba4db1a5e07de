/**
 * Forwarded WebSockets stay subject to access while open (ADR 0050, amendment of issue 13): while
 * a workload has forwarded WebSockets on this replica, its changes (sharing changes among them,
 * heard through the change feed on every replica) re-read the role of each distinct caller with a
 * socket open, uncached, and close (4403, `Access revoked`) the sockets of callers left with none.
 */
import type { Logger } from 'pino';
import type { ChangeFeed } from '../pubsub/change-feed.js';
import { CLOSE_CODES } from '../domain/close-codes.js';
import type { ForwardedWebSocket } from './forwarded-websocket.js';
import { principalKey, type InvokeAccess } from './invoke-access.js';

/** The forwarded WebSockets of one workload, and the watch on its changes. */
interface WatchedWorkload {
  readonly sockets: Set<ForwardedWebSocket>;
  unwatch: () => void;
  checking: boolean;
  again: boolean;
}

/** Watches the workloads that have forwarded WebSockets open on this replica. */
export class WebSocketAccessWatch {
  readonly #watched = new Map<string, WatchedWorkload>();

  constructor(
    private readonly access: InvokeAccess,
    private readonly logger: Logger,
    private readonly feed?: ChangeFeed,
  ) {}

  /** Starts re-checking the socket's caller; looks once at once. */
  watch(forwarded: ForwardedWebSocket): void {
    const id = forwarded.workloadId;
    let watched = this.#watched.get(id);
    if (!watched) {
      const entry: WatchedWorkload = { sockets: new Set(), unwatch: () => {}, checking: false, again: false };
      if (this.feed) entry.unwatch = this.feed.watch(id, { changed: () => this.#recheck(id), resync: () => this.#recheck(id) });
      this.#watched.set(id, entry);
      watched = entry;
    }
    watched.sockets.add(forwarded);
    // A role removed between the check of the upgrade and the watch would go unnoticed: look again.
    this.#recheck(id);
  }

  /** The socket closed: no more checks for it (nor for its workload, if it was the last). */
  unwatch(forwarded: ForwardedWebSocket): void {
    const watched = this.#watched.get(forwarded.workloadId);
    if (!watched) return;
    watched.sockets.delete(forwarded);
    if (watched.sockets.size === 0) {
      watched.unwatch();
      this.#watched.delete(forwarded.workloadId);
    }
  }

  /**
   * Reads the role of each caller with a WebSocket open to the workload, uncached, and closes the
   * connections of those who have none left. Notifications that arrive meanwhile make one more pass.
   */
  #recheck(workloadId: string): void {
    const watched = this.#watched.get(workloadId);
    if (!watched) return;
    if (watched.checking) {
      watched.again = true;
      return;
    }
    watched.checking = true;
    const pass = async () => {
      do {
        watched.again = false;
        const byCaller = new Map<string, ForwardedWebSocket[]>();
        for (const f of watched.sockets) {
          const key = principalKey(f.viewer);
          byCaller.set(key, [...(byCaller.get(key) ?? []), f]);
        }
        for (const sockets of byCaller.values()) {
          const grant = await this.access.current(sockets[0]!.viewer, workloadId);
          if (!grant) for (const f of sockets) f.close(CLOSE_CODES.forbidden, 'Access revoked');
        }
      } while (watched.again);
    };
    void pass()
      .catch((err: unknown) => this.logger.warn({ err, workloadId }, 'could not re-check access of forwarded WebSockets'))
      .finally(() => (watched.checking = false));
  }
}
