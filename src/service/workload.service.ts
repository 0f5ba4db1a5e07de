import { randomUUID } from 'node:crypto';
import type { FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Viewer } from '../auth/viewer.js';
import {
  DEFAULT_RUNTIME,
  newWorkloadSchema,
  replaceOptionsSchema,
  runtimeIssuesAgainstSpec,
  workloadPatchSchema,
  workloadRuntimeSchema,
} from '../domain/artifact-spec.js';
import { isUuid } from '../domain/ids.js';
import { parseOrThrow, throwIfIssues } from '../domain/validate.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { LifecyclePolicy } from '../domain/policy.js';
import { draftExpiresAt } from '../domain/ttl.js';
import {
  ArtifactEntity,
  ProtonEntity,
  WorkloadEntity,
  WorkloadSharedRoleEntity,
  type Proton,
  type Replacement,
  type Workload,
  type WorkloadEvent,
  type WorkloadSharedRole,
} from '../store/entities/index.js';
import { violatedUniqueConstraint } from '../store/errors.js';
import { appendWorkloadEvent, readWorkloadEvents } from '../store/events.js';
import { CreateBatches, createStatementOf, insertNewWorkload } from '../store/workload-create.js';
import { createdRoundRows } from '../store/workload-rounds.js';
import { newRow } from '../store/read-model.js';
import { sameSpec } from '../store/usage.js';
import type { PageWindow } from '../store/pagination.js';
import type { Orm } from '../store/orm.js';
import type { WorkloadPubSub } from '../pubsub/topics.js';
import type { ArtifactService, NewArtifact } from './artifact.service.js';
import { visibleWorkloads, workloadRoles } from '../store/access.js';
import {
  countWorkloads, readReplacements, readWorkloadGrants, readWorkloadPage, readWorkloadView, type PageOptions, type WorkloadFilter, type WorkloadOrder, type WorkloadPage,
} from '../store/workload-page.js';

export type { WorkloadFilter, WorkloadOrder, WorkloadOrderField, WorkloadPage } from '../store/workload-page.js';
import { sharedRolesSchema } from '../domain/sharing.js';
import { RULEBOOK, type MutationName } from '../domain/rulebook.js';
import { draftHolder } from '../store/artifact-use.js';
import { requireRole } from './authorize.js';
import { draftTakenConflict, explainCreateConflict, explainInUse, nameConflict } from './conflicts.js';
import { describeGrantChanges, replaceGrants } from './sharing.js';
import type { Clock } from './clock.js';
import type { OperationOutcome, WorkloadController, WorkloadOperation } from '../controller/controller.js';
import { initialLifecycle } from '../controller/record.js';

export type { OperationOutcome, WorkloadOperation };
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import type { QuotaService } from './quota.js';
import { replicasOf, type ReplicaView } from './replicas.js';

export interface WorkloadServiceDeps {
  orm: Orm;
  clock: Clock;
  pubsub: WorkloadPubSub;
  artifacts: ArtifactService;
  /** The draft lifetime (and deadlines), from configuration. */
  policy: LifecyclePolicy;
  maxReplicas: number;
  controller: WorkloadController;
  runtime: ProtonRuntime;
  quotas: QuotaService;
}

/**
 * A place the caller holds while it runs (a mutation's admission, ADR 0060 decision 12), given
 * back while a create waits for the statement that writes it and others, which holds no
 * connection of the create's own.
 */
export interface HeldPlace {
  outside<T>(work: () => Promise<T>): Promise<T>;
}

/** Creating, changing and reading workloads. Lifecycle operations drive the controller. */
export class WorkloadService {
  /** The input schemas, built once for this service's limits (building one costs more than a parse). */
  private readonly schemas: {
    readonly newWorkload: ReturnType<typeof newWorkloadSchema>;
    readonly runtime: ReturnType<typeof workloadRuntimeSchema>;
    readonly replaceOptions: ReturnType<typeof replaceOptionsSchema>;
  };

  /** Creates on their own spec, written several to a statement under a burst (readable for tests and metrics). */
  readonly creates: CreateBatches;

  constructor(private readonly deps: WorkloadServiceDeps) {
    this.creates = new CreateBatches(createStatementOf(deps.orm));
    const limits = { maxReplicas: deps.maxReplicas };
    this.schemas = { newWorkload: newWorkloadSchema(limits), runtime: workloadRuntimeSchema(limits), replaceOptions: replaceOptionsSchema(limits) };
  }

  /** Loads a live workload or throws NotFound. */
  async get(em: EntityManager, viewer: Viewer, id: string): Promise<Workload> {
    const workload = isUuid(id)
      ? await em.findOne(WorkloadEntity, { $and: [{ id, deletedAt: null }, visibleWorkloads(viewer)] } as FilterQuery<Workload>)
      : null;
    if (!workload) throw new NotFoundError('Workload', id);
    return workload;
  }

  /**
   * Creates a workload on an existing artifact or on an inline spec (which becomes a draft).
   * It starts `submitted`, with its first lifecycle and its active proton (`submitted`, not yet on
   * the cluster; ADR 0005, decision 23); a draft workload expires after the draft TTL. Its rows
   * are written in one statement (ADR 0005, decision 22), which also checks the quotas on an
   * inline spec (ADR 0013, decision 11) and may write other creates on their own specs with it
   * (decision 27); a transaction wraps it only on an existing artifact, whose checks must hold
   * until the write.
   */
  async create(viewer: Viewer, raw: unknown, admission?: HeldPlace): Promise<{ workload: Workload; protons: Proton[] }> {
    const input = parseOrThrow(this.schemas.newWorkload, raw);
    if (input.importance) this.deps.quotas.requireImportance(viewer, input.importance, 'OWNER');
    const runtime = input.runtime ?? DEFAULT_RUNTIME;
    const holder = { ownerId: viewer.userId, organization: viewer.organization };
    const inline = input.artifactId ? undefined : (input.artifact as NewArtifact);
    const workloadId = randomUUID();
    // `em` forks only when asked: a create on its own spec reads and writes nothing through one.
    const write = async (em: () => EntityManager) => {
      const rows = inline ? this.deps.artifacts.newInline(viewer, inline) : undefined;
      const artifact = rows?.artifact ?? (await this.deps.artifacts.authorize(em(), viewer, input.artifactId!, 'createWorkload')).artifact;
      if (artifact.status === 'draft' && !rows) {
        const taken = await draftHolder(em(), artifact.id);
        if (taken) throw await draftTakenConflict(em(), viewer, taken);
      }
      const issues = runtimeIssuesAgainstSpec(runtime, artifact.spec);
      if (issues.length > 0) throw new ValidationError(issues.map((i) => ({ ...i, path: ['runtime', ...i.path] })));
      // An inline artifact is the create's own: nothing else is read, so the quota is checked by
      // the statement that writes (its locks held for that statement only); an existing artifact's
      // checks hold in the transaction until the write.
      const demand = this.deps.quotas.newWorkloadDemand(artifact.spec, runtime);
      const bounded = rows ? false : await this.deps.quotas.admit(em(), holder, demand);
      const now = this.deps.clock();
      const expiresAt = draftExpiresAt(artifact.status, now, this.deps.policy.draftTtlMs) ?? null;
      // The create rule's first state and its active proton are written with the workload, so the
      // controller's first pass goes straight to the runtime (ADR 0005, decision 23).
      const protonId = randomUUID();
      const first = initialLifecycle({ artifactId: artifact.id, artifactStatus: artifact.status, createdAt: now, expiresAt }, (at) => ({ ...this.deps.policy, now: at }), protonId);
      // Plain views, not managed entities (ADR 0005, decision 28): the statement writes them and
      // the answer is made from them.
      const workload = newRow<Workload>({
        id: workloadId,
        name: input.name,
        description: input.description ?? '',
        ownerId: viewer.userId,
        organization: viewer.organization,
        artifact,
        artifactStatus: artifact.status,
        importance: input.importance ?? 'low',
        ...first.columns,
        runtime,
        lifecycle: first.lifecycle,
        promotedAt: null,
        lastEventSequence: 0,
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
      });
      const grant = newRow<WorkloadSharedRole>({ id: randomUUID(), workload, subjectType: 'user', subjectId: viewer.userId, role: 'OWNER', grantedBy: viewer.userId, grantedAt: now });
      const proton = newRow<Proton>({
        id: protonId, workload, artifact, role: 'active', status: 'submitted', statusReason: null, statusMessage: null,
        runtime, restartedAt: null, createdAt: now, updatedAt: now, removedAt: null,
      });
      const newRows = {
        ...(rows && { inline: rows }),
        workload,
        grants: [grant],
        protons: [proton],
        event: {
          workloadId: workload.id,
          type: 'created',
          message: `workload created on ${artifact.status} artifact "${artifact.name}"${artifact.version ? ` version ${artifact.version}` : ''}`,
          actor: viewer.userId,
          data: { artifactId: artifact.id, importance: workload.importance, runtime },
          occurredAt: now,
        },
      };
      // Waiting for its statement holds no connection: the admitted place is given back meanwhile,
      // while the next two statements have room; past that the create keeps its place, so the
      // creates admitted (their CPU) run no further ahead of the database than that.
      const batched = () => this.creates.write(newRows, this.deps.quotas.admission(holder, demand));
      const giveBack = admission !== undefined && this.creates.pending < 2 * this.creates.maxPerStatement;
      const written = rows ? await (giveBack ? admission.outside(batched) : batched()) : { sequence: await insertNewWorkload(em(), newRows) };
      if ('breach' in written) throw this.deps.quotas.refusal(written.breach);
      // An existing draft's spec may have been edited since it was read and checked against the
      // quota: the insert holds the draft's row now (the in-use trigger), so a spec still the same
      // is the one counted.
      if (bounded && artifact.status === 'draft' && !(await sameSpec(em(), artifact.id, artifact.spec))) {
        throw new ConflictError(`artifact "${artifact.name}" was edited while this workload was created on it; try again`, [{ type: 'Artifact', id: artifact.id }]);
      }
      return { workload, proton, sequence: written.sequence };
    };
    let created: { workload: Workload; proton: Proton; sequence: number };
    // An inline draft is the create's own: no other operation can change what it runs before the
    // create answers, so the rows it writes are what the first pass would read (ADR 0005, decision 25).
    const expected = inline ? this.deps.controller.expectCreated(workloadId) : undefined;
    try {
      // A create on its own spec waits for its statement, not for a turn (CreateBatches keeps them off the pool).
      let forked: EntityManager | undefined;
      created = inline
        ? await write(() => (forked ??= this.deps.orm.em.fork()))
        : await this.deps.quotas.inTurn(holder, () => this.deps.orm.em.fork().transactional((tx) => write(() => tx)));
    } catch (err) {
      this.deps.controller.abandonCreated(workloadId, expected);
      throw await explainCreateConflict(this.deps.orm.em.fork(), err, viewer, input);
    }
    // The rows are made only when a controller here expects them (an inline draft, on the leader).
    if (expected) this.deps.controller.created(expected, createdRoundRows(created.workload, [created.proton], created.sequence));
    this.publishChanged(created.workload.id, created.sequence);
    return { workload: created.workload, protons: [created.proton] };
  }

  /** Changes name, description or importance; never restarts anything. */
  async update(viewer: Viewer, id: string, raw: unknown): Promise<Workload> {
    const patch = parseOrThrow(workloadPatchSchema, raw);
    let result: { workload: Workload; sequence: number | null; importanceChanged?: boolean };
    let ownerId = viewer.userId;
    try {
      result = await this.deps.orm.em.fork().transactional(async (em) => {
        const role = await this.authorize(em, viewer, id, 'updateWorkload');
        const workload = await this.get(em, viewer, id);
        ownerId = workload.ownerId;
        if (patch.importance != null && patch.importance !== workload.importance) this.deps.quotas.requireImportance(viewer, patch.importance, role);
        const changes: Record<string, { from: string; to: string }> = {};
        for (const key of ['name', 'description', 'importance'] as const) {
          const value = patch[key];
          if (value != null && value !== workload[key]) {
            changes[key] = { from: workload[key], to: value };
          }
        }
        if (Object.keys(changes).length === 0) return { workload, sequence: null };
        if (patch.name != null) workload.name = patch.name;
        if (patch.description != null) workload.description = patch.description;
        if (patch.importance != null) workload.importance = patch.importance;
        const now = this.deps.clock();
        workload.updatedAt = now;
        const sequence = await appendWorkloadEvent(em, {
          workloadId: workload.id,
          type: changes.importance ? 'importanceChanged' : 'updated',
          message: `workload ${Object.entries(changes).map(([k, c]) => (k === 'description' ? 'description changed' : `${k} changed from "${c.from}" to "${c.to}"`)).join(', ')}`,
          actor: viewer.userId,
          data: { changes },
          occurredAt: now,
        });
        return { workload, sequence, importanceChanged: changes.importance !== undefined };
      });
    } catch (err) {
      if (violatedUniqueConstraint(err) === 'workload_name_unique_per_owner' && patch.name) {
        throw await nameConflict(this.deps.orm.em.fork(), viewer, ownerId, patch.name);
      }
      throw err;
    }
    // Only a new importance changes what the cluster runs (its pods' labels); a name or description does not.
    if (result.sequence !== null) this.publishChanged(result.workload.id, result.sequence, result.importanceChanged);
    return result.workload;
  }

  /**
   * One page of live workloads matching `filter`, in `order`, with their artifacts, current protons
   * (unless `withRelations` is false) and the caller's roles on them, in one statement (callers
   * prime their loaders with it). Read on the ORM's root EntityManager: a page is plain views and
   * touches no identity map, so a request that only lists forks none (a fork, its unit of work and
   * loaders, was about 1.5% of a list's CPU).
   */
  async list(
    viewer: Viewer,
    filter: WorkloadFilter,
    order: WorkloadOrder,
    page: PageWindow,
    options: PageOptions = {},
  ): Promise<WorkloadPage> {
    return readWorkloadPage(this.reader, viewer, filter, order, page, options);
  }

  /** The EntityManager of reads that make plain views (no identity map): the ORM's root one. */
  private get reader(): EntityManager {
    return this.deps.orm.em as EntityManager;
  }

  /**
   * One workload the caller may see, with what `options` asks for beside it, in one statement
   * (a page of one): what a query of one workload answers from. NotFoundError otherwise.
   */
  async view(em: EntityManager, viewer: Viewer, id: string, options: Omit<PageOptions, 'withCount'> = {}): Promise<WorkloadPage> {
    const page = await readWorkloadView(em, viewer, id, options);
    if (!page) throw new NotFoundError('Workload', id);
    return page;
  }

  /** How many live workloads match `filter` (read as `list` reads). */
  async count(viewer: Viewer, filter: WorkloadFilter): Promise<number> {
    return countWorkloads(this.reader, viewer, filter);
  }

  /** Loads live workloads by id, in storage order (callers sort). */
  async loadMany(em: EntityManager, viewer: Viewer, ids: readonly string[]): Promise<Workload[]> {
    return em.find(WorkloadEntity, { $and: [{ id: { $in: ids.filter(isUuid) }, deletedAt: null }, visibleWorkloads(viewer)] } as FilterQuery<Workload>);
  }

  /** Loads protons by id, in storage order (callers sort). */
  async loadProtons(em: EntityManager, viewer: Viewer, ids: readonly string[]): Promise<Proton[]> {
    const protons = await em.find(ProtonEntity, { id: { $in: ids.filter(isUuid) }, workload: { deletedAt: null } });
    const roles = await workloadRoles(em, viewer, protons.map((p) => p.workload.id));
    return protons.filter((_, i) => roles[i] != null);
  }

  /** The current (not removed) protons of each workload, active first, in one query. */
  async protonsOf(em: EntityManager, workloadIds: readonly string[]): Promise<Proton[][]> {
    const protons = await em.find(
      ProtonEntity,
      { workload: { $in: [...workloadIds] }, removedAt: null },
      { orderBy: { role: 'asc', createdAt: 'asc' } },
    );
    return workloadIds.map((id) => protons.filter((p) => p.workload.id === id));
  }

  /** A page of a workload's events in sequence order, after sequence `after`. */
  async events(em: EntityManager, workloadId: string, window: { after: number; limit: number; inverted: boolean; before?: number }): Promise<WorkloadEvent[]> {
    return readWorkloadEvents(em, workloadId, window);
  }

  /**
   * Runs a lifecycle operation: checks the caller's role and the input, then hands it to the
   * controller, which checks it against the lifecycle rules in the workload's queue.
   */
  async operate(viewer: Viewer, id: string, op: WorkloadOperation): Promise<OperationOutcome> {
    const em = this.deps.orm.em.fork();
    const mutation = OPERATION_MUTATIONS[op.kind];
    await this.authorize(em, viewer, id, mutation);
    const workload = await this.get(em, viewer, id);
    if (op.kind === 'promote') {
      // Promote locks the artifact: the rulebook asks for a role on it too.
      await this.deps.artifacts.authorize(em, viewer, workload.artifact.id, 'promoteWorkload');
    }
    if (op.kind === 'updateRuntime') {
      const runtime = parseOrThrow(this.schemas.runtime, op.runtime, ['runtime']);
      const artifact = await em.findOneOrFail(ArtifactEntity, { id: workload.artifact.id });
      throwIfIssues(runtimeIssuesAgainstSpec(runtime, artifact.spec).map((i) => ({ ...i, path: ['runtime', ...i.path] })));
      const update = { kind: 'updateRuntime', runtime } as const;
      return this.deps.controller.operate(id, update, viewer.userId, (tx, w) => this.deps.quotas.admitOperation(tx, w, update));
    }
    if (op.kind === 'replace') {
      const input = parseOrThrow(this.schemas.replaceOptions, op);
      const { artifact } = await this.deps.artifacts.authorize(em, viewer, input.artifactId, 'replaceWorkloadArtifact', {
        alreadyRunByThisWorkload: input.artifactId === workload.artifact.id,
      });
      const runtime = input.runtime ?? undefined;
      if (runtime) {
        throwIfIssues(runtimeIssuesAgainstSpec(runtime, artifact.spec).map((i) => ({ ...i, path: ['runtime', ...i.path] })));
      } else {
        throwIfIssues(runtimeIssuesAgainstSpec(workload.runtime, artifact.spec).map((i) => ({ ...i, path: ['runtime', ...i.path] })));
      }
      if (artifact.status === 'draft' && artifact.id !== workload.artifact.id) {
        const holder = await draftHolder(em, artifact.id, id);
        if (holder) throw await draftTakenConflict(em, viewer, holder);
      }
      const replace: WorkloadOperation = {
        kind: 'replace',
        artifactId: artifact.id,
        ...(runtime && { runtime }),
        ...(input.warmupSeconds != null && { warmupSeconds: input.warmupSeconds }),
        ...(input.keepOldVersionSeconds != null && { keepOldVersionSeconds: input.keepOldVersionSeconds }),
      };
      try {
        return await this.deps.controller.operate(id, replace, viewer.userId, (tx, w) => this.deps.quotas.admitOperation(tx, w, replace));
      } catch (err) {
        // A concurrent create or replacement took the draft between our check and the database's.
        throw await explainInUse(this.deps.orm.em.fork(), err, viewer, artifact.id, id);
      }
    }
    return this.deps.controller.operate(id, op, viewer.userId, (tx, w) => this.deps.quotas.admitOperation(tx, w, op));
  }

  /** The caller's role on a workload, if the rulebook's row for `mutation` allows it (NotFound / Forbidden otherwise). */
  private authorize(em: EntityManager, viewer: Viewer, id: string, mutation: MutationName) {
    const rule = RULEBOOK[mutation];
    if (!rule.workloadRole) throw new Error(`${mutation} addresses no workload`);
    return requireRole(em, viewer, 'Workload', id, rule.workloadRole, rule.action);
  }

  /** The replicas of a proton as the runtime sees them right now (see replicas.ts). */
  replicasOf(proton: Proton, lifecycle: Promise<Record<string, unknown> | null>): Promise<readonly ReplicaView[]> {
    return replicasOf(this.deps.runtime, proton, lifecycle);
  }

  /** A workload's stored lifecycle (null for one created before creates wrote it and not yet passed over, or for no such workload). */
  async lifecycleOf(em: EntityManager, workloadId: string): Promise<Record<string, unknown> | null> {
    return (await em.findOne(WorkloadEntity, { id: workloadId }))?.lifecycle ?? null;
  }

  /** Every replacement of each workload, newest first, in one statement. */
  async replacementsOf(em: EntityManager, workloadIds: readonly string[]): Promise<Replacement[][]> {
    return readReplacements(em, workloadIds);
  }

  /** The grants of each workload, oldest first, in one statement (plain views, to read). */
  async grantsOf(em: EntityManager, workloadIds: readonly string[]): Promise<WorkloadSharedRole[][]> {
    return readWorkloadGrants(em, workloadIds);
  }

  /** The workload's grants, for anyone who may read it. */
  async sharedRoles(em: EntityManager, workloadId: string): Promise<WorkloadSharedRole[]> {
    return em.find(WorkloadSharedRoleEntity, { workload: workloadId }, { orderBy: { grantedAt: 'asc', id: 'asc' } });
  }

  /** Replaces the workload's whole grant list (OWNER only), recording what changed. */
  async updateSharedRoles(viewer: Viewer, id: string, input: unknown): Promise<Workload> {
    const roles = parseOrThrow(sharedRolesSchema, input, ['roles']);
    const result = await this.deps.orm.em.fork().transactional(async (em) => {
      await this.authorize(em, viewer, id, 'updateWorkloadSharedRoles');
      const workload = await this.get(em, viewer, id);
      const current = await this.sharedRoles(em, id);
      const now = this.deps.clock();
      const changes = replaceGrants(
        em,
        current,
        roles,
        (g) => em.create(WorkloadSharedRoleEntity, { id: randomUUID(), workload, ...g, grantedBy: viewer.userId, grantedAt: now }),
        now,
        viewer.userId,
      );
      if (changes.added.length + changes.removed.length + changes.changed.length === 0) return { workload, sequence: null };
      workload.updatedAt = now;
      const sequence = await appendWorkloadEvent(em, {
        workloadId: workload.id,
        type: 'sharingChanged',
        message: describeGrantChanges(changes),
        actor: viewer.userId,
        data: { ...changes },
        occurredAt: now,
      });
      return { workload, sequence };
    });
    // Sharing changes who may see the workload, never what it runs.
    if (result.sequence !== null) this.publishChanged(result.workload.id, result.sequence, false);
    return result.workload;
  }

  /** Announces a committed change; `reconcile` false when the controller has nothing to do for it. */
  private publishChanged(workloadId: string, sequence: number, reconcile = true): void {
    this.deps.pubsub.publish('workload:changed', reconcile ? { workloadId, sequence } : { workloadId, sequence, reconcile });
  }
}

const OPERATION_MUTATIONS = {
  start: 'startWorkload',
  stop: 'stopWorkload',
  restart: 'restartWorkload',
  promote: 'promoteWorkload',
  delete: 'deleteWorkload',
  cancelReplacement: 'cancelReplacement',
  updateRuntime: 'updateWorkloadRuntime',
  replace: 'replaceWorkloadArtifact',
} as const satisfies Record<WorkloadOperation['kind'], MutationName>;
