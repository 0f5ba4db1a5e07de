/**
 * The controller drives each workload's desired state onto the runtime and derives its status
 * from the pods that come back. All intent lives in the database (`workload.lifecycle`); the
 * controller is level-triggered, so after a crash it resumes from what is stored.
 *
 * Every pass over one workload runs in that workload's serialized queue, in ordered phases:
 *   1. ensure: converge the runtime to the stored state (protons, replicas, route, removals);
 *   2. observe: read the workload's pods, derive replica, proton and workload status;
 *   3. expire: fail what outlived its deadline, terminate a draft past its TTL;
 *   4. record: write state, status and events in one transaction; publish after commit.
 * Different workloads proceed in parallel.
 */
import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { V1Pod } from '@kubernetes/client-node';
import type { WorkloadRuntime } from '../domain/artifact-spec.js';
import type { LifecyclePolicy } from '../domain/policy.js';
import { InvalidTransitionError, NotFoundError } from '../domain/errors.js';
import {
  cancelReplacement,
  createWorkload,
  deleteWorkload,
  expireDeadline,
  expireTtl,
  observeWorkload,
  promoteWorkload,
  replaceWorkload,
  replicaContextFor,
  restartWorkload,
  startWorkload,
  stopWorkload,
  updateWorkload,
  type LifecycleEffect,
  type OperationContext,
  type TransitionResult,
  type WorkloadState,
} from '../domain/lifecycle.js';
import type { DesiredState } from '../domain/model.js';
import { observePod } from '../domain/pod-observation.js';
import { deriveProtonStatus, type ProtonDesired, type ProtonStatusReport, type RolloutProgress } from '../domain/proton-status.js';
import { deriveReplicaState } from '../domain/replica-state.js';
import { isReplacementInProgress, replacementEffects } from '../domain/replacement.js';
import { collapseProtonStatus } from '../domain/workload-status.js';
import type { WorkloadPubSub } from '../pubsub/topics.js';
import { podProtonId, podRevision, podWorkloadId } from '../runtime/conventions.js';
import type { ProtonRuntime, Unsubscribe } from '../runtime/proton-runtime.js';
import { protonRevision, protonSpecFromArtifact } from '../runtime/proton-spec.js';
import { lockArtifactIn } from '../service/artifact.service.js';
import type { Clock } from '../service/clock.js';
import {
  ArtifactEntity,
  ProtonEntity,
  ReplacementEntity,
  WorkloadEntity,
  type Artifact,
  type Proton,
  type Workload,
} from '../store/entities/index.js';
import { appendWorkloadEvent } from '../store/events.js';
import type { Orm } from '../store/orm.js';
import { queryRows } from '../store/sql.js';
import { KeyedQueue } from './keyed-queue.js';
import { canonicalJson, deserializeLifecycle, serializeLifecycle, type ProtonSlots, type StoredLifecycle } from './lifecycle-store.js';

/** A lifecycle operation a user asked for. */
export type WorkloadOperation =
  | { kind: 'start' }
  | { kind: 'stop' }
  | { kind: 'restart' }
  | { kind: 'promote' }
  | { kind: 'delete' }
  | { kind: 'cancelReplacement' }
  | { kind: 'updateRuntime'; runtime: WorkloadRuntime }
  | {
      kind: 'replace';
      artifactId: string;
      runtime?: WorkloadRuntime;
      warmupSeconds?: number;
      keepOldVersionSeconds?: number;
    };

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
  logger: Logger;
  /** The draft lifetime and every deadline, from configuration. */
  policy: LifecyclePolicy;
  /** How often workloads waiting on time (warm-up, keep-old, deadlines, TTL) are looked at. */
  tickIntervalMs: number;
  /** Told how long each pass over one workload took, and whether it failed (metrics). */
  onReconciled?: (seconds: number, outcome: 'ok' | 'error') => void;
}

const EVENT_TYPES: Record<WorkloadOperation['kind'], string> = {
  start: 'startRequested',
  stop: 'stopRequested',
  restart: 'restartRequested',
  promote: 'promoted',
  delete: 'deleteRequested',
  cancelReplacement: 'replacementCancelled',
  updateRuntime: 'runtimeUpdated',
  replace: 'replacementRequested',
};

/** At most this many ensure/observe rounds per pass; each round moves at least one step. */
const MAX_ROUNDS = 6;

interface PodMemory {
  wasReady: boolean;
  restartCount: number;
}

/** The controller of every workload in the database. */
export class WorkloadController {
  private readonly queue = new KeyedQueue();
  private readonly pending = new Set<string>();
  /** Per workload, per pod: was it ready, and its restart count, when last seen (to tell `restarting`). */
  private readonly pods = new Map<string, Map<string, PodMemory>>();
  /** The newest event sequence this controller recorded per workload: its own changes need no new pass. */
  private readonly recorded = new Map<string, number>();
  private unsubscribe: Unsubscribe | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private changes: AsyncIterator<unknown> | undefined;
  private running = false;

  constructor(private readonly deps: ControllerDeps) {}

  /** Starts watching pods and changes, resyncs every workload, and begins the periodic tick. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.deps.runtime.start();
    this.unsubscribe = this.deps.runtime.watchPods((event) => {
      if (event.type === 'error') {
        this.deps.logger.warn({ err: event.error }, 'pod watch error');
        return;
      }
      const id = podWorkloadId(event.pod);
      if (id) this.schedule(id);
    });
    const iterator = this.deps.pubsub.subscribe('workload:changed')[Symbol.asyncIterator]();
    this.changes = iterator;
    void (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        const { workloadId, sequence } = next.value as { workloadId: string; sequence: number };
        if ((this.recorded.get(workloadId) ?? 0) >= sequence) continue;
        this.schedule(workloadId);
      }
    })();
    await this.resync('all');
    this.ticker = setInterval(() => void this.resync('attention'), this.deps.tickIntervalMs);
  }

  /** Stops watching and ticking, and waits for passes under way to finish. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    this.unsubscribe?.();
    await this.changes?.return?.();
    await this.queue.drain();
  }

  /** Workloads with work queued or under way. */
  get queueDepth(): number {
    return this.queue.depth;
  }

  /** Resolves once every pass queued so far has finished (tests use it to wait for quiet). */
  idle(): Promise<void> {
    return this.queue.drain();
  }

  /** Queues a pass over one workload, unless one is already waiting. */
  schedule(workloadId: string): void {
    if (!this.running || this.pending.has(workloadId)) return;
    this.pending.add(workloadId);
    void this.queue
      .run(workloadId, async () => {
        this.pending.delete(workloadId);
        await this.reconcile(workloadId);
      })
      .catch((err: unknown) => this.deps.logger.error({ err, workloadId }, 'reconcile failed; retried on the next tick'));
  }

  /**
   * Applies a user's operation: checks it against the lifecycle rules, records the new intent
   * and its event in one transaction, publishes, then converges the runtime. Runs in the
   * workload's queue, so operations on one workload never interleave.
   */
  operate(workloadId: string, op: WorkloadOperation, actor: string): Promise<OperationOutcome> {
    return this.queue.run(workloadId, async () => {
      const now = this.deps.clock();
      const outcome = await this.deps.orm.em.fork().transactional(async (em) => {
        const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (!workload) throw new NotFoundError('Workload', workloadId);
        const stored = await this.loadOrInitialize(em, workload, now);
        const result = await this.transition(em, stored.state, op, now);
        if (!result.ok) throw new InvalidTransitionError(result.reason, stored.state.status, result.cause);
        if (result.noop) return { workload, changed: false, message: result.message, sequence: null };
        const next: StoredLifecycle = { ...stored, state: result.next, protons: { ...stored.protons } };
        await this.applyRecordEffects(em, workload, next, result.effects, op, now);
        this.writeWorkload(workload, next, undefined, now);
        const sequence = await appendWorkloadEvent(em, {
          workloadId,
          type: EVENT_TYPES[op.kind],
          message: result.message,
          actor,
          data: { operation: op.kind },
          occurredAt: now,
        });
        return { workload, changed: true, message: result.message, sequence };
      });
      if (outcome.sequence !== null) this.publish(workloadId, outcome.sequence);
      // The intent is recorded: if the runtime fails now, the operation still stands and the
      // controller carries it out on a later pass. Only the running (leader) controller touches
      // the runtime; on other replicas the publication above reaches the leader.
      if (outcome.changed && this.running) {
        await this.reconcile(workloadId).catch((err: unknown) =>
          this.deps.logger.warn({ err, workloadId }, 'operation recorded; converging it failed and is retried'),
        );
      }
      const workload = await this.deps.orm.em.fork().findOne(WorkloadEntity, { id: workloadId });
      return { workload: workload ?? outcome.workload, changed: outcome.changed, message: outcome.message };
    });
  }

  private ctx(now: Date): OperationContext {
    return { ...this.deps.policy, now };
  }

  private async transition(em: EntityManager, state: WorkloadState, op: WorkloadOperation, now: Date): Promise<TransitionResult> {
    const ctx = this.ctx(now);
    switch (op.kind) {
      case 'start':
        return startWorkload(state, ctx);
      case 'stop':
        return stopWorkload(state, ctx);
      case 'restart':
        return restartWorkload(state, ctx);
      case 'promote':
        return promoteWorkload(state, ctx);
      case 'delete':
        return deleteWorkload(state, ctx);
      case 'cancelReplacement':
        return cancelReplacement(state, ctx);
      case 'updateRuntime':
        return updateWorkload(state, ctx);
      case 'replace': {
        const artifact = await em.findOne(ArtifactEntity, { id: op.artifactId, deletedAt: null });
        if (!artifact) throw new NotFoundError('Artifact', op.artifactId);
        return replaceWorkload(
          state,
          {
            artifact: { id: artifact.id, status: artifact.status },
            ...(op.warmupSeconds !== undefined && { warmupSeconds: op.warmupSeconds }),
            ...(op.keepOldVersionSeconds !== undefined && { keepOldVersionSeconds: op.keepOldVersionSeconds }),
          },
          ctx,
        );
      }
    }
  }

  /** The stored lifecycle, or the one a workload starts with (created before the controller saw it). */
  private async loadOrInitialize(em: EntityManager, workload: Workload, now: Date): Promise<StoredLifecycle> {
    if (workload.lifecycle) return deserializeLifecycle(workload.lifecycle);
    const created = createWorkload(
      { artifact: { id: workload.artifact.id, status: workload.artifactStatus } },
      { ...this.ctx(workload.createdAt) },
    );
    const stored: StoredLifecycle = {
      state: { ...created.next, ...(workload.expiresAt ? { expiresAt: workload.expiresAt } : {}) },
      protons: {},
    };
    await this.applyRecordEffects(em, workload, stored, created.effects, undefined, now);
    return stored;
  }

  /** The effects that change records (proton rows, the replacement record, the artifact). */
  private async applyRecordEffects(
    em: EntityManager,
    workload: Workload,
    next: StoredLifecycle,
    effects: readonly LifecycleEffect[],
    op: WorkloadOperation | undefined,
    now: Date,
  ): Promise<void> {
    const slots = next.protons;
    if (op?.kind === 'updateRuntime') {
      workload.runtime = op.runtime;
      if (slots.active) {
        const active = await em.findOneOrFail(ProtonEntity, { id: slots.active });
        active.runtime = op.runtime;
      }
    }
    for (const effect of effects) {
      switch (effect.type) {
        case 'startActiveProton':
          if (!slots.active) {
            slots.active = this.createProton(em, workload, effect.artifactId, 'active', workload.runtime, now).id;
          }
          break;
        case 'restartActiveProton':
          if (slots.active) {
            const active = await em.findOneOrFail(ProtonEntity, { id: slots.active });
            active.restartedAt = now;
          }
          break;
        case 'createCandidate': {
          if (slots.candidate) break;
          const runtime = op?.kind === 'replace' && op.runtime ? op.runtime : workload.runtime;
          const candidate = this.createProton(em, workload, effect.artifactId, 'candidate', runtime, now);
          slots.candidate = candidate.id;
          const r = next.state.replacement;
          const record = em.create(ReplacementEntity, {
            id: randomUUID(),
            workload,
            fromProton: slots.active ? em.getReference(ProtonEntity, slots.active) : null,
            toProton: candidate,
            fromArtifact: em.getReference(ArtifactEntity, r?.fromArtifactId ?? workload.artifact.id),
            toArtifact: em.getReference(ArtifactEntity, effect.artifactId),
            status: 'submitted',
            warmupSeconds: r?.warmupSeconds ?? 0,
            keepOldVersionSeconds: r?.keepOldVersionSeconds ?? 0,
            statusReason: null,
            statusMessage: null,
            createdAt: now,
            updatedAt: now,
            finishedAt: null,
          });
          next.replacementId = record.id;
          break;
        }
        case 'lockArtifact': {
          const artifact = await em.findOneOrFail(ArtifactEntity, { id: effect.artifactId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          await lockArtifactIn(em, artifact, now);
          workload.promotedAt = now;
          break;
        }
        default:
          // Runtime effects (stop, route, switch, removals) are converged by `ensure`.
          break;
      }
    }
  }

  private createProton(em: EntityManager, workload: Workload, artifactId: string, role: Proton['role'], runtime: WorkloadRuntime, now: Date): Proton {
    return em.create(ProtonEntity, {
      id: randomUUID(),
      workload,
      artifact: em.getReference(ArtifactEntity, artifactId),
      role,
      status: 'submitted',
      statusReason: null,
      statusMessage: null,
      runtime,
      restartedAt: null,
      createdAt: now,
      updatedAt: now,
      removedAt: null,
    });
  }

  /** Re-reads workloads that need a pass: everyone at start-up; later those waiting on time. */
  private async resync(which: 'all' | 'attention'): Promise<void> {
    if (!this.running) return;
    try {
      const em = this.deps.orm.em.fork();
      const rows =
        which === 'all'
          ? await queryRows<{ id: string }>(em, 'select id from workload where deleted_at is null')
          : await queryRows<{ id: string }>(
              em,
              `select id from workload where deleted_at is null and (
                 lifecycle is null or status not in ('running', 'stopped', 'terminated') or desired_state = 'deleted'
                 or (expires_at is not null and expires_at <= ?)
                 or lifecycle->'state'->'replacement'->>'status' in ('submitted', 'initializing', 'warming', 'switching', 'draining')
                 -- a candidate or old proton still being removed: nothing else may wake us when it is gone
                 or lifecycle->'protons'->>'candidate' is not null or lifecycle->'protons'->>'oldActive' is not null)`,
              [this.deps.clock()],
            );
      for (const row of rows) this.schedule(row.id);
    } catch (err) {
      this.deps.logger.error({ err }, 'resync failed');
    }
  }

  /** One pass over one workload (call only from its queue). */
  private async reconcile(workloadId: string): Promise<void> {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const changed = await this.reconcileRound(workloadId);
        if (!changed) break;
      }
      outcome = 'ok';
    } finally {
      this.deps.onReconciled?.((performance.now() - started) / 1000, outcome);
    }
  }

  /** One ensure/observe/record round; true when it recorded a change (another round may follow). */
  private async reconcileRound(workloadId: string): Promise<boolean> {
    const now = this.deps.clock();
    const em = this.deps.orm.em.fork();
    const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { populate: ['artifact'] });
    if (!workload) return false;
    if (!workload.lifecycle) {
      // First sight: record the initial lifecycle (and its active proton) before touching the runtime.
      await em.transactional(async (tx) => {
        const w = await tx.findOneOrFail(WorkloadEntity, { id: workloadId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (w.lifecycle) return;
        const stored = await this.loadOrInitialize(tx, w, now);
        this.writeWorkload(w, stored, undefined, now);
      });
      return true;
    }
    const stored = deserializeLifecycle(workload.lifecycle);
    const rows = await em.find(ProtonEntity, { workload: workloadId, removedAt: null }, { populate: ['artifact'] });
    const byId = new Map(rows.map((p) => [p.id, p]));

    await this.ensure(workload, stored, byId, now);
    const observed = await this.observe(workload, stored, byId, now);
    if (!observed) return false;
    const { next, reports, events } = observed;
    const before = canonicalJson(serializeLifecycle(stored));
    const after = canonicalJson(serializeLifecycle(next));
    const protonStatusChanged = rows.some((p) => {
      const report = reports.get(p.id);
      return report && (report.status !== p.status || (report.reason ?? null) !== p.statusReason);
    });
    if (before === after && events.length === 0 && !protonStatusChanged && !observed.finishedDeleting) return false;

    const sequence = await this.record(workloadId, stored, next, reports, events, observed.finishedDeleting, now);
    if (sequence !== null) this.publish(workloadId, sequence);
    return before !== after || observed.finishedDeleting;
  }

  /** Converges the runtime to the stored state; every call is idempotent. */
  private async ensure(workload: Workload, stored: StoredLifecycle, rows: Map<string, Proton>, now: Date): Promise<void> {
    const { runtime } = this.deps;
    const s = stored.state;
    const slots = stored.protons;
    const gone = s.desiredState === 'deleted' || s.endOfLife !== undefined;
    const replacement = s.replacement;
    const effects = replacement ? replacementEffects(replacement, now) : [];

    const converge = async (protonId: string | undefined, replicas: number) => {
      if (!protonId) return;
      const row = rows.get(protonId);
      if (!row) return;
      const spec = protonSpecFromArtifact({
        workloadId: workload.id,
        protonId,
        artifact: row.artifact.spec,
        runtime: row.runtime,
        importance: workload.importance,
        replicas,
        ...(row.restartedAt && { restartedAt: row.restartedAt }),
      });
      const current = await runtime.getProton(protonId);
      if (current?.deletionTimestamp) return;
      if (!current || current.replicas !== spec.replicas || current.revision !== protonRevision(spec)) {
        await runtime.applyProton(spec);
      } else if (current.importance !== workload.importance) {
        await runtime.setImportance(workload.id, workload.importance);
      }
    };
    const remove = async (protonId: string | undefined) => {
      if (protonId) await runtime.deleteProton(protonId);
    };

    // The active proton: running, scaled to zero when stopped, removed at the end.
    const activeRow = slots.active ? rows.get(slots.active) : undefined;
    if (gone) await remove(slots.active);
    else if (s.desiredState === 'stopped') {
      if (slots.active && (await runtime.getProton(slots.active))) await converge(slots.active, 0);
    } else await converge(slots.active, activeRow?.runtime.replicaCount ?? 0);

    // A candidate runs while its replacement is under way; otherwise it goes.
    if (slots.candidate) {
      const candidateRow = rows.get(slots.candidate);
      if (!gone && isReplacementInProgress(replacement)) {
        await converge(slots.candidate, candidateRow?.runtime.replicaCount ?? 0);
      } else {
        await remove(slots.candidate);
      }
    }

    // The old active drains until keep-old has passed (or the replacement ended otherwise).
    if (slots.oldActive && (gone || effects.some((e) => e.type === 'removeOldActive') || !s.oldActive)) {
      await remove(slots.oldActive);
    }

    // The route: one atomic switch, and only once the candidate runs.
    if (gone) {
      await runtime.deleteRoute(workload.id);
    } else {
      const toCandidate = effects.some((e) => e.type === 'switchTraffic' && e.to === 'candidate') && slots.candidate;
      const target = toCandidate ? slots.candidate : slots.active;
      if (target) {
        const route = await runtime.getRoute(workload.id);
        if (route?.protonId !== target) await runtime.routeWorkload(workload.id, target);
      }
    }
  }

  /** Reads the pods and folds them into the lifecycle state. */
  private async observe(workload: Workload, stored: StoredLifecycle, rows: Map<string, Proton>, now: Date) {
    const { runtime } = this.deps;
    const s = stored.state;
    const slots: ProtonSlots = { ...stored.protons };
    const pods = await runtime.listPods({ workloadId: workload.id });
    const podsOf = (protonId: string) => pods.filter((p) => podProtonId(p) === protonId);
    // Remember only pods that still exist: the memory is rebuilt from this pass's pods.
    const memory = this.pods.get(workload.id) ?? new Map<string, PodMemory>();
    const remembered = new Map<string, PodMemory>();
    this.pods.set(workload.id, remembered);
    const reports = new Map<string, ProtonStatusReport>();
    const gone = s.desiredState === 'deleted' || s.endOfLife !== undefined;

    const report = (
      protonId: string | undefined,
      slot: 'active' | 'candidate' | 'oldActive',
      desired: ProtonDesired,
      rollout?: RolloutProgress,
    ) => {
      if (!protonId) return undefined;
      const context = replicaContextFor(s, slot);
      const replicas = podsOf(protonId).map((pod) => this.replicaState(pod, context, memory, remembered));
      const r = deriveProtonStatus(replicas, desired, rollout);
      reports.set(protonId, r);
      return r;
    };
    const activeRow = slots.active ? rows.get(slots.active) : undefined;
    const activeDesired: ProtonDesired = gone
      ? { state: s.endOfLife ? 'terminated' : 'stopped', replicas: 0 }
      : s.desiredState === 'stopped'
        ? { state: 'stopped', replicas: 0 }
        : { state: 'running', replicas: activeRow?.runtime.replicaCount ?? 0 };
    // An in-place update or restart is done only when every live pod runs the current template.
    let rollout: RolloutProgress | undefined;
    if (s.updatingInPlace && slots.active && activeDesired.state === 'running') {
      const current = await runtime.getProton(slots.active);
      const live = podsOf(slots.active).filter((p) => !p.metadata?.deletionTimestamp);
      const updated = live.filter((p) => current && podRevision(p) === current.revision).length;
      rollout = { complete: updated === live.length && updated >= activeDesired.replicas, updated };
    }
    const active = report(slots.active, 'active', activeDesired, rollout);
    const candidateRow = slots.candidate ? rows.get(slots.candidate) : undefined;
    const candidate =
      slots.candidate && isReplacementInProgress(s.replacement)
        ? report(slots.candidate, 'candidate', { state: 'running', replicas: candidateRow?.runtime.replicaCount ?? 0 })
        : undefined;
    if (slots.oldActive) report(slots.oldActive, 'oldActive', { state: 'running', replicas: 0 });

    const route = slots.candidate ? await runtime.getRoute(workload.id) : undefined;
    const oldActiveRemoved = slots.oldActive ? !(await runtime.getProton(slots.oldActive)) : undefined;
    const ctx = this.ctx(now);
    const outcome = observeWorkload(
      s,
      {
        ...(active && { active }),
        ...(candidate && { candidate }),
        ...(slots.candidate && { trafficSwitched: route?.protonId === slots.candidate }),
        ...(oldActiveRemoved !== undefined && { oldActiveRemoved }),
      },
      ctx,
    );
    let next = outcome.next;
    const events = outcome.events.map((message) => ({ type: eventTypeOf(message), message }));

    // The switch: the candidate is the active proton now; the old one drains beside it.
    if (next.oldActive && !s.oldActive && slots.candidate) {
      slots.oldActive = slots.active;
      slots.active = slots.candidate;
      delete slots.candidate;
    }
    // A candidate whose replacement ended without a switch is forgotten once the runtime let it go.
    if (slots.candidate && !isReplacementInProgress(next.replacement) && !(await runtime.getProton(slots.candidate))) {
      delete slots.candidate;
    }
    if (slots.oldActive && !next.oldActive && !(await runtime.getProton(slots.oldActive))) delete slots.oldActive;

    for (const expire of [expireDeadline, expireTtl]) {
      const t = expire(next, ctx);
      if (t.ok && !t.noop) {
        next = t.next;
        events.push({ type: expire === expireTtl ? 'ttlExpired' : 'deadlineExceeded', message: t.message });
      }
    }

    const finishedDeleting =
      s.desiredState === 'deleted' && pods.length === 0 && (await runtime.listProtons({ workloadId: workload.id })).length === 0;
    if (pods.length === 0) this.pods.delete(workload.id);
    if (finishedDeleting) this.recorded.delete(workload.id);
    return { next: { ...stored, state: next, protons: slots }, reports, events, finishedDeleting };
  }

  private replicaState(
    pod: V1Pod,
    context: ReturnType<typeof replicaContextFor>,
    before: Map<string, PodMemory>,
    after: Map<string, PodMemory>,
  ) {
    const uid = pod.metadata?.uid ?? pod.metadata?.name ?? '';
    const memory = before.get(uid);
    const observation = observePod(pod);
    const state = deriveReplicaState(observation, {
      ...context,
      ...(memory && { wasReady: memory.wasReady, previousRestartCount: memory.restartCount }),
    });
    const restartCount = observation.containers.reduce((n, c) => n + (c.restartCount ?? 0), 0);
    const ready = state.state === 'running' || state.state === 'warming' || state.state === 'draining';
    if (!pod.metadata?.deletionTimestamp || ready) after.set(uid, { wasReady: (memory?.wasReady ?? false) || ready, restartCount });
    return state;
  }

  /** Writes the new state, status, proton rows, replacement record and events in one transaction. */
  private async record(
    workloadId: string,
    before: StoredLifecycle,
    next: StoredLifecycle,
    reports: Map<string, ProtonStatusReport>,
    events: { type: string; message: string }[],
    finishedDeleting: boolean,
    now: Date,
  ): Promise<number | null> {
    return this.deps.orm.em.fork().transactional(async (em) => {
      const workload = await em.findOne(WorkloadEntity, { id: workloadId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      // An operation changed the workload since we read it: our view is stale, the next pass sees theirs.
      if (!workload || canonicalJson(workload.lifecycle) !== canonicalJson(serializeLifecycle(before))) return null;
      const rows = await em.find(ProtonEntity, { workload: workloadId, removedAt: null }, { populate: ['artifact'] });
      const byId = new Map(rows.map((p) => [p.id, p]));
      for (const [id, r] of reports) {
        const row = byId.get(id);
        if (!row) continue;
        row.status = r.status;
        row.statusReason = r.reason ?? null;
        row.statusMessage = r.message ?? null;
        row.updatedAt = now;
      }
      // Roles follow the slots; the old active steps aside first (one active at a time).
      const slotOf = (id: string) =>
        next.protons.active === id ? 'active' : next.protons.candidate === id ? 'candidate' : next.protons.oldActive === id ? 'previous' : undefined;
      for (const row of rows) {
        const role = slotOf(row.id);
        if (role === undefined) {
          row.removedAt = now;
          row.status = 'terminated';
        } else if (role === 'previous' && row.role !== 'previous') row.role = 'previous';
      }
      await em.flush();
      for (const row of rows) {
        if (slotOf(row.id) === 'active' && row.role !== 'active') {
          row.role = 'active';
          workload.artifact = row.artifact;
          workload.runtime = row.runtime;
        }
      }
      await em.flush();
      if (next.replacementId) {
        const r = next.state.replacement;
        const record = await em.findOne(ReplacementEntity, { id: next.replacementId });
        if (record && r && record.status !== r.status) {
          record.status = r.status;
          record.statusReason = r.reason ?? null;
          record.statusMessage = r.message ?? null;
          record.updatedAt = now;
          if (!isReplacementInProgress(r)) record.finishedAt = now;
        }
      }
      const activeReport = next.protons.active ? reports.get(next.protons.active) : undefined;
      this.writeWorkload(workload, next, activeReport, now);
      let sequence: number | null = null;
      for (const e of events) {
        sequence = await appendWorkloadEvent(em, { workloadId, type: e.type, message: e.message, actor: null, occurredAt: now });
      }
      if (finishedDeleting) {
        workload.deletedAt = now;
        for (const row of rows) row.removedAt ??= now;
        sequence = await appendWorkloadEvent(em, {
          workloadId,
          type: 'deleted',
          message: 'workload deleted: its protons and routing are gone; the artifact stays',
          actor: null,
          occurredAt: now,
        });
      }
      return sequence;
    });
  }

  /** Mirrors the lifecycle state onto the workload's queryable columns. */
  private writeWorkload(workload: Workload, stored: StoredLifecycle, active: ProtonStatusReport | undefined, now: Date): void {
    const s = stored.state;
    workload.lifecycle = serializeLifecycle(stored);
    workload.desiredState = s.desiredState as DesiredState;
    workload.expiresAt = s.expiresAt ?? null;
    const explained = s.endOfLife
      ? { reason: s.endOfLife.reason, message: s.endOfLife.message }
      : s.status === 'errored' && s.stickyError
        ? s.stickyError
        : active && collapseProtonStatus(active.status) === s.status
          ? { reason: active.reason, message: active.message }
          : { reason: undefined, message: undefined };
    if (
      workload.status !== s.status ||
      workload.statusReason !== (explained.reason ?? null) ||
      workload.statusMessage !== (explained.message ?? null)
    ) {
      workload.status = s.status;
      workload.statusReason = explained.reason ?? null;
      workload.statusMessage = explained.message ?? null;
      workload.updatedAt = now;
    }
  }

  private publish(workloadId: string, sequence: number): void {
    this.recorded.set(workloadId, sequence);
    this.deps.pubsub.publish('workload:changed', { workloadId, sequence });
  }
}

function eventTypeOf(message: string): string {
  if (message.startsWith('status ')) return 'statusChanged';
  if (message.startsWith('replacement ')) return 'replacementStep';
  if (message.startsWith('errored cleared')) return 'errorCleared';
  return 'observed';
}

export type { Artifact };
