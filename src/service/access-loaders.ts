import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SharingRole } from '../domain/model.js';
import type { Principal } from '../domain/sharing.js';
import { artifactRoles, workloadRoles } from '../store/access.js';

/**
 * The caller's role on resources of one kind, for one request: loaded in batches, or primed with
 * what a statement already read. A role once known is also answered synchronously (`known`), so a
 * check over a page of primed objects makes no promise per object.
 */
export interface RoleLoader {
  load(id: string): Promise<SharingRole | null>;
  /** Records a role read elsewhere in this request; a role already known or being loaded stays. */
  prime(id: string, role: SharingRole | null): void;
  /** The role if this request already knows it (null: none), undefined if it must be loaded. */
  known(id: string): SharingRole | null | undefined;
  /** Whether the caller holds any role on `id`: a boolean when the role is known, else a promise. */
  holdsAny(id: string): boolean | Promise<boolean>;
}

/** The caller's roles, loaded in batches and cached for one request. */
export interface AccessLoaders {
  workloadRole: RoleLoader;
  artifactRole: RoleLoader;
}

/** A role loader over `read` (the roles of a batch of ids, in their order). */
export function roleLoader(read: (ids: readonly string[]) => Promise<(SharingRole | null)[]>): RoleLoader {
  const known = new Map<string, SharingRole | null>();
  // Ids whose load is under way: what it answers becomes the known role, not a primed one.
  const loading = new Set<string>();
  const loader = new DataLoader(async (ids: readonly string[]) => {
    try {
      const roles = await read(ids);
      ids.forEach((id, i) => known.set(id, roles[i] ?? null));
      return roles;
    } finally {
      for (const id of ids) loading.delete(id);
    }
  });
  return {
    load(id) {
      if (known.has(id)) return Promise.resolve(known.get(id) as SharingRole | null);
      loading.add(id);
      return loader.load(id);
    },
    prime(id, role) {
      if (!known.has(id) && !loading.has(id)) known.set(id, role);
    },
    known: (id) => known.get(id),
    holdsAny(id) {
      const role = known.get(id);
      return role !== undefined ? role !== null : this.load(id).then((loaded) => loaded !== null);
    },
  };
}

/**
 * Per-request role loaders for one caller. `em` may be a function, called only when a role must
 * be read (loaders primed with known roles then never fork an EntityManager).
 */
export function createAccessLoaders(em: EntityManager | (() => EntityManager), who: Principal): AccessLoaders {
  const manager = typeof em === 'function' ? em : () => em;
  return {
    workloadRole: roleLoader((ids) => workloadRoles(manager(), who, ids)),
    artifactRole: roleLoader((ids) => artifactRoles(manager(), who, ids)),
  };
}
