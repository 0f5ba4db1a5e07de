import type { EntityManager } from '@mikro-orm/postgresql';
import { ForbiddenError, NotFoundError } from '../domain/errors.js';
import type { SharingRole } from '../domain/model.js';
import { roleAtLeast, type Principal } from '../domain/sharing.js';
import { artifactRoles, workloadRoles } from '../store/access.js';

/**
 * The caller's role on a workload or artifact, if it is at least `required`. A caller with no
 * role learns nothing (NotFound); one with too small a role is told which role is needed.
 */
export async function requireRole(
  em: EntityManager,
  who: Principal,
  resource: 'Workload' | 'Artifact',
  id: string,
  required: SharingRole,
  action: string,
): Promise<SharingRole> {
  const [role] = resource === 'Workload' ? await workloadRoles(em, who, [id]) : await artifactRoles(em, who, [id]);
  if (role == null) throw new NotFoundError(resource, id);
  if (!roleAtLeast(role, required)) throw new ForbiddenError(action, required, role);
  return role;
}
