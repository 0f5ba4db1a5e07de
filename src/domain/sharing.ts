/**
 * Who may do what: roles, their order, which grants match a caller, and the rules of a
 * shared-role list. Pure: the store turns the same rules into SQL.
 */
import { z } from 'zod';
import { TEXT_LIMITS, textSchema } from './validate.js';
import { SHARING_ROLES, SUBJECT_TYPES, type SharingRole, type SubjectType } from './model.js';

/** A caller as the rules see it: a user with groups, an organization and platform roles. */
export interface Principal {
  userId: string;
  groups: string[];
  organization: string | null;
  roles: string[];
  /** Holds the configured platform-admin role: may do everything. */
  isPlatformAdmin: boolean;
}

/** One grant of a role to a subject. */
export interface Grant {
  subjectType: SubjectType;
  subjectId: string;
  role: SharingRole;
}

/** Rank of a role: higher grants more (OBSERVER < EDITOR < OWNER). */
export function roleRank(role: SharingRole): number {
  return SHARING_ROLES.indexOf(role);
}

/** Whether `role` is at least `required`; no role is never enough. */
export function roleAtLeast(role: SharingRole | null, required: SharingRole): boolean {
  return role !== null && roleRank(role) >= roleRank(required);
}

/** The highest of some roles, or null for none. */
export function highestRole(roles: Iterable<SharingRole>): SharingRole | null {
  let best: SharingRole | null = null;
  for (const r of roles) if (best === null || roleRank(r) > roleRank(best)) best = r;
  return best;
}

/** Whether a grant's subject is the caller, one of its groups, its organization or one of its roles. */
export function grantMatches(grant: Pick<Grant, 'subjectType' | 'subjectId'>, who: Principal): boolean {
  switch (grant.subjectType) {
    case 'user':
      return grant.subjectId === who.userId;
    case 'group':
      return who.groups.includes(grant.subjectId);
    case 'organization':
      return who.organization !== null && grant.subjectId === who.organization;
    case 'role':
      return who.roles.includes(grant.subjectId);
  }
}

/** The caller's effective role: the highest matching grant; a platform admin is an OWNER everywhere. */
export function effectiveRole(grants: readonly Grant[], who: Principal): SharingRole | null {
  if (who.isPlatformAdmin) return 'OWNER';
  return highestRole(grants.filter((g) => grantMatches(g, who)).map((g) => g.role));
}

/** What each operation needs (SPEC.md section 4). */
export const REQUIRED_ROLE = {
  read: 'OBSERVER',
  lifecycle: 'EDITOR',
  metadata: 'EDITOR',
  delete: 'OWNER',
  share: 'OWNER',
} as const satisfies Record<string, SharingRole>;

export const MAX_SHARED_ROLES = 100;

/** A whole shared-role list: at most 100 entries, one per subject, at least one OWNER. */
export const sharedRolesSchema = z
  .array(
    z.strictObject({
      subjectType: z.enum(SUBJECT_TYPES),
      subjectId: textSchema('line', TEXT_LIMITS.subjectId)
        .min(1, { message: 'must not be empty', abort: true })
        .refine((s) => s.trim() === s, 'must not start or end with whitespace'),
      role: z.enum(SHARING_ROLES),
    }),
  )
  .max(MAX_SHARED_ROLES, `must hold at most ${MAX_SHARED_ROLES} entries`)
  .superRefine((grants, ctx) => {
    const seen = new Map<string, number>();
    grants.forEach((g, i) => {
      const key = `${g.subjectType}:${g.subjectId}`;
      if (seen.has(key)) {
        ctx.addIssue({ code: 'custom', path: [i, 'subjectId'], message: `${g.subjectType} "${g.subjectId}" is listed twice` });
      }
      seen.set(key, i);
    });
    if (grants.length <= 100 && !grants.some((g) => g.role === 'OWNER')) {
      ctx.addIssue({ code: 'custom', path: [], message: 'must keep at least one OWNER' });
    }
  });
