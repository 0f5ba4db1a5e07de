import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ARTIFACT_STATUSES } from '../../domain/model.js';
import type { ArtifactSpec } from '../../domain/artifact-spec.js';
import { ArtifactSharedRoleEntity } from './shared-role.entity.js';
import { WorkloadEntity } from './workload.entity.js';

/** A lineage of artifacts; locking an artifact assigns the repository's next version. */
export const ArtifactRepositoryEntity = defineEntity({
  name: 'ArtifactRepository',
  tableName: 'artifact_repository',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(255),
    ownerId: p.string().length(255),
    lastVersion: p.integer().default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ArtifactRepository = InferEntity<typeof ArtifactRepositoryEntity>;

/** What runs: a container spec, draft (mutable) or locked (immutable, versioned). */
export const ArtifactEntity = defineEntity({
  name: 'Artifact',
  tableName: 'artifact',
  properties: {
    id: p.uuid().primary(),
    repository: () => p.manyToOne(ArtifactRepositoryEntity),
    name: p.string().length(255),
    description: p.text().default(''),
    status: p.enum([...ARTIFACT_STATUSES]),
    version: p.integer().nullable(),
    spec: p.json<ArtifactSpec>(),
    ownerId: p.string().length(255),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    lockedAt: p.datetime().nullable(),
    deletedAt: p.datetime().nullable(),
    /** Grants on this artifact (for filtering by the caller's roles). */
    sharedRoles: () => p.oneToMany(ArtifactSharedRoleEntity).mappedBy('artifact'),
    /** Workloads that run this artifact (seeing one shows what it runs). */
    workloads: () => p.oneToMany(WorkloadEntity).mappedBy('artifact'),
  },
});
export type Artifact = InferEntity<typeof ArtifactEntity>;
