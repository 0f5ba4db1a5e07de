import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import type { WorkloadOperation } from '../controller/controller.js';
import type { ArtifactSpec, WorkloadRuntime } from '../domain/artifact-spec.js';
import { ForbiddenError, QuotaExceededError } from '../domain/errors.js';
import type { Importance, SharingRole } from '../domain/model.js';
import {
  addedDemand,
  describeAmount,
  inApiUnits,
  maySetImportance,
  NO_AMOUNTS,
  protonDemand,
  QUOTA_RESOURCES,
  rolesNeededFor,
  sumAmounts,
  type ImportancePolicy,
  type QuotaLimits,
  type ResourceAmounts,
} from '../domain/quota.js';
import type { Workload } from '../store/entities/index.js';
import { KeyedLimit } from './keyed-limit.js';
import { admitQuota, artifactSpec, usageOf, type BoundedSubject, type QuotaBreachRow, type QuotaSubject } from '../store/usage.js';

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
 * How many creates of one limited subject this process lets run at once (ADR 0013, decision 11):
 * one deciding under the subject's lock, and one already waiting on that lock in the database, so
 * that the lock passes from one to the next inside PostgreSQL, not through this process's event
 * loop; the rest wait here, holding no connection.
 */
export const QUOTA_TURN_WIDTH = 2;

/**
 * Enforces the importance policy and the quotas. Every check that adds usage runs inside the
 * writer's transaction, under the subjects' quota locks (`admitQuota`), so two requests that each fit but together
 * exceed a limit are decided one after the other.
 */
export class QuotaService {
  /** Creates of this process running or waiting for their turn on a limited subject (waiting without a connection). */
  private readonly turns = new KeyedLimit(QUOTA_TURN_WIDTH);

  constructor(private readonly deps: { importance: ImportancePolicy; quotas: QuotaSettings }) {}

  /**
   * Runs `write` (a create that will `admit` a new workload of `holder`) once fewer than
   * QUOTA_TURN_WIDTH of this process's creates on each of its limited subjects are running, owner's
   * turn first, then the organization's. The database's quota lock decides between creates and
   * replicas all the same; this only keeps a burst of one owner's creates from each holding a
   * pooled connection while it waits on that lock, which left none for reads and the controller
   * (ADR 0013, decision 9).
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
    const usages = await usageOf(em, subjects);
    return subjects.map((subject, i) => ({ subject, used: usages[i]!, limits: this.limitsOf(subject) }));
  }

  /**
   * In `em`'s transaction: locks the holder's owner and organization quotas and refuses with a
   * QuotaExceededError if `added` would take either past a limit, in one statement. Call it
   * before writing. Answers whether a limit bounded the request (false: nothing was locked).
   */
  async admit(em: EntityManager, holder: QuotaHolder, added: ResourceAmounts): Promise<boolean> {
    const admission = this.admission(holder, added);
    if (!admission) return false;
    const breach = await admitQuota(em, admission.subjects, admission.added);
    if (breach) throw this.refusal(breach);
    return true;
  }

  /**
   * What the database needs to decide `added` for `holder` (`quota_admit`): the subjects a limit
   * of which it could breach, with their limits; null when none could.
   */
  admission(holder: QuotaHolder, added: ResourceAmounts): { subjects: BoundedSubject[]; added: ResourceAmounts } | null {
    const subjects = this.boundingSubjects(holder, added);
    return subjects.length === 0 ? null : { subjects: subjects.map((s) => ({ ...s, limits: this.limitsOf(s) })), added };
  }

  /** The error that tells a caller which limit the database found its request would break. */
  refusal(breach: QuotaBreachRow): QuotaExceededError {
    const { scope, id, resource, limit, used, requested } = breach;
    const whose = scope === 'owner' ? `owner "${id}"` : `organization "${id}"`;
    return new QuotaExceededError(
      scope,
      id,
      resource,
      inApiUnits(resource, limit),
      inApiUnits(resource, used),
      inApiUnits(resource, requested),
      `the ${resource} quota of ${whose} is ${describeAmount(resource, limit)}: ` +
        `${describeAmount(resource, used)} in use, and this needs ${describeAmount(resource, requested)} more`,
    );
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
   * In the transaction of a draft's spec edit, before the artifact's row is locked: refuses the
   * edit if what it adds to a workload that runs the draft (its replicas, under each runtime it
   * counts the spec with) exceeds that workload's owner's or organization's quota. A smaller spec
   * adds nothing and is never refused.
   */
  async admitSpecChange(em: EntityManager, holder: QuotaHolder, runtimes: readonly WorkloadRuntime[], before: ArtifactSpec, after: ArtifactSpec): Promise<void> {
    // Locked even when the edit adds nothing now: a start of a stopped holder reads the spec under these locks.
    await this.serialize(em, holder);
    const demand = (spec: ArtifactSpec) => sumAmounts(runtimes.map((r) => protonDemand(spec, r)));
    await this.admit(em, holder, addedDemand(demand(before), demand(after)));
  }

  /**
   * In the operation's transaction, with the workload row locked and before the operation's
   * effects are written: refuses it if what it adds exceeds a quota of the workload's owner or
   * organization. Starting adds the runtime's replicas; a bigger runtime adds the difference
   * (while the workload runs); a replace adds its candidate for as long as the replacement lasts.
   */
  async admitOperation(em: EntityManager, workload: Workload, op: WorkloadOperation): Promise<void> {
    const holder = { ownerId: workload.ownerId, organization: workload.organization ?? null };
    const adds =
      (op.kind === 'start' && workload.desiredState === 'stopped') || (op.kind === 'updateRuntime' && workload.desiredState === 'running') || op.kind === 'replace';
    if (!adds) return;
    // The quota locks before the spec is read: a draft's edit takes them too (decision 12), so the
    // spec read here is the one that stays until this transaction ends.
    await this.serialize(em, holder);
    let added: ResourceAmounts = NO_AMOUNTS;
    if (op.kind === 'start') {
      added = protonDemand(await artifactSpec(em, workload.artifact.id), workload.runtime);
    } else if (op.kind === 'updateRuntime') {
      const spec = await artifactSpec(em, workload.artifact.id);
      added = addedDemand(protonDemand(spec, workload.runtime), protonDemand(spec, op.runtime));
    } else if (op.kind === 'replace') {
      added = protonDemand(await artifactSpec(em, op.artifactId), op.runtime ?? workload.runtime);
    }
    await this.admit(em, holder, added);
  }

  /**
   * In `em`'s transaction: takes the quota locks of every subject of the holders that has a limit,
   * whatever this request adds, so that what it reads next (a spec) cannot change under another
   * check of the same subjects until it ends.
   */
  async serialize(em: EntityManager, ...holders: QuotaHolder[]): Promise<void> {
    // Every holder's subjects in one call: the database takes them in one global order (owners,
    // then organizations), so two writers with overlapping subjects never wait on each other in
    // opposite orders; later calls in the transaction only take again locks it holds.
    const unique = new Map(holders.flatMap((h) => this.subjectsOf(h)).map((s) => [`${s.scope}:${s.id}`, s]));
    const limited = [...unique.values()].filter((s) => QUOTA_RESOURCES.some((r) => this.limitsOf(s)[r] !== null));
    if (limited.length > 0) await admitQuota(em, limited.map((s) => ({ ...s, limits: this.limitsOf(s) })), NO_AMOUNTS);
  }
}
