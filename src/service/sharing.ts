import type { EntityManager } from '@mikro-orm/postgresql';
import type { Grant } from '../domain/sharing.js';

/** What a replacement of a grant list changed, for the event log. */
export interface GrantChanges {
  added: Grant[];
  removed: Grant[];
  changed: (Grant & { from: Grant['role'] })[];
}

const key = (g: Pick<Grant, 'subjectType' | 'subjectId'>) => `${g.subjectType}:${g.subjectId}`;

/**
 * Makes the stored grants equal to `wanted` inside the caller's transaction: unchanged grants
 * keep their history (who granted, when); others are added, re-roled or removed.
 */
export function replaceGrants<T extends Grant & { grantedBy: string; grantedAt: Date }>(
  em: EntityManager,
  current: T[],
  wanted: Grant[],
  create: (grant: Grant) => T,
  now: Date = new Date(),
  actor = '',
): GrantChanges {
  const byKey = new Map(current.map((g) => [key(g), g]));
  const changes: GrantChanges = { added: [], removed: [], changed: [] };
  const keep = new Set<string>();
  for (const w of wanted) {
    const existing = byKey.get(key(w));
    keep.add(key(w));
    if (!existing) {
      create(w);
      changes.added.push(w);
    } else if (existing.role !== w.role) {
      changes.changed.push({ ...w, from: existing.role });
      existing.role = w.role;
      existing.grantedBy = actor || existing.grantedBy;
      existing.grantedAt = now;
    }
  }
  for (const g of current) {
    if (!keep.has(key(g))) {
      em.remove(g);
      changes.removed.push({ subjectType: g.subjectType, subjectId: g.subjectId, role: g.role });
    }
  }
  return changes;
}

/** A sentence saying what a grant change did, e.g. `granted EDITOR to group "team-a"`. */
export function describeGrantChanges(changes: GrantChanges): string {
  const subject = (g: Grant) => `${g.subjectType} "${g.subjectId}"`;
  const parts = [
    ...changes.added.map((g) => `granted ${g.role} to ${subject(g)}`),
    ...changes.changed.map((g) => `changed ${subject(g)} from ${g.from} to ${g.role}`),
    ...changes.removed.map((g) => `revoked ${g.role} from ${subject(g)}`),
  ];
  return parts.length > 0 ? `sharing changed: ${parts.join('; ')}` : 'sharing unchanged';
}
