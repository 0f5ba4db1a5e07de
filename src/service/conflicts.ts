import type { EntityManager } from '@mikro-orm/postgresql';
import { ConflictError } from '../domain/errors.js';
import type { ConflictReason } from '../domain/rulebook.js';
import type { Principal } from '../domain/sharing.js';
import { workloadRoles } from '../store/access.js';

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
