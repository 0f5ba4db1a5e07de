/**
 * Operations in: a user's operation checked against the lifecycle rules and recorded (new
 * intent, the records it creates, its typed events) inside the caller's transaction. The
 * runtime is not touched here; the next reconcile pass converges it.
 */
import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { WorkloadRuntime } from '../domain/artifact-spec.js';
import { NotFoundError } from '../domain/errors.js';
import { OPERATION_EVENT_TYPES, type RecordedEvent } from '../domain/events.js';
import {
  cancelReplacement,
  deleteWorkload,
  promoteWorkload,
  replaceWorkload,
  restartWorkload,
  startWorkload,
  stopWorkload,
  updateWorkload,
  type LifecycleEffect,
  type OperationContext,
  type TransitionResult,
  type WorkloadState,
} from '../domain/lifecycle.js';
import { lockArtifactIn } from '../store/artifacts.js';
import { ArtifactEntity, ProtonEntity, ReplacementEntity, type Workload } from '../store/entities/index.js';
import { transitionEvents } from './decide.js';
import type { StoredLifecycle } from './lifecycle-store.js';
import { deserializeLifecycle, firstLifecycle } from './lifecycle-store.js';
import { createProtonRow } from './record.js';

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

/** Runs the operation's lifecycle rule. */
export async function transition(em: EntityManager, state: WorkloadState, op: WorkloadOperation, ctx: OperationContext): Promise<TransitionResult> {
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

/** The events an accepted operation writes: its own, then what changed (status, replacement step). */
export function operationEvents(op: WorkloadOperation, before: WorkloadState, after: WorkloadState, message: string): RecordedEvent[] {
  return [
    { data: { type: OPERATION_EVENT_TYPES[op.kind], operation: op.kind }, message },
    ...transitionEvents(before, after, { message }),
  ];
}

/** The stored lifecycle, or the one a workload starts with (created before the controller saw it). */
export async function loadOrInitialize(em: EntityManager, workload: Workload, ctxAt: (at: Date) => OperationContext, now: Date): Promise<StoredLifecycle> {
  if (workload.lifecycle) return deserializeLifecycle(workload.lifecycle);
  const { stored, effects } = firstLifecycle(
    { artifactId: workload.artifact.id, artifactStatus: workload.artifactStatus, createdAt: workload.createdAt, expiresAt: workload.expiresAt ?? null },
    ctxAt,
  );
  return applyRecordEffects(em, workload, stored, effects, undefined, now);
}

/** Carries out the effects that change records (proton rows, the replacement row, the artifact); returns the state naming new protons. */
export async function applyRecordEffects(
  em: EntityManager,
  workload: Workload,
  stored: StoredLifecycle,
  effects: readonly LifecycleEffect[],
  op: WorkloadOperation | undefined,
  now: Date,
): Promise<StoredLifecycle> {
  let next = stored;
  const activeId = next.state.active?.protonId;
  if (op?.kind === 'updateRuntime') {
    workload.runtime = op.runtime;
    if (activeId) (await em.findOneOrFail(ProtonEntity, { id: activeId })).runtime = op.runtime;
  }
  for (const effect of effects) {
    const s = next.state;
    switch (effect.type) {
      case 'startActiveProton':
        if (!s.active?.protonId) {
          const row = createProtonRow(em, workload, effect.artifactId, 'active', workload.runtime, now);
          next = { ...next, state: { ...s, active: { artifactId: effect.artifactId, status: 'submitted', ...s.active, protonId: row.id } } };
        }
        break;
      case 'restartActiveProton':
        if (s.active?.protonId) (await em.findOneOrFail(ProtonEntity, { id: s.active.protonId })).restartedAt = now;
        break;
      case 'createCandidate': {
        if (s.candidate?.protonId) break;
        const runtime = op?.kind === 'replace' && op.runtime ? op.runtime : workload.runtime;
        const candidate = createProtonRow(em, workload, effect.artifactId, 'candidate', runtime, now);
        const r = s.replacement;
        const record = em.create(ReplacementEntity, {
          id: randomUUID(),
          workload,
          fromProton: s.active?.protonId ? em.getReference(ProtonEntity, s.active.protonId) : null,
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
        next = {
          ...next,
          replacementId: record.id,
          state: { ...s, candidate: { protonId: candidate.id, artifactId: effect.artifactId, status: 'submitted' } },
        };
        break;
      }
      case 'lockArtifact': {
        const artifact = await em.findOneOrFail(ArtifactEntity, { id: effect.artifactId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        await lockArtifactIn(em, artifact, now);
        workload.promotedAt = now;
        break;
      }
      default:
        // Runtime effects (stop, route, switch, removals) are converged by the reconcile pass.
        break;
    }
  }
  return next;
}
