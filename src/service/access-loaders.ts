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

/** Per-request role loaders for one caller. */
export function createAccessLoaders(em: EntityManager, who: Principal): AccessLoaders {
  return {
    workloadRole: new DataLoader((ids: readonly string[]) => workloadRoles(em, who, ids)),
    artifactRole: new DataLoader((ids: readonly string[]) => artifactRoles(em, who, ids)),
  };
}
