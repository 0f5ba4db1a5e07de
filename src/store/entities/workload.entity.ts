import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ARTIFACT_STATUSES, DESIRED_STATES, IMPORTANCES, PROTON_ROLES, PROTON_STATUSES, REPLACEMENT_STATUSES, WORKLOAD_STATUSES } from '../../domain/model.js';
import type { WorkloadRuntime } from '../../domain/artifact-spec.js';
import { ArtifactEntity } from './artifact.entity.js';
import { WorkloadSharedRoleEntity } from './shared-role.entity.js';

/** A stable identity and endpoint around the protons that run an artifact. */
export const WorkloadEntity = defineEntity({
  name: 'Workload',
  tableName: 'workload',
  properties: {
    id: p.uuid().primary(),
    name: p.string().length(255),
    description: p.text().default(''),
    ownerId: p.string().length(255),
    /** The organization it was created in (the creator's), whose quota it counts against; null for none. */
    organization: p.string().length(255).nullable(),
    artifact: () => p.manyToOne(ArtifactEntity),
    /** Mirrors the artifact's status; maintained by the database (see the initial migration). */
    artifactStatus: p.enum([...ARTIFACT_STATUSES]),
    importance: p.enum([...IMPORTANCES]).default('low'),
    desiredState: p.enum([...DESIRED_STATES]).default('running'),
    status: p.enum([...WORKLOAD_STATUSES]).default('submitted'),
    statusReason: p.string().length(255).nullable(),
    statusMessage: p.text().nullable(),
    runtime: p.json<WorkloadRuntime>(),
    expiresAt: p.datetime().nullable(),
    /** The controller's lifecycle state (see src/controller/lifecycle-store.ts); null until it first runs. */
    lifecycle: p.json<Record<string, unknown>>().nullable(),
    promotedAt: p.datetime().nullable(),
    /** Assigned by the database when an event is appended; never written by code. */
    lastEventSequence: p.integer().default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    deletedAt: p.datetime().nullable(),
    /** Grants on this workload (for filtering by the caller's roles). */
    sharedRoles: () => p.oneToMany(WorkloadSharedRoleEntity).mappedBy('workload'),
  },
});
export type Workload = InferEntity<typeof WorkloadEntity>;

/** One running instance of an artifact for a workload (a Deployment on Kubernetes). */
export const ProtonEntity = defineEntity({
  name: 'Proton',
  tableName: 'proton',
  properties: {
    id: p.uuid().primary(),
    workload: () => p.manyToOne(WorkloadEntity),
    artifact: () => p.manyToOne(ArtifactEntity),
    role: p.enum([...PROTON_ROLES]),
    status: p.enum([...PROTON_STATUSES]).default('submitted'),
    statusReason: p.string().length(255).nullable(),
    statusMessage: p.text().nullable(),
    runtime: p.json<WorkloadRuntime>(),
    /** The last restart request; changing it rolls the proton's pods. */
    restartedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    removedAt: p.datetime().nullable(),
  },
});
export type Proton = InferEntity<typeof ProtonEntity>;

/** The record of one blue/green swap of a workload onto a new proton. */
export const ReplacementEntity = defineEntity({
  name: 'Replacement',
  tableName: 'replacement',
  properties: {
    id: p.uuid().primary(),
    workload: () => p.manyToOne(WorkloadEntity),
    fromProton: () => p.manyToOne(ProtonEntity).nullable(),
    toProton: () => p.manyToOne(ProtonEntity).nullable(),
    fromArtifact: () => p.manyToOne(ArtifactEntity),
    toArtifact: () => p.manyToOne(ArtifactEntity),
    status: p.enum([...REPLACEMENT_STATUSES]).default('submitted'),
    warmupSeconds: p.integer().default(0),
    keepOldVersionSeconds: p.integer().default(0),
    statusReason: p.string().length(255).nullable(),
    statusMessage: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    finishedAt: p.datetime().nullable(),
  },
});
export type Replacement = InferEntity<typeof ReplacementEntity>;

/** One entry of a workload's append-only event log; `sequence` is gap-free per workload. */
export const WorkloadEventEntity = defineEntity({
  name: 'WorkloadEvent',
  tableName: 'workload_event',
  properties: {
    workloadId: p.uuid().primary(),
    sequence: p.integer().primary(),
    type: p.string().length(64),
    message: p.text(),
    actor: p.string().length(255).nullable(),
    data: p.json<Record<string, unknown>>(),
    occurredAt: p.datetime(),
  },
  primaryKeys: ['workloadId', 'sequence'],
});
export type WorkloadEvent = InferEntity<typeof WorkloadEventEntity>;
