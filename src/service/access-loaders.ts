import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { SharingRole } from '../domain/model.js';
import type { Principal } from '../domain/sharing.js';
import { artifactRoles, workloadRoles } from '../store/access.js';

/** The caller's roles, loaded in batches and cached for one request. */
export interface AccessLoaders {
  workloadRole: DataLoader<string, SharingRole | null>;
  artifactRole: DataLoader<string, SharingRole | null>;
}

/**
 * Per-request role loaders for one caller. `em` may be a function, called only when a role must
 * be read (loaders primed with known roles then never fork an EntityManager).
 */
export function createAccessLoaders(em: EntityManager | (() => EntityManager), who: Principal): AccessLoaders {
  const manager = typeof em === 'function' ? em : () => em;
  return {
    workloadRole: new DataLoader((ids: readonly string[]) => workloadRoles(manager(), who, ids)),
    artifactRole: new DataLoader((ids: readonly string[]) => artifactRoles(manager(), who, ids)),
  };
}
