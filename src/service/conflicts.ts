import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError, NotFoundError } from '../domain/errors.js';
import type { ConflictReason } from '../domain/rulebook.js';
import type { Principal } from '../domain/sharing.js';
import { workloadRoles } from '../store/access.js';
import { draftHolder, inUseViolation } from '../store/artifact-use.js';
import { WorkloadEntity } from '../store/entities/index.js';
import { violatedUniqueConstraint } from '../store/errors.js';

/**
 * A Conflict that names the workloads in the way, but only those the caller may see: the others
 * are counted, never named, so a conflict does not leak what sharing hides.
 */
export async function conflictNaming(
  em: EntityManager,
  who: Principal,
  workloads: readonly { id: string; name: string }[],
  message: (names: string, visibleCount: number) => string,
  reason: ConflictReason = 'Conflict',
): Promise<ConflictError> {
  const roles = await workloadRoles(em, who, workloads.map((w) => w.id));
  const visible = workloads.filter((_, i) => roles[i] != null);
  const hidden = workloads.length - visible.length;
  const names = [
    ...visible.map((w) => `"${w.name}"`),
    ...(hidden > 0 ? [`${hidden === 1 ? 'one' : hidden} you cannot see`] : []),
  ].join(', ');
  return new ConflictError(message(names, visible.length), visible.map((w) => ({ type: 'Workload', id: w.id })), reason);
}

/** A Conflict (DraftTaken) naming the workload that holds a draft's one live slot, if the caller may see it. */
export function draftTakenConflict(em: EntityManager, who: Principal, holder: { id: string; name: string }): Promise<ConflictError> {
  return conflictNaming(
    em,
    who,
    [holder],
    (names) => `the draft artifact is taken by workload ${names} (it runs it or is being replaced onto it); a draft artifact serves one workload at a time: clone it to run another`,
    'DraftTaken',
  );
}

/** Turns an in-use rule the database kept into a Conflict (read through `em`); anything else is returned as is. */
export async function explainInUse(em: EntityManager, err: unknown, who: Principal, artifactId: string, exceptWorkloadId?: string): Promise<unknown> {
  const violation = inUseViolation(err);
  const unique = violatedUniqueConstraint(err) === 'workload_one_live_per_draft_artifact';
  if (!violation && !unique) return err;
  if (violation?.rule === 'ArtifactDeleted') return new NotFoundError('Artifact', artifactId);
  if (violation?.rule === 'ArtifactChanged') {
    return new ConflictError('the artifact was locked at the same moment; create the workload again (it runs the locked version, without a TTL)', [], 'Conflict');
  }
  const holder =
    (violation?.workloadId ? await em.findOne(WorkloadEntity, { id: violation.workloadId }, { fields: ['id', 'name'] }) : null) ??
    (await draftHolder(em, artifactId, exceptWorkloadId));
  return holder
    ? draftTakenConflict(em, who, holder)
    : new ConflictError('the draft artifact was taken by another workload at the same moment; try again', [], 'DraftTaken');
}

/** Turns a violation of createWorkload's database rules into a Conflict that names what is in the way. */
export async function explainCreateConflict(em: EntityManager, err: unknown, who: Principal, input: { name: string; artifactId?: string | null }): Promise<unknown> {
  if (violatedUniqueConstraint(err) === 'workload_name_unique_per_owner') return nameConflict(em, who, who.userId, input.name);
  if (input.artifactId) return explainInUse(em, err, who, input.artifactId);
  return err;
}

/**
 * A name collision. The caller chose the name, so saying it is taken reveals one bit (some
 * workload of the owner's has it); a holder the caller cannot see is never named, linked or
 * described beyond that (ADR 0004).
 */
export async function nameConflict(em: EntityManager, who: Principal, ownerId: string, name: string): Promise<ConflictError> {
  const holder = await em.findOne(WorkloadEntity, { ownerId, name, deletedAt: null }, { fields: ['id', 'name'] });
  return conflictNaming(
    em,
    who,
    holder ? [holder] : [],
    (names, visible) =>
      visible > 0
        ? `the name "${name}" is taken by workload ${names}; workload names are unique per owner`
        : `the name "${name}" is not available for this workload; workload names are unique per owner`,
    'NameTaken',
  );
}
