/**
 * The controller drives each workload's desired state onto the runtime and derives its status
 * from the pods that come back. All intent lives in the database (`workload.lifecycle`); the
 * controller is level-triggered, so after a crash it resumes from what is stored.
 *
 * This file is the intake (Knative's shape): operations in, pod events and published changes in,
 * a resync of every workload at start and a tick for those waiting on time. Passes go through a
 * work queue (workqueue.ts, client-go's semantics): a workload waits there once however many
 * events arrive, at most `concurrency` passes run at once, fairly across workloads, and a failed
 * pass is retried with backoff. Operations never wait for a pass over other workloads: they run
 * at once, serialized only with what runs on their own workload (KeyedQueue), and leave the
 * converging to the queue. Each pass runs the phases of reconcile.ts (observe, decide, apply,
 * record), one small file each.
 */
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { InvalidTransitionError, NotFoundError } from '../domain/errors.js';
import type { LifecyclePolicy } from '../domain/policy.js';
import { retireDropped } from '../domain/proton-identity.js';
import type { WorkloadPubSub } from '../pubsub/topics.js';
import type { ChangeFeed } from '../pubsub/change-feed.js';
import { podWorkloadId } from '../runtime/conventions.js';
import type { ProtonRuntime, Unsubscribe } from '../runtime/proton-runtime.js';
import type { Clock } from '../domain/clock.js';
import { WorkloadEntity, type Artifact, type Workload } from '../store/entities/index.js';
import { appendRecordedEvents } from '../store/events.js';
import type { Orm } from '../store/orm.js';
import type { RoundRows } from '../store/workload-rounds.js';
import { queryRows } from '../store/sql.js';
import { KeyedQueue } from './keyed-queue.js';
import { applyRecordEffects, loadOrInitialize, operationEvents, transition, type WorkloadOperation } from './operation.js';
import { Reconciler } from './reconcile.js';
import { writeWorkload } from './record.js';
import { WorkQueue } from './workqueue.js';

export type { WorkloadOperation } from './operation.js';

/** What an operation did: the workload after it, whether anything changed, and what to tell the user. */
export interface OperationOutcome {
  workload: Workload;
  changed: boolean;
  message: string;
}

export interface ControllerDeps {
  orm: Orm;
  runtime: ProtonRuntime;
  clock: Clock;
  pubsub: WorkloadPubSub;
  /**
   * Says when announcements on `pubsub` may have been lost (its broker was away; absent, none ever
   * are), and keeps the events a pass committed for this process's live streams.
   */
  feed?: Pick<ChangeFeed, 'onResync' | 'keepCommitted'>;
  logger: Logger;
  /** The draft lifetime and every deadline, from configuration. */
  policy: LifecyclePolicy;
  /** How often workloads waiting on time (warm-up, keep-old, deadlines, TTL) are looked at. */
  tickIntervalMs: number;
  /** Passes over different workloads that may run at once (each holds at most one database connection). */
  concurrency?: number;
  /** True while requests wait for this process (a burst of mutations): passes then run one at a time. */
  yieldTo?: () => boolean;
  /** Backoff of a failed pass's retries: first delay and cap. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Told how long each pass over one workload took, and whether it failed (metrics). */
  onReconciled?: (seconds: number, outcome: 'ok' | 'error') => void;
}

/** Default of `ControllerDeps.concurrency`: few enough to leave most of a pool of 10 to requests. */
export const DEFAULT_CONTROLLER_CONCURRENCY = 4;

/**
 * How long a pass may go on from the view the previous pass over the workload left, when nothing
 * it was told of changed the workload (ADR 0005, decision 26). Every writer of what a view holds
 * announces its change (a draft's spec edit too), and announcements that may have been lost drop
 * every view, so this only bounds how late a change written by none of them (an operator's SQL)
 * is seen by a workload's passes.
 */
const KEPT_VIEW_MAX_AGE_MS = 60_000;

/** Ticks in a row that a busy queue may skip (see `tick`). */
const TICK_DEFERRALS_MAX = 10;

/** Workloads the tick looks at: not settled, or waiting on time, or with a proton still going. */
const NEEDS_ATTENTION = `select id, last_event_sequence from workload where deleted_at is null and (
   lifecycle is null or status not in ('running', 'stopped', 'terminated') or desired_state = 'deleted'
   or (expires_at is not null and expires_at <= ?)
   or lifecycle->'state'->'replacement'->>'status' in ('submitted', 'initializing', 'warming', 'switching', 'draining')
   -- a candidate or old proton still being removed: nothing else may wake us when it is gone
   or lifecycle->'state'->'candidate' is not null or lifecycle->'state'->'oldActive' is not null
   or lifecycle->'state'->'retiring' is not null or lifecycle->'protons' is not null)`;

/** The controller of every workload in the database. */
export class WorkloadController {
  /** Serializes operations and passes on one workload. */
  private readonly exclusive = new KeyedQueue();
  /** Passes waiting or running, fair across workloads, bounded in number. */
  private readonly queue: WorkQueue;
  /** The newest event sequence this controller recorded per workload: its own changes need no new pass. */
  private readonly recorded = new Map<string, number>();
  private readonly reconciler: Reconciler;
  private unsubscribe: Unsubscribe | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private changes: AsyncIterator<unknown> | undefined;
  private unwatchLost: (() => void) | undefined;
  private running = false;
  private resyncing = false;
  private deferredTicks = 0;

  constructor(private readonly deps: ControllerDeps) {
    this.queue = new WorkQueue((workloadId, wokenAt) => this.exclusive.run(workloadId, () => this.reconcile(workloadId, wokenAt)), {
      concurrency: deps.concurrency ?? DEFAULT_CONTROLLER_CONCURRENCY,
      yieldTo: deps.yieldTo,
      baseDelayMs: deps.retryBaseDelayMs ?? 100,
      maxDelayMs: deps.retryMaxDelayMs ?? 30_000,
      onError: (workloadId, err, retryInMs) => deps.logger.error({ err, workloadId, retryInMs }, 'reconcile failed; retried with backoff'),
    });
    this.reconciler = new Reconciler({
      orm: deps.orm,
      runtime: deps.runtime,
      clock: deps.clock,
      policy: deps.policy,
      published: (workloadId, sequence, committed) => {
        // Kept before the announcement: a stream here woken by it takes them without reading them back.
        if (committed) this.deps.feed?.keepCommitted(workloadId, committed);
        this.publish(workloadId, sequence);
      },
      viewMaxAgeMs: Math.max(KEPT_VIEW_MAX_AGE_MS, deps.tickIntervalMs),
    });
  }

  /**
   * A create of `workloadId` is about to write its rows in this process. While this controller
   * runs (it is the leader), the rows it then reports (`created`) become the first pass's view:
   * that pass reads nothing (ADR 0005, decision 25). Undefined when there is nothing to expect.
   */
  expectCreated(workloadId: string): object | undefined {
    return this.running ? this.reconciler.expect(workloadId) : undefined;
  }

  /**
   * The create expected with `token` committed `rows` (its `created` event is their last event
   * sequence). Kept as the first pass's view unless something changed the workload since the
   * expectation (then the create's announcement wakes a pass that reads, as for any create). The
   * announcement of this create itself then needs no pass of its own: the pass is queued here.
   */
  created(token: object, rows: RoundRows): void {
    if (!this.running || !this.reconciler.seed(token, rows)) return;
    const { id: workloadId, lastEventSequence: sequence } = rows.workload;
    if ((this.recorded.get(workloadId) ?? 0) < sequence) this.recorded.set(workloadId, sequence);
    this.schedule(workloadId);
  }

  /** The create expected with `token` wrote nothing (it failed or was refused). */
  abandonCreated(workloadId: string, token: object | undefined): void {
    if (token) this.reconciler.abandon(workloadId, token);
  }

  /** Starts watching pods and changes, resyncs every workload, and begins the periodic tick. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.reconciler.forgetAll();
    await this.deps.runtime.start();
    this.unsubscribe = this.deps.runtime.watchPods((event) => {
      if (event.type === 'error') {
        this.deps.logger.warn({ err: event.error }, 'pod watch error');
        return;
      }
      const id = podWorkloadId(event.pod);
      if (id) this.schedule(id);
    });
    // Announcements missed while the broker was away: nothing kept is trusted, every workload is
    // looked at again (as at the start of leadership).
    this.unwatchLost = this.deps.feed?.onResync(() => {
      this.reconciler.forgetAll();
      void this.resync('all');
    });
    const iterator = this.deps.pubsub.subscribe('workload:changed')[Symbol.asyncIterator]();
    this.changes = iterator;
    void (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        const { workloadId, sequence, reconcile, specChanged } = next.value;
        // A change this controller recorded itself needs no pass; one that cannot alter what the
        // workload wants (a rename, sharing) needs none either, but the workload is read afresh.
        // (A change whose announcement comes after a later round of ours made that round stale:
        // the round's write checks the last event sequence it read.) A new spec of the draft it
        // runs is no event of the workload's: it always makes a pass that reads.
        if (!specChanged && (this.recorded.get(workloadId) ?? 0) >= sequence) continue;
        this.reconciler.forget(workloadId);
        if (reconcile !== false) this.schedule(workloadId);
      }
    })();
    await this.resync('all');
    this.ticker = setInterval(() => this.tick(), this.deps.tickIntervalMs);
  }

  /**
   * The tick re-queues every workload that is not settled. While the queue already holds more
   * than its workers can take (a burst), those workloads are queued or their pod events will
   * queue them, so re-adding all of them each tick would only fill the workers with passes that
   * find nothing new and push event-driven passes back. The tick then waits, but never more
   * than `TICK_DEFERRALS_MAX` ticks in a row, so time-driven steps (warm-up, keep-old,
   * deadlines) are at most that late under a sustained burst.
   */
  private tick(): void {
    if (this.resyncing) return;
    const busy = this.queue.depth > 2 * (this.deps.concurrency ?? DEFAULT_CONTROLLER_CONCURRENCY);
    if (busy && this.deferredTicks < TICK_DEFERRALS_MAX) {
      this.deferredTicks++;
      return;
    }
    this.deferredTicks = 0;
    this.reconciler.forgetAll(true);
    this.resyncing = true;
    void this.resync('attention').finally(() => (this.resyncing = false));
  }

  /** Stops watching and ticking, and waits for passes under way to finish. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    this.unsubscribe?.();
    this.unwatchLost?.();
    await this.changes?.return?.();
    await this.queue.shutDown();
    await this.exclusive.drain();
  }

  /** Workloads with a pass queued or under way. */
  get queueDepth(): number {
    return this.queue.depth;
  }

  /** Resolves once every pass and operation queued so far has finished (tests use it to wait for quiet). */
  async idle(): Promise<void> {
    while (this.queue.depth > 0 || this.exclusive.depth > 0) {
      await this.queue.drain();
      await this.exclusive.drain();
    }
  }

  /** Queues a pass over one workload, unless one is already waiting. */
  schedule(workloadId: string): void {
    if (this.running) this.queue.add(workloadId);
  }

  /**
   * Applies a user's operation: checks it against the lifecycle rules, records the new intent
   * and its events in one transaction, publishes, then converges the runtime. Runs in the
   * workload's queue, so operations on one workload never interleave.
   */
  operate(
    workloadId: string,
    op: WorkloadOperation,
    actor: string,
    /** Runs in the operation's transaction once the rules allow it, before anything is written; may refuse by throwing. */
    admit?: (em: EntityManager, workload: Workload) => Promise<void>,
  ): Promise<OperationOutcome> {
    return this.exclusive.run(workloadId, async () => {
      const now = this.deps.clock();
      const ctxAt = (at: Date) => this.reconciler.context(at);
      const outcome = await this.deps.orm.em.fork().transactional(async (em) => {
        const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (!workload) throw new NotFoundError('Workload', workloadId);
        const stored = await loadOrInitialize(em, workload, ctxAt, now);
        const result = await transition(em, stored.state, op, ctxAt(now));
        if (!result.ok) throw new InvalidTransitionError(result.reason, stored.state.status, result.cause);
        if (result.noop) return { workload, changed: false, message: result.message, sequence: null };
        await admit?.(em, workload);
        const intended = { ...stored, state: retireDropped(stored.state, result.next) };
        const next = await applyRecordEffects(em, workload, intended, result.effects, op, now);
        writeWorkload(workload, next, undefined, now);
        const sequence = (await appendRecordedEvents(em, workloadId, operationEvents(op, stored.state, next.state, result.message), actor, now)) ?? 0;
        return { workload, changed: true, message: result.message, sequence };
      });
      if (outcome.changed) this.reconciler.forget(workloadId);
      if (outcome.sequence !== null) this.publish(workloadId, outcome.sequence);
      // The intent is recorded: a pass carries it out (queued behind no other workload's turn
      // beyond the queue's fairness; if the runtime fails, the pass is retried with backoff). Only
      // the running (leader) controller touches the runtime; on other replicas the publication
      // above reaches the leader.
      if (outcome.changed) this.schedule(workloadId);
      return { workload: outcome.workload, changed: outcome.changed, message: outcome.message };
    });
  }

  /** Re-reads workloads that need a pass: everyone at start-up; later those waiting on time. */
  private async resync(which: 'all' | 'attention'): Promise<void> {
    if (!this.running) return;
    try {
      const em = this.deps.orm.em.fork();
      const rows =
        which === 'all'
          ? await queryRows<{ id: string; last_event_sequence: number }>(em, 'select id, last_event_sequence from workload where deleted_at is null')
          : await queryRows<{ id: string; last_event_sequence: number }>(em, NEEDS_ATTENTION, [this.deps.clock()]);
      for (const row of rows) {
        // A change that reached the database but not this controller (an announcement lost, a
        // replica without the shared broker) shows as a newer event than the kept view's.
        this.reconciler.forgetIfBehind(row.id, row.last_event_sequence);
        this.schedule(row.id);
      }
    } catch (err) {
      this.deps.logger.error({ err }, 'resync failed');
    }
  }

  /** One pass over one workload (call only from its queue). */
  private async reconcile(workloadId: string, wokenAt: number): Promise<void> {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      if (await this.reconciler.pass(workloadId, wokenAt)) this.recorded.delete(workloadId);
      outcome = 'ok';
    } finally {
      this.deps.onReconciled?.((performance.now() - started) / 1000, outcome);
    }
  }

  private publish(workloadId: string, sequence: number): void {
    this.recorded.set(workloadId, sequence);
    this.deps.pubsub.publish('workload:changed', { workloadId, sequence });
  }
}

export type { Artifact };
