import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode, type FilterQuery } from '@mikro-orm/core';
import type { Viewer } from '../auth/viewer.js';
import type { z } from 'zod';
import { artifactPatchSchema, cloneArtifactSchema, newArtifactSchema, type ArtifactSpec } from '../domain/artifact-spec.js';
import { isUuid } from '../domain/ids.js';
import { parseOrThrow } from '../domain/validate.js';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError } from '../domain/errors.js';
import type { ArtifactStatus } from '../domain/model.js';
import {
  ArtifactEntity,
  ArtifactRepositoryEntity,
  ArtifactSharedRoleEntity,
  WorkloadEntity,
  type Artifact,
  type ArtifactRepository,
  type ArtifactSharedRole,
} from '../store/entities/index.js';
import { keysetPage, likePattern, type PageWindow, type SortDirection } from '../store/pagination.js';
import type { Orm } from '../store/orm.js';
import { artifactRoles, visibleArtifacts } from '../store/access.js';
import { artifactReferences, inUseViolation } from '../store/artifact-use.js';
import { newRow } from '../store/read-model.js';
import { artifactSpec, lockWorkloadRows, specHolders, type SpecHolder } from '../store/usage.js';
import { newestEventSequences } from '../store/events.js';
import type { WorkloadPubSub } from '../pubsub/topics.js';
import { lockArtifactIn } from '../store/artifacts.js';
import { roleAtLeast, sharedRolesSchema } from '../domain/sharing.js';
import type { SharingRole } from '../domain/model.js';
import { cloneDestination, deleteRefusal, lockRefusal, requiredArtifactRole, RULEBOOK, type ArtifactReference, type MutationName } from '../domain/rulebook.js';
import { replaceGrants } from './sharing.js';
import { conflictNaming } from './conflicts.js';
import type { Clock } from './clock.js';
import type { QuotaService } from './quota.js';

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
  constructor(private readonly deps: { orm: Orm; clock: Clock; quotas: QuotaService; pubsub: WorkloadPubSub }) {}

  /** Loads a live artifact the caller may read, or throws NotFound. */
  async get(em: EntityManager, viewer: Viewer, id: string): Promise<Artifact> {
    return (await this.getWithRole(em, viewer, id)).artifact;
  }

  /** Loads a live artifact the caller may read, with the caller's role on it, or throws NotFound. */
  async getWithRole(em: EntityManager, viewer: Viewer, id: string): Promise<{ artifact: Artifact; role: SharingRole }> {
    const artifact = isUuid(id) ? await em.findOne(ArtifactEntity, { id, deletedAt: null }) : null;
    const [role] = artifact ? await artifactRoles(em, viewer, [id]) : [null];
    if (!artifact || !role) throw new NotFoundError('Artifact', id);
    return { artifact, role };
  }

  /**
   * The caller's role on an artifact an operation touches, if the rulebook's row allows it: no
   * role gives NotFound, too small a role Forbidden naming the role needed.
   */
  async authorize(
    em: EntityManager,
    viewer: Viewer,
    id: string,
    mutation: MutationName,
    options: { alreadyRunByThisWorkload?: boolean } = {},
  ): Promise<{ artifact: Artifact; role: SharingRole }> {
    const found = await this.getWithRole(em, viewer, id);
    const rule = RULEBOOK[mutation];
    for (const right of rule.artifacts) {
      const needed = requiredArtifactRole(right, found.artifact, options);
      if (needed && !roleAtLeast(found.role, needed)) {
        throw new ForbiddenError(`${rule.action} (${found.artifact.status} artifact "${found.artifact.name}")`, needed, found.role);
      }
    }
    return found;
  }

  /** Creates a draft artifact (and a new repository for its lineage) inside `em`'s transaction. */
  async createIn(em: EntityManager, viewer: Viewer, input: NewArtifact): Promise<Artifact> {
    const now = this.deps.clock();
    const repository = em.create(ArtifactRepositoryEntity, newRepositoryColumns(viewer, input.name, now));
    const { artifact, grant } = this.draftRows(em, viewer, repository, draftFields(input), now);
    em.persist([artifact, grant]);
    return artifact;
  }

  /**
   * The rows of a new draft in a repository of its own, owned by the caller, as plain views
   * (`newRow`, ADR 0005 decision 28): the caller writes them (a workload's create, in its one
   * statement) and answers from them.
   */
  newInline(viewer: Viewer, input: NewArtifact): { repository: ArtifactRepository; artifact: Artifact; grants: ArtifactSharedRole[] } {
    const now = this.deps.clock();
    const repository = newRow<ArtifactRepository>(newRepositoryColumns(viewer, input.name, now));
    const artifact = newRow<Artifact>({ ...draftColumns(viewer, draftFields(input), now), repository });
    const grant = newRow<ArtifactSharedRole>({ ...ownerGrantColumns(viewer, now), artifact });
    return { repository, artifact, grants: [grant] };
  }

  /** Creates a draft artifact. */
  async create(viewer: Viewer, input: unknown): Promise<Artifact> {
    const valid = parseOrThrow(newArtifactSchema, input);
    return this.deps.orm.em.fork().transactional((em) => this.createIn(em, viewer, valid));
  }

  /**
   * Changes a draft's name, description or spec; locked artifacts are immutable. A new spec is
   * announced, once committed, for each workload that runs the draft: its protons roll to it
   * (ADR 0013, decision 12), and no event of the workload's records the edit.
   */
  async update(viewer: Viewer, id: string, input: unknown): Promise<Artifact> {
    const patch = parseOrThrow(artifactPatchSchema, input);
    const { artifact, rolled } = await this.withSpecHoldersLocked(() =>
      this.deps.orm.em.fork().transactional(async (em) => {
        const { artifact } = await this.authorize(em, viewer, id, 'updateArtifact');
        if (artifact.status === 'locked') {
          throw new InvalidTransitionError(
            `artifact "${artifact.name}" is locked (version ${artifact.version}) and immutable; clone it to make a new draft`,
            'locked',
          );
        }
        let rolled = new Map<string, number>();
        if (patch.spec != null && !isDeepStrictEqual(patch.spec, artifact.spec)) {
          const holders = await this.admitSpecChange(em, artifact, patch.spec);
          rolled = await newestEventSequences(em, holders.map((h) => h.workloadId));
        }
        if (patch.name != null) artifact.name = patch.name;
        if (patch.description != null) artifact.description = patch.description;
        if (patch.spec != null) artifact.spec = patch.spec;
        artifact.updatedAt = this.deps.clock();
        return { artifact, rolled };
      }),
    );
    for (const [workloadId, sequence] of rolled) this.deps.pubsub.publish('workload:changed', { workloadId, sequence, specChanged: true });
    return artifact;
  }

  /** Runs `edit` again (a new transaction) while a workload began running the draft before its row could be locked; at most three times. */
  private async withSpecHoldersLocked<T>(edit: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await edit();
      } catch (err) {
        if (!(err instanceof SpecHoldersChanged) || attempt === 3) throw err instanceof SpecHoldersChanged ? err.conflict : err;
      }
    }
  }

  /**
   * Locks a draft (one-way), assigning its repository's next version. Locking a locked artifact
   * changes nothing. A draft that a live workload runs is locked by promoting that workload.
   */
  async lock(viewer: Viewer, id: string): Promise<Artifact> {
    return this.refusingInUse(viewer, () =>
      this.deps.orm.em.fork().transactional(async (em) => {
        await this.authorize(em, viewer, id, 'lockArtifact');
        // The row lock first: creates, replacements and deletes of this artifact wait for us.
        const artifact = await this.lockRow(em, id);
        if (artifact.status === 'locked') return artifact;
        const references = await artifactReferences(em, id);
        if (lockRefusal(artifact, references, 'lockArtifact')) {
          throw await this.inUse(em, viewer, references.filter((r) => !r.terminated), (names) =>
            `artifact "${artifact.name}" is in use by workload ${names}; promote the workload that runs it to lock it (an artifact in use is locked only by promote)`,
          );
        }
        await lockArtifactIn(em, artifact, this.deps.clock());
        return artifact;
      }),
    );
  }

  /**
   * Makes a new draft with a copy of the artifact's spec: in the source's repository for its
   * editors; otherwise in a new repository of the caller's (reading an artifact does not let one
   * add versions to its owner's repository).
   */
  async clone(viewer: Viewer, id: string, raw: unknown): Promise<Artifact> {
    const input = parseOrThrow(cloneArtifactSchema, raw);
    return this.deps.orm.em.fork().transactional(async (em) => {
      const { artifact: source, role } = await this.authorize(em, viewer, id, 'cloneArtifact');
      const now = this.deps.clock();
      const name = input.name ?? source.name;
      const repository =
        cloneDestination(role) === 'sourceRepository'
          ? source.repository
          : em.create(ArtifactRepositoryEntity, { id: randomUUID(), name, ownerId: viewer.userId, lastVersion: 0, createdAt: now });
      const fields = { name, description: input.description ?? source.description, spec: structuredClone(source.spec) };
      const { artifact, grant } = this.draftRows(em, viewer, repository, fields, now);
      em.persist([artifact, grant]);
      return artifact;
    });
  }

  /**
   * Deletes a draft that is not in use (soft: the history of workloads that ran it still shows
   * it, marked deleted); locked artifacts are kept forever.
   */
  async delete(viewer: Viewer, id: string): Promise<Artifact> {
    return this.refusingInUse(viewer, () =>
      this.deps.orm.em.fork().transactional(async (em) => {
        await this.authorize(em, viewer, id, 'deleteArtifact');
        const artifact = await this.lockRow(em, id);
        const references = await artifactReferences(em, id);
        const refusal = deleteRefusal(artifact, references);
        if (refusal === 'ArtifactLocked') {
          throw new InvalidTransitionError(`artifact "${artifact.name}" is locked (version ${artifact.version}) and cannot be deleted`, 'locked', 'ArtifactLocked');
        }
        if (refusal === 'ArtifactInUse') {
          throw await this.inUse(em, viewer, references, (names) =>
            `artifact "${artifact.name}" is in use by workload ${names}; delete those workloads or wait for their replacements to end first`,
          );
        }
        artifact.deletedAt = this.deps.clock();
        return artifact;
      }),
    );
  }

  /**
   * A draft's new spec is what the workload that runs it requests from then on (its protons roll
   * to it), so the edit is checked against that workload's quotas like any request that adds
   * usage (ADR 0013, decision 12). Locks in the order every writer takes them: the holders' rows
   * first (the edit's trigger updates their demand; a round or an operation holds a workload's
   * row while it takes quota locks or reads the artifact), then the quota locks, then the
   * artifact's row (the order of a replace onto the draft). Under the row lock the spec and the
   * holders are read again: if the spec or a locked holder changed since the check, the check is
   * made again; if a workload began running the draft before its row was locked, the edit starts
   * over. Returns the workloads it was checked for: those that run the draft.
   */
  private async admitSpecChange(em: EntityManager, artifact: Artifact, spec: ArtifactSpec): Promise<readonly SpecHolder[]> {
    let before = artifact.spec;
    let holders = await specHolders(em, artifact.id);
    const locked = new Set(holders.map((h) => h.workloadId));
    await lockWorkloadRows(em, [...locked]);
    for (let attempt = 1; ; attempt += 1) {
      await this.deps.quotas.serialize(em, ...holders);
      for (const h of holders) await this.deps.quotas.admitSpecChange(em, h, h.runtimes, before, spec);
      const now = { spec: await artifactSpec(em, artifact.id, { lock: true }), holders: await specHolders(em, artifact.id) };
      if (isDeepStrictEqual(now.spec, before) && isDeepStrictEqual(now.holders, holders)) return holders;
      const conflict = new ConflictError(`artifact "${artifact.name}" changed while this edit was checked against its workload's quotas; try again`, [{ type: 'Artifact', id: artifact.id }], 'Conflict');
      if (now.holders.some((h) => !locked.has(h.workloadId))) throw new SpecHoldersChanged(conflict);
      if (attempt === 3) throw conflict;
      ({ spec: before, holders } = now);
    }
  }

  /** Locks a live artifact's row for the rest of the transaction (it may have gone since it was authorized). */
  private async lockRow(em: EntityManager, id: string): Promise<Artifact> {
    const artifact = await em.findOne(ArtifactEntity, { id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!artifact) throw new NotFoundError('Artifact', id);
    return artifact;
  }

  /** A Conflict (ArtifactInUse) naming the workloads that keep an artifact, those the caller may see. */
  private inUse(em: EntityManager, viewer: Viewer, references: readonly ArtifactReference[], message: (names: string) => string): Promise<ConflictError> {
    const workloads = [...new Map(references.map((r) => [r.workloadId, { id: r.workloadId, name: r.workloadName }])).values()];
    return conflictNaming(em, viewer, workloads, message, 'ArtifactInUse');
  }

  /** Runs `write`; an in-use rule the database kept (a concurrent request won) becomes a Conflict. */
  private async refusingInUse<T>(viewer: Viewer, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      const violation = inUseViolation(err);
      if (!violation) throw err;
      const em = this.deps.orm.em.fork();
      const holders = violation.workloadId ? await em.find(WorkloadEntity, { id: violation.workloadId }, { fields: ['id', 'name'] }) : [];
      throw await conflictNaming(em, viewer, holders, (names) => `the artifact is in use by workload ${names || 'that was just created'}`, 'ArtifactInUse');
    }
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

  /**
   * Loads artifacts by id, in storage order (callers sort): deleted ones too, for the history
   * that refers to them; only those the caller holds a role on (own grants or a workload's).
   */
  async loadMany(em: EntityManager, viewer: Viewer, ids: readonly string[]): Promise<Artifact[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    const roles = await artifactRoles(em, viewer, valid);
    const readable = valid.filter((_, i) => roles[i] != null);
    return readable.length === 0 ? [] : em.find(ArtifactEntity, { id: { $in: readable } });
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
      const { artifact } = await this.authorize(em, viewer, id, 'updateArtifactSharedRoles');
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

  /** A new draft in `repository` and the caller's OWNER grant on it: built, not persisted. */
  private draftRows(
    em: EntityManager,
    viewer: Viewer,
    repository: Artifact['repository'],
    fields: Pick<Artifact, 'name' | 'description' | 'spec'>,
    now: Date,
  ): { artifact: Artifact; grant: ArtifactSharedRole } {
    const artifact = em.create(ArtifactEntity, { ...draftColumns(viewer, fields, now), repository }, { persist: false });
    const grant = em.create(ArtifactSharedRoleEntity, { ...ownerGrantColumns(viewer, now), artifact }, { persist: false });
    return { artifact, grant };
  }
}

type DraftFields = Pick<Artifact, 'name' | 'description' | 'spec'>;

function draftFields(input: NewArtifact): DraftFields {
  return { name: input.name, description: input.description ?? '', spec: input.spec };
}

/** A new repository's columns, owned by the caller. */
function newRepositoryColumns(viewer: Viewer, name: string, now: Date) {
  return { id: randomUUID(), name, ownerId: viewer.userId, lastVersion: 0, createdAt: now };
}

/** A new draft's columns but its repository. */
function draftColumns(viewer: Viewer, fields: DraftFields, now: Date) {
  return { id: randomUUID(), ...fields, status: 'draft' as const, version: null, ownerId: viewer.userId, createdAt: now, updatedAt: now, lockedAt: null, deletedAt: null };
}

/** The caller's OWNER grant's columns but what it grants on. */
function ownerGrantColumns(viewer: Viewer, now: Date) {
  return { id: randomUUID(), subjectType: 'user' as const, subjectId: viewer.userId, role: 'OWNER' as const, grantedBy: viewer.userId, grantedAt: now };
}

/** A workload began running the draft while its edit was checked, before the edit could lock its row: the edit starts over. */
class SpecHoldersChanged extends Error {
  constructor(readonly conflict: ConflictError) {
    super(conflict.message);
  }
}
