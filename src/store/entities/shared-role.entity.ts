import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { SHARING_ROLES, SUBJECT_TYPES } from '../../domain/model.js';
import { ArtifactEntity } from './artifact.entity.js';
import { WorkloadEntity } from './workload.entity.js';

const grantProperties = {
  id: p.uuid().primary(),
  subjectType: p.enum([...SUBJECT_TYPES]),
  subjectId: p.string().length(255),
  role: p.enum([...SHARING_ROLES]),
  grantedBy: p.string().length(255),
  grantedAt: p.datetime().onCreate(() => new Date()),
};

/** A grant of a role on a workload to a subject. */
export const WorkloadSharedRoleEntity = defineEntity({
  name: 'WorkloadSharedRole',
  tableName: 'workload_shared_role',
  properties: { ...grantProperties, workload: () => p.manyToOne(WorkloadEntity).deleteRule('cascade') },
});
export type WorkloadSharedRole = InferEntity<typeof WorkloadSharedRoleEntity>;

/** A grant of a role on an artifact to a subject. */
export const ArtifactSharedRoleEntity = defineEntity({
  name: 'ArtifactSharedRole',
  tableName: 'artifact_shared_role',
  properties: { ...grantProperties, artifact: () => p.manyToOne(ArtifactEntity).deleteRule('cascade') },
});
export type ArtifactSharedRole = InferEntity<typeof ArtifactSharedRoleEntity>;
