import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode, type FilterQuery } from '@mikro-orm/core';
import type { Viewer } from '../auth/viewer.js';
import type { z } from 'zod';
import { artifactPatchSchema, cloneArtifactSchema, newArtifactSchema } from '../domain/artifact-spec.js';
import { isUuid } from '../domain/ids.js';
import { parseOrThrow } from '../domain/validate.js';
import { ConflictError, InvalidTransitionError, NotFoundError } from '../domain/errors.js';
import type { ArtifactStatus } from '../domain/model.js';
import {
  ArtifactEntity,
  ArtifactRepositoryEntity,
  ArtifactSharedRoleEntity,
  WorkloadEntity,
  type Artifact,
  type ArtifactSharedRole,
} from '../store/entities/index.js';
import { keysetPage, likePattern, type PageWindow, type SortDirection } from '../store/pagination.js';
import type { Orm } from '../store/orm.js';
import { visibleArtifacts } from '../store/access.js';
import { queryRows } from '../store/sql.js';
import { REQUIRED_ROLE, sharedRolesSchema } from '../domain/sharing.js';
import { replaceGrants } from './sharing.js';
import { requireRole } from './authorize.js';
import { conflictNaming } from './conflicts.js';
import type { Clock } from './clock.js';

/** A validated artifact to create (see the domain's `newArtifactSchema`). */
export type NewArtifact = z.output<typeof newArtifactSchema>;

export interface ArtifactFilter {
  status?: ArtifactStatus | null;
  repositoryId?: string | null;
  search?: string | null;
}

export type ArtifactOrderField = 'createdAt' | 'updatedAt' | 'name';
export interface ArtifactOrder {
  field: ArtifactOrderField;
  direction: SortDirection;
}

/** An id that no row has: a filter on a malformed id matches nothing. */
const NO_ID = '00000000-0000-0000-0000-000000000000';

/** Creating, changing, locking, cloning, deleting and listing artifacts. */
export class ArtifactService {
  constructor(private readonly deps: { orm: Orm; clock: Clock }) {}

  /** Loads a live artifact the caller may read, or throws NotFound. */
  async get(em: EntityManager, viewer: Viewer, id: string): Promise<Artifact> {
    const artifact = isUuid(id)
      ? await em.findOne(ArtifactEntity, { $and: [{ id, deletedAt: null }, visibleArtifacts(viewer)] } as FilterQuery<Artifact>)
      : null;
    if (!artifact) throw new NotFoundError('Artifact', id);
    return artifact;
  }

  /** Creates a draft artifact (and a new repository for its lineage) inside `em`'s transaction. */
  async createIn(em: EntityManager, viewer: Viewer, input: NewArtifact): Promise<Artifact> {
    const now = this.deps.clock();
    const repository = em.create(ArtifactRepositoryEntity, {
      id: randomUUID(),
      name: input.name,
      ownerId: viewer.userId,
      lastVersion: 0,
      createdAt: now,
    });
    return this.newDraft(em, viewer, repository, { name: input.name, description: input.description ?? '', spec: input.spec }, now);
  }

  /** Creates a draft artifact. */
  async create(viewer: Viewer, input: unknown): Promise<Artifact> {
    const valid = parseOrThrow(newArtifactSchema, input);
    return this.deps.orm.em.fork().transactional((em) => this.createIn(em, viewer, valid));
  }

  /** Changes a draft's name, description or spec; locked artifacts are immutable. */
  async update(viewer: Viewer, id: string, input: unknown): Promise<Artifact> {
    const patch = parseOrThrow(artifactPatchSchema, input);
    return this.deps.orm.em.fork().transactional(async (em) => {
      await requireRole(em, viewer, 'Artifact', id, REQUIRED_ROLE.metadata, 'changing an artifact');
      const artifact = await this.get(em, viewer, id);
      if (artifact.status === 'locked') {
        throw new InvalidTransitionError(
          `artifact "${artifact.name}" is locked (version ${artifact.version}) and immutable; clone it to make a new draft`,
          'locked',
        );
      }
      if (patch.name != null) artifact.name = patch.name;
      if (patch.description != null) artifact.description = patch.description;
      if (patch.spec != null) artifact.spec = patch.spec;
      artifact.updatedAt = this.deps.clock();
      return artifact;
    });
  }

  /**
   * Locks a draft (one-way), assigning its repository's next version. Locking a locked artifact
   * changes nothing. A draft that a live workload runs is locked by promoting that workload.
   */
  async lock(viewer: Viewer, id: string): Promise<Artifact> {
    return this.deps.orm.em.fork().transactional(async (em) => {
      await requireRole(em, viewer, 'Artifact', id, REQUIRED_ROLE.lifecycle, 'locking an artifact');
      const artifact = isUuid(id)
        ? await em.findOne(ArtifactEntity, { id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE })
        : null;
      if (!artifact) throw new NotFoundError('Artifact', id);
      if (artifact.status === 'locked') return artifact;
      const users = await this.liveWorkloadsOf(em, id);
      if (users.length > 0) {
        throw await conflictNaming(
          em,
          viewer,
          users,
          (names) => `artifact "${artifact.name}" runs in draft workload ${names}; promote the workload to lock its artifact`,
        );
      }
      await lockArtifactIn(em, artifact, this.deps.clock());
      return artifact;
    });
  }

  /** Makes a new draft in the same repository with a copy of the artifact's spec. */
  async clone(viewer: Viewer, id: string, raw: unknown): Promise<Artifact> {
    const input = parseOrThrow(cloneArtifactSchema, raw);
    return this.deps.orm.em.fork().transactional(async (em) => {
      const source = await this.get(em, viewer, id);
      const fields = { name: input.name ?? source.name, description: input.description ?? source.description, spec: structuredClone(source.spec) };
      return this.newDraft(em, viewer, source.repository, fields, this.deps.clock());
    });
  }

  /** Deletes a draft that no workload uses; locked artifacts are kept forever. */
  async delete(viewer: Viewer, id: string): Promise<Artifact> {
    return this.deps.orm.em.fork().transactional(async (em) => {
      await requireRole(em, viewer, 'Artifact', id, REQUIRED_ROLE.delete, 'deleting an artifact');
      const artifact = await this.get(em, viewer, id);
      if (artifact.status === 'locked') {
        throw new InvalidTransitionError(`artifact "${artifact.name}" is locked (version ${artifact.version}) and cannot be deleted`, 'locked');
      }
      const users = await em.find(
        WorkloadEntity,
        { artifact: id, deletedAt: null },
        { fields: ['id', 'name'], orderBy: { createdAt: 'asc' }, limit: 20 },
      );
      if (users.length > 0) {
        throw await conflictNaming(em, viewer, users, (names) => `artifact "${artifact.name}" is used by workload ${names}; delete those workloads first`);
      }
      artifact.deletedAt = this.deps.clock();
      return artifact;
    });
  }

  /** One page of live artifacts matching `filter`, in `order`. */
  async list(em: EntityManager, viewer: Viewer, filter: ArtifactFilter, order: ArtifactOrder, page: PageWindow): Promise<Artifact[]> {
    const where = this.where(viewer, filter);
    const column = order.field;
    const k = keysetPage<Artifact>(column, order.direction, page, column === 'name' ? undefined : (v) => new Date(v));
    return em.find(ArtifactEntity, { $and: [where, ...k.where] } as FilterQuery<Artifact>, { orderBy: k.orderBy, limit: k.limit });
  }

  /** How many live artifacts match `filter`. */
  async count(em: EntityManager, viewer: Viewer, filter: ArtifactFilter): Promise<number> {
    return em.count(ArtifactEntity, this.where(viewer, filter));
  }

  /** Loads live artifacts by id, in storage order (callers sort). */
  async loadMany(em: EntityManager, viewer: Viewer, ids: readonly string[]): Promise<Artifact[]> {
    return em.find(ArtifactEntity, { $and: [{ id: { $in: ids.filter(isUuid) }, deletedAt: null }, visibleArtifacts(viewer)] } as FilterQuery<Artifact>);
  }

  private where(viewer: Viewer, filter: ArtifactFilter): FilterQuery<Artifact> {
    const where: FilterQuery<Artifact> & Record<string, unknown> = { deletedAt: null };
    if (filter.status) where.status = filter.status;
    if (filter.repositoryId) where.repository = isUuid(filter.repositoryId) ? filter.repositoryId : NO_ID;
    if (filter.search) {
      const pattern = likePattern(filter.search);
      where.$or = [{ name: { $ilike: pattern } }, { description: { $ilike: pattern } }];
    }
    return { $and: [where, visibleArtifacts(viewer)] } as FilterQuery<Artifact>;
  }

  /** The artifact's grants, for anyone who may read it. */
  async sharedRoles(em: EntityManager, artifactId: string): Promise<ArtifactSharedRole[]> {
    return em.find(ArtifactSharedRoleEntity, { artifact: artifactId }, { orderBy: { grantedAt: 'asc', id: 'asc' } });
  }

  /** Replaces the artifact's whole grant list (OWNER only); at least one OWNER must remain. */
  async updateSharedRoles(viewer: Viewer, id: string, input: unknown): Promise<Artifact> {
    const roles = parseOrThrow(sharedRolesSchema, input, ['roles']);
    return this.deps.orm.em.fork().transactional(async (em) => {
      await requireRole(em, viewer, 'Artifact', id, REQUIRED_ROLE.share, 'changing who an artifact is shared with');
      const artifact = await this.get(em, viewer, id);
      const current = await this.sharedRoles(em, id);
      const now = this.deps.clock();
      replaceGrants(em, current, roles, (g) =>
        em.create(ArtifactSharedRoleEntity, { id: randomUUID(), artifact, ...g, grantedBy: viewer.userId, grantedAt: now }),
        now,
        viewer.userId,
      );
      artifact.updatedAt = now;
      return artifact;
    });
  }

  private liveWorkloadsOf(em: EntityManager, artifactId: string) {
    return em.find(
      WorkloadEntity,
      { artifact: artifactId, deletedAt: null, status: { $ne: 'terminated' } },
      { fields: ['id', 'name'], limit: 20 },
    );
  }

  /** A new draft in `repository`, owned by the caller. */
  private newDraft(
    em: EntityManager,
    viewer: Viewer,
    repository: Artifact['repository'],
    fields: Pick<Artifact, 'name' | 'description' | 'spec'>,
    now: Date,
  ): Artifact {
    const artifact = em.create(ArtifactEntity, {
      id: randomUUID(),
      repository,
      ...fields,
      status: 'draft',
      version: null,
      ownerId: viewer.userId,
      createdAt: now,
      updatedAt: now,
      lockedAt: null,
      deletedAt: null,
    });
    this.grantOwner(em, viewer, artifact, now);
    return artifact;
  }

  private grantOwner(em: EntityManager, viewer: Viewer, artifact: Artifact, now: Date): void {
    em.create(ArtifactSharedRoleEntity, {
      id: randomUUID(),
      artifact,
      subjectType: 'user',
      subjectId: viewer.userId,
      role: 'OWNER',
      grantedBy: viewer.userId,
      grantedAt: now,
    });
  }
}

/**
 * Locks a draft inside the caller's transaction, assigning its repository's next version. The
 * counter lives on the repository row, so the update serializes concurrent locks.
 */
export async function lockArtifactIn(em: EntityManager, artifact: Artifact, now: Date): Promise<void> {
  if (artifact.status === 'locked') return;
  const rows = await queryRows<{ last_version: number }>(
    em,
    'update artifact_repository set last_version = last_version + 1 where id = ? returning last_version',
    [artifact.repository.id],
  );
  const version = rows[0]?.last_version;
  if (typeof version !== 'number') throw new Error(`artifact repository ${artifact.repository.id} vanished`);
  artifact.status = 'locked';
  artifact.version = version;
  artifact.lockedAt = now;
  artifact.updatedAt = now;
}
