import { ArtifactEntity, ArtifactRepositoryEntity } from './artifact.entity.js';
import { ArtifactSharedRoleEntity, WorkloadSharedRoleEntity } from './shared-role.entity.js';
import { ProtonEntity, ReplacementEntity, WorkloadEntity, WorkloadEventEntity } from './workload.entity.js';

export * from './artifact.entity.js';
export * from './shared-role.entity.js';
export * from './workload.entity.js';

/** Every entity the ORM knows. */
export const entities = [
  ArtifactRepositoryEntity,
  ArtifactEntity,
  WorkloadEntity,
  ProtonEntity,
  ReplacementEntity,
  WorkloadEventEntity,
  WorkloadSharedRoleEntity,
  ArtifactSharedRoleEntity,
];
