import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { WorkloadOperation } from '../controller/controller.js';
import { KeyedQueue } from '../controller/keyed-queue.js';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import { ForbiddenError, NotFoundError, QuotaExceededError } from '../domain/errors.js';
import type { Importance, SharingRole } from '../domain/model.js';
import {
  addedDemand,
  describeAmount,
  firstBreach,
  inApiUnits,
  maySetImportance,
  NO_AMOUNTS,
  protonDemand,
  QUOTA_RESOURCES,
  rolesNeededFor,
  sumAmounts,
  workloadUsage,
  type ImportancePolicy,
  type QuotaLimits,
  type ResourceAmounts,
} from '../domain/quota.js';
import { ArtifactEntity, type Workload } from '../store/entities/index.js';
import { lockQuotaSubjects, usageFactsOf, type QuotaSubject } from '../store/usage.js';

/** The configured limits: a default per owner and per organization, and per-organization overrides. */
export interface QuotaSettings {
  owner: QuotaLimits;
  organization: QuotaLimits;
  organizationOverrides: Record<string, Partial<QuotaLimits>>;
}

/** The usage and limits of one subject. */
export interface QuotaReport {
  subject: QuotaSubject;
  used: ResourceAmounts;
  limits: QuotaLimits;
}

/** Whose quotas a workload counts against. */
export interface QuotaHolder {
  ownerId: string;
  organization: string | null;
}

/**
 * Enforces the importance policy and the quotas. Every check that adds usage runs inside the
 * writer's transaction, after `lockQuotaSubjects`, so two requests that each fit but together
 * exceed a limit are decided one after the other.
 */
export class QuotaService {
  /** Creates of this process waiting for their turn on a limited subject, without a connection. */
  private readonly turns = new KeyedQueue();

  constructor(private readonly deps: { importance: ImportancePolicy; quotas: QuotaSettings }) {}

  /**
   * Runs `write` (a transaction that will `admit` a new workload of `holder`) after the writes of
   * this process queued before it on the same limited subjects, owner's turn first, then the
   * organization's. The database's quota lock decides between replicas all the same; this only
   * keeps a burst of one owner's creates from each holding a pooled connection while it waits on
   * that lock, which left none for reads and the controller (ADR 0013, decision 9).
   */
  inTurn<T>(holder: QuotaHolder, write: () => Promise<T>): Promise<T> {
    const limited = this.subjectsOf(holder).filter((s) => QUOTA_RESOURCES.some((r) => this.limitsOf(s)[r] !== null));
    return limited.reduceRight<() => Promise<T>>((next, s) => () => this.turns.run(`${s.scope}:${s.id}`, next), write)();
  }

  private subjectsOf(holder: QuotaHolder): QuotaSubject[] {
    return [{ scope: 'owner', id: holder.ownerId }, ...(holder.organization ? [{ scope: 'organization' as const, id: holder.organization }] : [])];
  }

  /**
   * Refuses an importance the caller may not set, naming the platform roles that may.
   * `viewerRole` is the caller's role on the workload: OWNER when it is one they are creating.
   */
  requireImportance(viewer: Viewer, importance: Importance, viewerRole: SharingRole): void {
    if (maySetImportance(this.deps.importance, importance, viewer)) return;
    const roles = rolesNeededFor(this.deps.importance, importance) ?? [];
    throw new ForbiddenError(`setting importance ${importance.toUpperCase()}`, roles.join(' or '), viewerRole, true);
  }

  /** The importances the caller may set, lowest first. */
  allowedImportances(viewer: Viewer): Importance[] {
    return (['low', 'moderate', 'high', 'critical'] as const).filter((i) => maySetImportance(this.deps.importance, i, viewer));
  }

  /** The limits of a subject: its scope's default, with an organization's overrides applied. */
  limitsOf(subject: QuotaSubject): QuotaLimits {
    if (subject.scope === 'owner') return this.deps.quotas.owner;
    return { ...this.deps.quotas.organization, ...this.deps.quotas.organizationOverrides[subject.id] };
  }

  /** The current usage and limits of a subject (a plain read; nothing is locked). */
  async report(em: EntityManager, subject: QuotaSubject): Promise<QuotaReport> {
    return (await this.reports(em, [subject]))[0]!;
  }

  /** The usage and limits of each subject, read in one statement. */
  private async reports(em: EntityManager, subjects: readonly QuotaSubject[]): Promise<QuotaReport[]> {
    const usages = await usageFactsOf(em, subjects);
    return subjects.map((subject, i) => ({ subject, used: sumAmounts(usages[i]!.map(workloadUsage)), limits: this.limitsOf(subject) }));
  }

  /**
   * In `em`'s transaction: locks the holder's owner and organization quotas and refuses with a
   * QuotaExceededError if `added` would take either past a limit. Call it before writing.
   */
  async admit(em: EntityManager, holder: QuotaHolder, added: ResourceAmounts): Promise<void> {
    const subjects = this.boundingSubjects(holder, added);
    if (subjects.length === 0) return;
    await lockQuotaSubjects(em, subjects);
    // Every locked subject's usage in one statement, read after the locks (READ COMMITTED: what
    // earlier holders committed is seen).
    for (const { subject, used, limits } of await this.reports(em, subjects)) {
      const breach = firstBreach(limits, used, added);
      if (breach) {
        const whose = subject.scope === 'owner' ? `owner "${subject.id}"` : `organization "${subject.id}"`;
        throw new QuotaExceededError(
          subject.scope,
          subject.id,
          breach.resource,
          inApiUnits(breach.resource, breach.limit),
          inApiUnits(breach.resource, breach.used),
          inApiUnits(breach.resource, breach.requested),
          `the ${breach.resource} quota of ${whose} is ${describeAmount(breach.resource, breach.limit)}: ` +
            `${describeAmount(breach.resource, breach.used)} in use, and this needs ${describeAmount(breach.resource, breach.requested)} more`,
        );
      }
    }
  }

  /**
   * Whether `admit` of `added` for `holder` would read usage under a lock (and so must run in the
   * writer's transaction): false when every subject is unlimited in every resource it adds.
   */
  bounds(holder: QuotaHolder, added: ResourceAmounts): boolean {
    return this.boundingSubjects(holder, added).length > 0;
  }

  /**
   * The subjects a limit of which `added` could breach. A subject unlimited in every resource
   * this adds cannot be: it is neither locked nor summed, so creates in one unlimited
   * organization do not queue on its lock.
   */
  private boundingSubjects(holder: QuotaHolder, added: ResourceAmounts): QuotaSubject[] {
    if (QUOTA_RESOURCES.every((r) => added[r] <= 0)) return [];
    return this.subjectsOf(holder).filter((s) => QUOTA_RESOURCES.some((r) => added[r] > 0 && this.limitsOf(s)[r] !== null));
  }

  /** What a new workload running `runtime` of `spec` adds: itself and its replicas. */
  newWorkloadDemand(spec: ArtifactSpec, runtime: WorkloadRuntime): ResourceAmounts {
    return { ...protonDemand(spec, runtime), workloads: 1 };
  }

  /**
   * In the operation's transaction, with the workload row locked and before the operation's
   * effects are written: refuses it if what it adds exceeds a quota of the workload's owner or
   * organization. Starting adds the runtime's replicas; a bigger runtime adds the difference
   * (while the workload runs); a replace adds its candidate for as long as the replacement lasts.
   */
  async admitOperation(em: EntityManager, workload: Workload, op: WorkloadOperation): Promise<void> {
    const specOf = async (artifactId: string): Promise<ArtifactSpec> => {
      const artifact = await em.findOne(ArtifactEntity, { id: artifactId });
      if (!artifact) throw new NotFoundError('Artifact', artifactId);
      return artifact.spec;
    };
    let added: ResourceAmounts = NO_AMOUNTS;
    if (op.kind === 'start' && workload.desiredState === 'stopped') {
      added = protonDemand(await specOf(workload.artifact.id), workload.runtime);
    } else if (op.kind === 'updateRuntime' && workload.desiredState === 'running') {
      const spec = await specOf(workload.artifact.id);
      added = addedDemand(protonDemand(spec, workload.runtime), protonDemand(spec, op.runtime));
    } else if (op.kind === 'replace') {
      added = protonDemand(await specOf(op.artifactId), op.runtime ?? workload.runtime);
    }
    await this.admit(em, { ownerId: workload.ownerId, organization: workload.organization ?? null }, added);
  }
}
