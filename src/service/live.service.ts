import type { FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Repeater } from 'graphql-yoga';
import { whenCredentialsExpire, type Viewer } from '../auth/viewer.js';
import type { SharingRole } from '../domain/model.js';
import { NotFoundError } from '../domain/errors.js';
import type { Principal } from '../domain/sharing.js';
import { matchesWorkloadFilter, subscriberLag, type WorkloadListFilter } from '../domain/workload-filter.js';
import type { ChangeFeed, ChangeListener } from '../pubsub/change-feed.js';
import { visibleWorkloads, workloadRoles } from '../store/access.js';
import { readHeadAndEvents, type WorkloadHeadAndEvents } from '../store/events.js';
import { readWorkloadView, type PageOptions, type WorkloadPage } from '../store/workload-page.js';
import { queryRows } from '../store/sql.js';
import { WorkloadEntity, type Workload, type WorkloadEvent } from '../store/entities/index.js';
import type { Orm } from '../store/orm.js';
import { JoinerRoles } from './joiner-roles.js';
import type { WorkloadService } from './workload.service.js';

/** Why a live subscription ended on the server's initiative; clients see it as the error `code`. */
export type SubscriptionEndCode = 'NOT_FOUND' | 'ACCESS_REVOKED' | 'SLOW_CONSUMER' | 'SERVICE_UNAVAILABLE' | 'TOKEN_EXPIRED';

/**
 * How a stream rides out a database that cannot be reached: each failed read is tried again after
 * `firstDelayMs`, doubling up to `maxDelayMs` (with jitter, so that thousands of streams do not
 * retry in step), until `budgetMs` have passed since the first failure; then the stream ends with
 * SERVICE_UNAVAILABLE. Nothing is lost meanwhile: every read starts after what was last sent.
 */
export interface ReadRetryPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  budgetMs: number;
}

/** A blip of a few seconds (a PostgreSQL restart, a failover) passes unnoticed by subscribers. */
export const DEFAULT_READ_RETRY: ReadRetryPolicy = { firstDelayMs: 100, maxDelayMs: 2000, budgetMs: 15_000 };

/** The last item of a stream that the server ended: delivered as a final GraphQL error. */
export class SubscriptionEnded {
  constructor(
    readonly code: SubscriptionEndCode,
    readonly message: string,
  ) {}
}

/** One state of a watched workload, with the newest event it reflects. */
export interface WorkloadChange {
  sequence: number;
  workload: Workload;
  /**
   * The workload with its artifact, protons and (when the subscription selects them) replacements
   * and grants, read in one statement: what the payload's fields answer from, so that one payload
   * is one moment (ADR 0061 decision 14). Roles are not taken from it: they are the caller's.
   */
  moment: WorkloadPage;
}

/** What a `workloadChanged` payload reads beside the workload (from the subscription's selection). */
export type WorkloadChangeOptions = Pick<PageOptions, 'withReplacements' | 'withGrants'>;

/**
 * Whom the reads shared by every stream of a workload are made for: they see any live workload
 * (the stream has checked its own caller's role), and the roles they read are never handed on.
 */
const ANY_CALLER: Principal = { userId: '', groups: [], organization: null, roles: [], isPlatformAdmin: true };

/** A change of a list view: the workload as it is now, or `null` when it left the list. */
export interface WorkloadListChange {
  workloadId: string;
  sequence: number;
  workload: Workload | null;
}

/** What the transport lets a stream do to its connection. */
export interface StreamHooks {
  /** Called once when the subscriber falls too far behind (WebSocket: closes the connection). */
  onSlowConsumer?: () => void;
  /**
   * Called with the subscriber's role on the workload whenever the stream has read it (at its
   * first pass, and after each sharing change), before it sends what that read allowed: payloads
   * then need not read the role again (the API primes its role loader with it).
   */
  onRole?: (workloadId: string, role: SharingRole) => void;
  /**
   * End the stream with TOKEN_EXPIRED when the viewer's token expires. For streams that are their
   * own connection (SSE); a WebSocket connection ends its operations itself.
   */
  endAtTokenExpiry?: boolean;
}

export interface LiveServiceDeps {
  orm: Orm;
  workloads: WorkloadService;
  feed: ChangeFeed;
  /** How many undelivered events (or changed list entries) a subscriber may fall behind. */
  maxPendingEvents: number;
  /** How long a shared read serves streams that come late to it (ms); READ_REUSE_MS by default. */
  readReuseMs?: number;
  /** Whether a failed read may succeed if tried again (the database is unreachable now); default: never. */
  isTransient?: (err: unknown) => boolean;
  readRetry?: ReadRetryPolicy;
}

/** What a retried pass returns when the client left while it waited. */
const STOPPED = Symbol('stopped');

const EVENT_PAGE = 100;
/**
 * How long a shared read serves streams that come late to it (ms): longer than subscribers drift
 * apart under load, short enough that an idle process soon holds no read (ADR 0032).
 */
const READ_REUSE_MS = 2_000;

/** Wakes a stream's loop; any number of notifications before it runs count as one. */
class Wakeup {
  private dirty = false;
  private resolve: (() => void) | undefined;
  notify(): void {
    this.dirty = true;
    const r = this.resolve;
    this.resolve = undefined;
    r?.();
  }
  /** Resolves at once after a notification, else at the next one (not async: no frame held while waiting). */
  next(): Promise<void> {
    if (this.dirty) {
      this.dirty = false;
      return Promise.resolve();
    }
    // Notifications that arrive before the loop resumes are covered by the read it is about to do.
    return new Promise<void>((r) => (this.resolve = r)).then(() => {
      this.dirty = false;
    });
  }
}

type Push<T> = (value: T | SubscriptionEnded) => Promise<unknown>;

/** What a stream needs of a workload to decide what to send: its newest event and whether it is deleted. */
type WorkloadHead = Pick<Workload, 'id' | 'lastEventSequence' | 'deletedAt'>;

/**
 * Whether a stream's subscribers may still see the workload as read; `reread` asks again even
 * if no sharing change was seen since the last answer (a sharing change is about to be sent).
 */
type Visibility = (w: WorkloadHead, reread: boolean) => Promise<boolean>;

/** Resolves after `ms`, or at once when `halted` settles. */
function pause(ms: number, halted: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void halted.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Live streams for subscriptions. A stream never queues payloads: notifications (ids and sequence
 * numbers) only wake it, and it re-reads the database with the subscriber's own viewer, so memory
 * does not grow with the number of events, authorization applies to every payload, and a lost
 * notification is repaired by the next read (sequence numbers say what is missing).
 */
export class LiveService {
  /**
   * Reads of the last few seconds, by what they read. Streams of one workload share them even when
   * they run out of step (a subscriber whose client reads slowly is still sending the previous
   * event when the next one is read): every key names rows that cannot change (a page of the
   * append-only event log below a committed sequence; the newest sharing change up to one), or a
   * workload row read after a given sequence was committed, which any stream that knows of no later
   * change may use. A Redis outage's resync clears them.
   */
  private readonly reads = new Map<string, { value: Promise<unknown>; expires: number }>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Role reads under way, by caller, workload and sequence (see roleOf). */
  private readonly roleReads = new Map<string, Promise<SharingRole | null>>();
  /** Joining subscribers' role reads, batched per caller. */
  private readonly joiners: JoinerRoles;

  private readonly readReuseMs: number;

  constructor(private readonly deps: LiveServiceDeps) {
    this.readReuseMs = deps.readReuseMs ?? READ_REUSE_MS;
    this.joiners = new JoinerRoles({ fork: () => deps.orm.em.fork(), retrying: (read, stopped) => this.retrying(read, stopped), callerKey });
  }

  /**
   * Runs one pass of a stream (a read and what it sends), again after each transient failure
   * (see ReadRetryPolicy). A pass is safe to repeat: it reads from the last item sent. Returns what
   * the pass returned, a SubscriptionEnded once the outage outlasted the budget, or STOPPED when the
   * client left meanwhile. Other errors are thrown as they are.
   */
  private async ride<T>(pass: () => Promise<T>, stopped: () => boolean, halted: Promise<unknown>): Promise<T | SubscriptionEnded | typeof STOPPED> {
    const policy = this.deps.readRetry ?? DEFAULT_READ_RETRY;
    let firstFailure: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await pass();
      } catch (err) {
        if (!this.deps.isTransient?.(err)) throw err;
        firstFailure ??= Date.now();
        const elapsed = Date.now() - firstFailure;
        if (elapsed >= policy.budgetMs) {
          return new SubscriptionEnded(
            'SERVICE_UNAVAILABLE',
            `the database has been unavailable for ${Math.round(elapsed / 1000)} s; subscribe again later (resume workloadEvents with "after")`,
          );
        }
        const delay = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** attempt) * (0.8 + Math.random() * 0.4);
        await pause(Math.min(delay, policy.budgetMs - elapsed), halted);
        if (stopped()) return STOPPED;
      }
    }
  }

  /** Runs `read` once for everyone who asks for `key` while it runs and for `readReuseMs` after. */
  private shared<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const kept = this.reads.get(key);
    if (kept && kept.expires > now) return kept.value as Promise<T>;
    const value = read();
    const entry = { value, expires: now + this.readReuseMs };
    this.reads.set(key, entry);
    // A failed read is not kept: the next stream that asks tries again.
    value.catch(() => {
      if (this.reads.get(key) === entry) this.reads.delete(key);
    });
    this.sweeper ??= setInterval(() => this.sweep(), this.readReuseMs / 4).unref();
    return value;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of this.reads) if (entry.expires <= now) this.reads.delete(key);
    if (this.reads.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Forgets every kept read: after a Redis outage, notifications may have been lost. */
  private forgetReads(): void {
    this.reads.clear();
  }

  /**
   * The workload row as read after every change up to sequence `atLeast` was committed (no
   * authorization): one query for all streams that know of nothing newer.
   */
  private sharedWorkload(id: string, atLeast: number): Promise<Workload | null> {
    return this.shared(`workload:${id}:${atLeast}`, () => this.deps.orm.em.fork().findOne(WorkloadEntity, { id }));
  }

  /**
   * The workload's newest event and deletion with the first page of events after `from`, read
   * after every change up to `atLeast` was committed: one plain statement (no entities) for all
   * event streams in step (a group is one stream), or none when a commit of this process wrote
   * exactly those events (the feed keeps them: ADR 0033 decision 7).
   */
  private sharedHeadAndEvents(id: string, atLeast: number, from: number): Promise<WorkloadHeadAndEvents> {
    return this.shared(`head:${id}:${atLeast}:${from}`, () => {
      const committed = atLeast - from <= EVENT_PAGE ? this.deps.feed.committed(id, from, atLeast) : undefined;
      if (committed) return Promise.resolve({ head: { lastEventSequence: atLeast, deletedAt: committed.deletedAt }, events: [...committed.events] });
      return readHeadAndEvents(this.deps.orm.em.fork(), id, from, EVENT_PAGE);
    });
  }

  /**
   * The `workloadChanged` payload of a live workload as read after every change up to `atLeast` was
   * committed (no authorization; undefined when it is deleted or never was): one statement for all
   * streams that know of nothing newer and select the same relations, and the same payload object
   * for each of them (executed once per group, ADR 0033).
   */
  private sharedChange(id: string, atLeast: number, options: WorkloadChangeOptions): Promise<WorkloadChange | undefined> {
    const key = `change:${id}:${atLeast}:${options.withReplacements ? 'r' : ''}${options.withGrants ? 'g' : ''}`;
    return this.shared(key, async () => changeOf(await readWorkloadView(this.deps.orm.em.fork(), ANY_CALLER, id, { withRelations: true, ...options })));
  }

  /** The newest sharing change of a workload up to `upTo`, read once for all streams. */
  private sharedLastSharingChange(id: string, upTo: number): Promise<number> {
    return this.shared(`sharing:${id}:${upTo}`, async () => {
      const rows = await queryRows<{ sequence: number | null }>(
        this.deps.orm.em.fork(),
        `select max(sequence) as sequence from workload_event where workload_id = ? and type = 'sharingChanged' and sequence <= ?`,
        [id, upTo],
      );
      return rows[0]?.sequence ?? 0;
    });
  }

  /**
   * Whether the viewer may still see the workload. The role is read again only when the workload's
   * sharing changed since it was last read (sharing changes are events), so ten thousand streams
   * on one workload do not run ten thousand role queries per event.
   */
  private async stillVisible(viewer: Viewer, w: WorkloadHead, auth: { checkedAt: number }, hooks: StreamHooks): Promise<boolean> {
    if (w.deletedAt) return false;
    // A role to read anyway (the first pass, or a sharing change being delivered) needs no history.
    if (auth.checkedAt >= 0 && (await this.sharedLastSharingChange(w.id, w.lastEventSequence)) <= auth.checkedAt) return true;
    const [role] = await workloadRoles(this.deps.orm.em.fork(), viewer, [w.id]);
    if (role == null) return false;
    auth.checkedAt = w.lastEventSequence;
    hooks.onRole?.(w.id, role);
    return true;
  }

  /** The workload now, then again whenever it changes; ends when it is deleted or unshared. */
  workloadChanges(viewer: Viewer, id: string, hooks: StreamHooks = {}, options: WorkloadChangeOptions = {}): AsyncIterableIterator<WorkloadChange | SubscriptionEnded> {
    let last = -1;
    let newestNotified = 0;
    return this.stream<WorkloadChange>(
      id,
      hooks.endAtTokenExpiry ? viewer : null,
      (wake) => ({
        changed: (_id, sequence) => {
          if (sequence > newestNotified) newestNotified = sequence;
          if (sequence > last) wake.notify();
        },
        resync: () => {
          this.forgetReads();
          wake.notify();
        },
      }),
      async (push, wake, stopped, halted) => {
        // Read in a helper: the stream's frame lives as long as the subscription, so it keeps
        // only a sequence number, not the first read's entities and their EntityManager.
        const start = await this.ride(() => this.pushCurrent(viewer, id, push, hooks, options), stopped, halted);
        if (start === STOPPED || start === null) return;
        if (start instanceof SubscriptionEnded) return push(start);
        // -1: the first pass reads the caller's role once (onRole), later ones after sharing changes.
        const auth = { checkedAt: -1 };
        last = start;
        for (;;) {
          await wake.next();
          if (stopped()) return;
          // The pass runs in a helper so that no entity stays referenced while the stream waits.
          const sent = await this.ride(() => this.pushIfNewer(viewer, id, auth, last, Math.max(last, newestNotified), push, hooks, options), stopped, halted);
          if (sent === STOPPED || sent === null) return;
          if (sent instanceof SubscriptionEnded) return push(sent);
          last = sent;
          // A read shared with other streams may predate the newest notification: read again.
          if (newestNotified > last) wake.notify();
        }
      },
    );
  }

  /**
   * The event log after sequence `after`, replayed from the database, then live. The feed is
   * watched before the first read, and every read starts after the last event sent, so there is
   * no gap and no duplicate across the seam, a lost notification or a reconnect.
   */
  workloadEvents(viewer: Viewer, id: string, after: number, hooks: StreamHooks = {}): AsyncIterableIterator<WorkloadEvent | SubscriptionEnded> {
    let admitted = false;
    return this.eventStream(id, after, hooks.endAtTokenExpiry ? viewer : null, hooks, {
      start: () => this.visibleSequence(viewer, id),
      // The first pass reads the caller's role (onRole). After it the stream delivers every event
      // in order, and a sharing change among them reads the role again before it is sent
      // (`reread`), as a group's does: the sharing history needs no query at each wake.
      visible: async (w, reread) => {
        if (admitted && !reread) return !w.deletedAt;
        const still = await this.stillVisible(viewer, w, { checkedAt: -1 }, hooks);
        admitted ||= still;
        return still;
      },
    });
  }

  /**
   * The event log of a workload after `after` for a group of subscribers (ADR 0033): the same
   * stream as {@link workloadEvents}, but whether the workload may still be seen is the group's
   * question. `admit` is asked at the first pass and before anything that follows a sharing
   * change is sent; it re-reads each member's role, removes those who lost it, and answers
   * whether anyone is left. The stream ends with NOT_FOUND when the workload is deleted.
   */
  groupEvents(id: string, after: number, admit: (workloadId: string, atSequence: number) => Promise<boolean>, hooks: Pick<StreamHooks, 'onSlowConsumer'> = {}): AsyncIterableIterator<WorkloadEvent | SubscriptionEnded> {
    const auth = { checkedAt: -1 };
    return this.eventStream(id, after, null, hooks, {
      start: async () => {
        const w = await this.deps.orm.em.fork().findOne(WorkloadEntity, { id }, { fields: ['id', 'lastEventSequence', 'deletedAt'] });
        return w && !w.deletedAt ? w.lastEventSequence : null;
      },
      visible: async (w, reread) => {
        if (w.deletedAt) return false;
        // Once admitted at sequence N, every sharing change after N is in the pages this stream
        // reads next (they start at the last event sent, and the first pass sends up to N), and
        // each one re-admits before anything after it is sent: nothing to read before a page.
        if (!reread && auth.checkedAt >= 0) return true;
        const admitted = await admit(w.id, w.lastEventSequence);
        if (!reread) auth.checkedAt = w.lastEventSequence;
        return admitted;
      },
    });
  }

  /**
   * The viewer's role on a workload that is not deleted, or null. Callers asking at once for the
   * same caller, workload and `atSequence` share one read, and only while it runs: such a read
   * started after sequence N was committed (each caller read N first), so it sees every sharing
   * change up to N. A read for no sequence (`null`: a subscriber joining) shares only a batched
   * read that starts after it was asked for (JoinerRoles): one started earlier might predate a
   * change the joiner already knows of. Transient failures are tried again (ReadRetryPolicy)
   * unless `stopped`.
   */
  roleOf(viewer: Viewer, id: string, atSequence: number | null, stopped: () => boolean = () => false): Promise<SharingRole | null> {
    if (atSequence === null) return this.joiners.roleOf(viewer, id, stopped);
    const key = `${callerKey(viewer)}:${id}:${atSequence}`;
    const running = this.roleReads.get(key);
    if (running) return running;
    const read = this.retrying(async () => {
      const [role] = await workloadRoles(this.deps.orm.em.fork(), viewer, [id]);
      if (role == null) return null;
      const w = await this.sharedWorkload(id, 0);
      return w && !w.deletedAt ? role : null;
    }, stopped);
    this.roleReads.set(key, read);
    const forget = () => {
      if (this.roleReads.get(key) === read) this.roleReads.delete(key);
    };
    read.then(forget, forget);
    return read;
  }

  /**
   * Runs a read, again after each transient failure (see ReadRetryPolicy), until it succeeds,
   * `stopped` says so (then undefined is thrown away by the caller), or the outage outlasts the
   * budget: then it throws SubscriptionEnded (SERVICE_UNAVAILABLE).
   */
  async retrying<T>(read: () => Promise<T>, stopped: () => boolean): Promise<T> {
    const outcome = await this.ride(read, stopped, new Promise<never>(() => {}));
    if (outcome === STOPPED || outcome instanceof SubscriptionEnded) throw outcome === STOPPED ? new SubscriptionEnded('SERVICE_UNAVAILABLE', 'stopped') : outcome;
    return outcome;
  }

  /**
   * The events of a workload after `from` up to `upTo`, in order (at most one page): shared with
   * the group streams that read the same page, so a subscriber catching up with its group mostly
   * reads nothing of its own.
   */
  eventsBetween(id: string, from: number, upTo: number, stopped: () => boolean = () => false): Promise<WorkloadEvent[]> {
    const limit = Math.min(EVENT_PAGE, upTo - from);
    if (limit <= 0) return Promise.resolve([]);
    return this.retrying(() => this.shared(`events:${id}:${from}:${limit}`, () => this.deps.workloads.events(this.deps.orm.em.fork(), id, { after: from, limit, inverted: false })), stopped);
  }

  /** Whether a failed read may succeed if tried again (the database cannot be reached now). */
  isTransient(err: unknown): boolean {
    return this.deps.isTransient?.(err) ?? false;
  }

  /** Why a subscriber who could see a workload no longer can (ACCESS_REVOKED or NOT_FOUND). */
  ended(id: string): Promise<SubscriptionEnded> {
    return this.whyGone(id);
  }

  private eventStream(
    id: string,
    after: number,
    expiring: Viewer | null,
    hooks: StreamHooks,
    access: { start: () => Promise<number | null>; visible: Visibility },
  ): AsyncIterableIterator<WorkloadEvent | SubscriptionEnded> {
    let delivered = after;
    let newestKnown = 0;
    let backlogEnd = Number.MAX_SAFE_INTEGER;
    let slow = false;
    return this.stream<WorkloadEvent>(
      id,
      expiring,
      (wake) => ({
        changed: (_id, sequence) => {
          if (sequence > newestKnown) newestKnown = sequence;
          if (sequence <= delivered) return;
          if (!slow && subscriberLag(newestKnown, delivered, backlogEnd) > this.deps.maxPendingEvents) {
            slow = true;
            hooks.onSlowConsumer?.();
          }
          wake.notify();
        },
        resync: () => {
          this.forgetReads();
          wake.notify();
        },
      }),
      async (push, wake, stopped, halted) => {
        // Only the sequence outlives this read (see workloadChanges).
        const start = await this.ride(access.start, stopped, halted);
        if (start === STOPPED) return;
        if (start instanceof SubscriptionEnded) return push(start);
        if (start === null) return push(new SubscriptionEnded('NOT_FOUND', `no workload with id "${id}"`));
        backlogEnd = start;
        wake.notify();
        for (;;) {
          await wake.next();
          if (stopped()) return;
          if (slow) return push(slowConsumer(this.deps.maxPendingEvents, delivered));
          // The pass runs in a helper so that no entity stays referenced while the stream waits.
          const outcome = await this.ride(
            () =>
              this.pushNewEvents(id, access.visible, push, {
                known: () => Math.max(newestKnown, backlogEnd, delivered),
                delivered: () => delivered,
                sent: (sequence) => (delivered = sequence),
                stopped,
                slow: () => slow,
              }),
            stopped,
            halted,
          );
          if (outcome === STOPPED || outcome === 'ended') return;
          if (outcome instanceof SubscriptionEnded) return push(outcome);
          // A read shared with other streams may predate the newest notification: read again.
          if (newestKnown > delivered) wake.notify();
        }
      },
    );
  }

  /**
   * Changes to the workloads in a list view: a workload that matches the filter and that the
   * viewer may see is sent whenever it changes; one that leaves the list (filtered out, deleted,
   * no longer shared) is sent once with `workload: null`. Others' workloads never produce anything.
   */
  workloadListChanges(viewer: Viewer, filter: WorkloadListFilter, hooks: StreamHooks = {}): AsyncIterableIterator<WorkloadListChange | SubscriptionEnded> {
    const dirty = new Map<string, number>();
    let full = false;
    let slow = false;
    return this.stream<WorkloadListChange>(
      null,
      hooks.endAtTokenExpiry ? viewer : null,
      (wake) => ({
        changed: (id, sequence) => {
          const before = dirty.get(id);
          if (before === undefined || sequence > before) dirty.set(id, sequence);
          if (!slow && dirty.size > this.deps.maxPendingEvents) {
            slow = true;
            hooks.onSlowConsumer?.();
          }
          wake.notify();
        },
        resync: () => {
          this.forgetReads();
          full = true;
          wake.notify();
        },
      }),
      async (push, wake, stopped, halted) => {
        // The list as it is when the subscription starts: what "leaving the list" is measured against.
        const seen = new Map<string, number>();
        const initial = await this.ride(() => this.listMatching(viewer, filter), stopped, halted);
        if (initial === STOPPED) return;
        if (initial instanceof SubscriptionEnded) return push(initial);
        for (const w of initial) seen.set(w.id, w.lastEventSequence);
        const pass = async (): Promise<'stopped' | 'done'> => {
          const em = this.deps.orm.em.fork();
          let candidates: [string, number][];
          let current: Map<string, Workload>;
          try {
            if (full) {
              full = false;
              dirty.clear();
              current = new Map((await this.listMatching(viewer, filter, em)).map((w) => [w.id, w]));
              candidates = [...new Set([...current.keys(), ...seen.keys()])].map((id) => [id, 0]);
            } else {
              candidates = [...dirty];
              dirty.clear();
              const found = await this.deps.workloads.loadMany(em, viewer, candidates.map(([id]) => id));
              current = new Map(found.filter((w) => matches(w, filter)).map((w) => [w.id, w]));
            }
          } catch (err) {
            // What was dirty is forgotten: the retry compares the whole list with what was sent.
            full = true;
            throw err;
          }
          for (const [id, notified] of candidates) {
            const w = current.get(id);
            if (w) {
              if ((seen.get(id) ?? -1) >= w.lastEventSequence) continue;
              seen.set(id, w.lastEventSequence);
              await push({ workloadId: id, sequence: w.lastEventSequence, workload: w });
            } else if (seen.has(id)) {
              const sequence = Math.max(notified, seen.get(id) ?? 0);
              seen.delete(id);
              await push({ workloadId: id, sequence, workload: null });
            }
            if (stopped()) return 'stopped';
          }
          return 'done';
        };
        for (;;) {
          await wake.next();
          if (stopped()) return;
          if (slow) return push(slowConsumer(this.deps.maxPendingEvents, null));
          const outcome = await this.ride(pass, stopped, halted);
          if (outcome === STOPPED || outcome === 'stopped') return;
          if (outcome instanceof SubscriptionEnded) return push(outcome);
        }
      },
    );
  }

  /**
   * Runs a stream: watches the feed before the body's first read, stops watching when the client
   * leaves (a Repeater ends a pending wait at once, unlike an async generator), and ends the
   * stream after a SubscriptionEnded item.
   */
  private stream<T>(
    workloadId: string | null,
    /** Whose token's expiry ends the stream, if any. */
    expiring: Viewer | null,
    listen: (wake: Wakeup) => ChangeListener,
    body: (push: Push<T>, wake: Wakeup, stopped: () => boolean, halted: Promise<unknown>) => Promise<unknown>,
  ): AsyncIterableIterator<T | SubscriptionEnded> {
    const feed = this.deps.feed;
    // Not an async executor: an idle stream then holds one suspended frame (the body's), not two.
    return new Repeater<T | SubscriptionEnded>((push, stop) => {
      const wake = new Wakeup();
      let done = false;
      const cancelExpiry = expiring
        ? whenCredentialsExpire(expiring, () => {
            void push(new SubscriptionEnded('TOKEN_EXPIRED', 'the bearer token this subscription was opened with has expired; subscribe again with a fresh token'));
            stop();
          })
        : undefined;
      void stop.then(() => {
        cancelExpiry?.();
        done = true;
        wake.notify();
      });
      const unwatch = feed.watch(workloadId, listen(wake));
      return body(push, wake, () => done, stop).then(
        () => {
          unwatch();
          stop();
        },
        (err: unknown) => {
          unwatch();
          throw err;
        },
      );
    });
  }

  /** Sends the workload if it changed since `last`; returns the newest sequence sent, or null once the stream ended. */
  private async pushIfNewer(
    viewer: Viewer,
    id: string,
    auth: { checkedAt: number },
    last: number,
    known: number,
    push: Push<WorkloadChange>,
    hooks: StreamHooks,
    options: WorkloadChangeOptions,
  ): Promise<number | null> {
    const change = await this.sharedChange(id, known, options);
    if (!change || !(await this.stillVisible(viewer, change.workload, auth, hooks))) {
      await push(await this.whyGone(id));
      return null;
    }
    if (change.sequence <= last) return last;
    await push(change);
    return change.sequence;
  }

  /**
   * Sends the events after the last one delivered, up to the workload's newest. Streams in step
   * read the same rows: one query each for the workload and the page, whatever their number.
   */
  private async pushNewEvents(
    id: string,
    visible: Visibility,
    push: Push<WorkloadEvent>,
    cursor: { known: () => number; delivered: () => number; sent: (sequence: number) => void; stopped: () => boolean; slow: () => boolean },
  ): Promise<'ended' | 'caught-up'> {
    // The head and the first page in one statement; further pages (a long backlog) one each.
    const read = await this.sharedHeadAndEvents(id, cursor.known(), cursor.delivered());
    const w = read.head && { id, ...read.head };
    if (!w || !(await visible(w, false))) {
      await push(await this.whyGone(id));
      return 'ended';
    }
    const newest = w.lastEventSequence;
    let next: WorkloadEvent[] | undefined = read.events;
    while (cursor.delivered() < newest && !cursor.stopped() && !cursor.slow()) {
      const from = cursor.delivered();
      const limit = Math.min(EVENT_PAGE, newest - from);
      const page =
        next ??
        (await this.shared(`events:${id}:${from}:${limit}`, () =>
          this.deps.workloads.events(this.deps.orm.em.fork(), id, { after: from, limit, inverted: false }),
        ));
      next = undefined;
      if (page.length === 0) break;
      for (const event of page) {
        if (event.sequence <= cursor.delivered() || event.sequence > newest) continue;
        // A sharing change may have revoked this viewer: ask before sending anything after it.
        if (event.type === 'sharingChanged' && !(await visible(w, true))) {
          await push(await this.whyGone(id));
          return 'ended';
        }
        await push(event);
        cursor.sent(event.sequence);
        if (cursor.stopped()) return 'ended';
      }
    }
    return 'caught-up';
  }

  /** Sends the workload as it is now; returns its newest sequence, or null when it cannot be seen. */
  private async pushCurrent(viewer: Viewer, id: string, push: Push<WorkloadChange>, hooks: StreamHooks, options: WorkloadChangeOptions): Promise<number | null> {
    // The caller's own page of one: the first payload, and the caller's role read with it.
    const page = await readWorkloadView(this.deps.orm.em.fork(), viewer, id, { withRelations: true, ...options });
    const first = changeOf(page);
    const role = page?.workloadRoles.get(id);
    if (!first || role == null) {
      await push(new SubscriptionEnded('NOT_FOUND', `no workload with id "${id}"`));
      return null;
    }
    hooks.onRole?.(id, role);
    await push(first);
    return first.sequence;
  }

  /** The workload's newest event sequence if the viewer may see it, else null. */
  private async visibleSequence(viewer: Viewer, id: string): Promise<number | null> {
    return (await this.readVisible(viewer, id))?.lastEventSequence ?? null;
  }

  private async readVisible(viewer: Viewer, id: string, em: EntityManager = this.deps.orm.em.fork()): Promise<Workload | null> {
    try {
      return await this.deps.workloads.get(em, viewer, id);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** Tells a subscriber who could see a workload why it no longer can. */
  private async whyGone(id: string): Promise<SubscriptionEnded> {
    const em = this.deps.orm.em.fork();
    const w = await em.findOne(WorkloadEntity, { id }, { fields: ['id', 'deletedAt'] });
    if (w && !w.deletedAt) {
      return new SubscriptionEnded('ACCESS_REVOKED', `your access to workload "${id}" was revoked; this subscription has ended`);
    }
    return new SubscriptionEnded('NOT_FOUND', `workload "${id}" was deleted; this subscription has ended`);
  }

  private async listMatching(viewer: Viewer, filter: WorkloadListFilter, em: EntityManager = this.deps.orm.em.fork()): Promise<Workload[]> {
    const all = await em.find(WorkloadEntity, { $and: [{ deletedAt: null }, visibleWorkloads(viewer)] } as FilterQuery<Workload>);
    return all.filter((w) => matches(w, filter));
  }
}

/** Everything about a caller that its roles depend on. */
function callerKey(viewer: Viewer): string {
  return JSON.stringify([viewer.userId, [...viewer.groups].sort(), viewer.organization, [...viewer.roles].sort(), viewer.isPlatformAdmin]);
}

function matches(w: Workload, filter: WorkloadListFilter): boolean {
  return matchesWorkloadFilter(
    {
      status: w.status,
      importance: w.importance,
      artifactStatus: w.artifactStatus,
      artifactId: w.artifact.id,
      name: w.name,
      description: w.description,
      deleted: w.deletedAt != null,
    },
    filter,
  );
}

function slowConsumer(max: number, delivered: number | null): SubscriptionEnded {
  const resume = delivered === null ? 're-read the list and subscribe again' : `subscribe again with after: ${delivered}`;
  return new SubscriptionEnded('SLOW_CONSUMER', `the subscriber fell more than ${max} changes behind; ${resume}`);
}

/** The `workloadChanged` payload of a page of one, if it holds the workload. */
function changeOf(page: WorkloadPage | undefined): WorkloadChange | undefined {
  const workload = page?.workloads[0];
  return workload && { sequence: workload.lastEventSequence, workload, moment: page };
}
