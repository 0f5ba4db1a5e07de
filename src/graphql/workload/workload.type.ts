import { RULEBOOK } from '../../domain/rulebook.js';
import { resolveCursorConnection } from '@pothos/plugin-relay';
import DataLoader from 'dataloader';
import { GraphQLError, type GraphQLResolveInfo } from 'graphql';
import type { Workload, WorkloadEvent } from '../../store/entities/index.js';
import { encodeCursor } from '../../domain/cursor.js';
import type { WorkloadOrderField, WorkloadPage } from '../../service/workload.service.js';
import { ARTIFACT_COMPLEXITY, PROTONS_COMPLEXITY } from '../cost.js';
import { builder } from '../builder.js';
import { operationCache, type GraphQLContext } from '../context.js';
import { WorkloadRuntimeInput, WorkloadRuntimeRef } from '../artifact/artifact-spec.type.js';
import { ArtifactNode, artifactOf, primeArtifact } from '../artifact/artifact.type.js';
import { ArtifactStatusEnum, ImportanceEnum, OrderDirectionEnum, WorkloadStatusEnum } from '../common/enums.type.js';
import { ConflictError, ForbiddenError, NotFoundError, QuotaExceededError, ValidationError } from '../../domain/errors.js';
import { checkPageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, rawId } from '../common/errors.type.js';
import { WorkloadEventRef } from '../event/event.type.js';
import { ProtonRef, workloadLifecycles } from '../proton/proton.type.js';
import { ArtifactSpecInput } from '../artifact/artifact-spec.type.js';
import { checkSearch, SEARCH_DESCRIPTION, TEXT_LIMITS, textDescription } from '../common/text.js';
import { operationSelectsAnywhere, selectsAnyFieldBelow, selectsField } from '../common/selection.js';
import { PrimedLoader } from '../common/primed.js';
import { resolveLazyCursorConnection } from '../common/connection.js';
import { propertiesRead, reads } from '../common/projection.js';
import { readableBy } from '../common/readable.js';

export const WorkloadNode = builder.loadableNode('Workload', {
  description: 'A stable identity and invoke endpoint around the protons that run an artifact.',
  id: { resolve: (w) => w.id },
  load: (ids: string[], ctx: GraphQLContext) => ctx.services.workloads.loadMany(ctx.em, ctx.viewer, ids),
  // Read only by a caller holding a role on it (defense in depth behind the services).
  isTypeOf: readableBy<Workload>('Workload', 'workloadReader', (w) => w.id),
  sort: (w) => w.id,
  fields: (t) => ({
    // Each field says what it reads of the workload (`reads`): a list reads only those columns.
    name: t.exposeString('name', reads('name')),
    description: t.exposeString('description', reads('description')),
    status: t.field({ type: WorkloadStatusEnum, ...reads('status'), resolve: (w) => w.status }),
    statusReason: t.string({ nullable: true, description: 'Why the workload has its status, e.g. CrashLoopBackOff or ProgressDeadlineExceeded.', ...reads('statusReason'), resolve: (w) => w.statusReason ?? null }),
    statusMessage: t.string({ nullable: true, ...reads('statusMessage'), resolve: (w) => w.statusMessage ?? null }),
    importance: t.field({ type: ImportanceEnum, ...reads('importance'), resolve: (w) => w.importance }),
    artifact: t.field({ type: ArtifactNode, description: 'The artifact the workload currently runs.', complexity: ARTIFACT_COMPLEXITY, ...reads('artifact'), resolve: (w, _args, ctx) => artifactOf(ctx, w.artifact.id) }),
    runtime: t.field({ type: WorkloadRuntimeRef, ...reads('runtime'), resolve: (w) => w.runtime }),
    protons: t.field({
      type: [ProtonRef],
      description: 'The current protons: the active one first, then a candidate during a replace.',
      complexity: PROTONS_COMPLEXITY,
      ...reads(),
      resolve: (w, _args, ctx) => protonsOfWorkload(ctx).load(w.id),
    }),
    endpoint: t.string({
      description:
        'The stable invoke URL, the same from creation through stop, start, replace and promote. It names the workload by its UUID (the raw id inside the global `id`); the global `id` in its place (`{base}/endpoints/workloads/{id}/`) reaches the same workload.',
      ...reads(),
      resolve: (w, _args, ctx) => `${ctx.publicBaseUrl}/endpoints/workloads/${w.id}/`,
    }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a draft workload is terminated (its TTL); null for workloads on locked artifacts.',
      ...reads('expiresAt'),
      resolve: (w) => w.expiresAt ?? null,
    }),
    createdAt: t.field({ type: 'DateTime', ...reads('createdAt'), resolve: (w) => w.createdAt }),
    updatedAt: t.field({ type: 'DateTime', ...reads('updatedAt'), resolve: (w) => w.updatedAt }),
    events: t.connection({
      type: WorkloadEventRef,
      description: `The event log in sequence order; pages of 1 to ${MAX_PAGE_SIZE}. Cursors are sequence numbers; anything else is refused with INVALID_CURSOR.`,
      ...reads(),
      resolve: (w, args, ctx) => {
        checkPageSize(args);
        return resolveCursorConnection<Promise<WorkloadEvent[]>>(
          { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE, toCursor: (e) => String(e.sequence) },
          ({ after, before, limit, inverted }) =>
            ctx.services.workloads.events(ctx.em, w.id, {
              after: sequenceCursor(after, 'after') ?? 0,
              before: sequenceCursor(before, 'before'),
              limit,
              inverted,
            }),
        );
      },
    }, { name: 'WorkloadEventConnection' }, { name: 'WorkloadEventEdge' }),
  }),
});

/** The current protons of workloads, batched per request; a list primes it with its page. */
const protonsOfWorkload = operationCache(
  (ctx: GraphQLContext) => new PrimedLoader(new DataLoader((ids: readonly string[]) => ctx.services.workloads.protonsOf(ctx.em, ids))),
);

/** The replacements of workloads (newest first), batched per request; a page that read them primes it. */
export const replacementsOfWorkload = operationCache(
  (ctx: GraphQLContext) => new DataLoader((ids: readonly string[]) => ctx.services.workloads.replacementsOf(ctx.em, ids)),
);

/** The grants on workloads (oldest first), batched per request; a page that read them primes it. */
export const sharedRolesOfWorkload = operationCache(
  (ctx: GraphQLContext) => new DataLoader((ids: readonly string[]) => ctx.services.workloads.grantsOf(ctx.em, ids)),
);

/** The fields of a workload that a page reads beside its rows (`readWorkloadPage`'s relations). */
const PAGE_RELATIONS: ReadonlySet<string> = new Set(['artifact', 'protons']);
/** The fields of a workload that read its replacements (`withReplacements`), and its grants (`withGrants`). */
const REPLACEMENT_FIELDS: ReadonlySet<string> = new Set(['replacement', 'history']);
const GRANT_FIELDS: ReadonlySet<string> = new Set(['sharedRoles']);

/** What a page should read beside its workloads' rows, from what the query selects below `info`'s field. */
export function pageOptions(info: GraphQLResolveInfo): { withRelations: boolean; withReplacements: boolean; withGrants: boolean } {
  return {
    withRelations: selectsAnyFieldBelow(info, PAGE_RELATIONS),
    withReplacements: selectsAnyFieldBelow(info, REPLACEMENT_FIELDS),
    withGrants: selectsAnyFieldBelow(info, GRANT_FIELDS),
  };
}

/**
 * Hands what the page statement read to the loaders the page's fields resolve through (the
 * artifact nodes, the protons, the caller's roles that the auth scopes check), so that resolving
 * the page reads nothing more (ADR 0061).
 */
function primeWorkloadPage(ctx: GraphQLContext, page: WorkloadPage): Workload[] {
  for (const [id, role] of page.artifactRoles) ctx.access.artifactRole.prime(id, role);
  for (const [id, role] of page.workloadRoles) ctx.access.workloadRole.prime(id, role);
  return primeWorkloadRows(ctx, page);
}

/**
 * Hands the rows of a page to the loaders its fields resolve through, but not the roles it read:
 * for a page read on behalf of others (a subscription's payload, shared by its streams), whose
 * roles are not the caller's. The auth scopes then check the caller's own roles.
 */
export function primeWorkloadRows(ctx: GraphQLContext, page: WorkloadPage): Workload[] {
  for (const a of page.artifacts) primeArtifact(ctx, a);
  const protons = protonsOfWorkload(ctx);
  for (const [id, list] of page.protons) protons.prime(id, list);
  if (page.replacements) {
    const replacements = replacementsOfWorkload(ctx);
    for (const [id, list] of page.replacements) replacements.prime(id, list);
  }
  if (page.grants) {
    const grants = sharedRolesOfWorkload(ctx);
    for (const [id, list] of page.grants) grants.prime(id, list);
  }
  const lifecycles = workloadLifecycles(ctx);
  // A page that left the lifecycle out (nothing of the operation reads it) primes none.
  for (const w of page.workloads) if (w.lifecycle !== undefined) lifecycles.prime(w.id, w.lifecycle);
  return page.workloads;
}

function sequenceCursor(cursor: string | undefined, argument: string): number | undefined {
  if (cursor === undefined) return undefined;
  if (!/^\d{1,9}$/.test(cursor)) {
    throw new GraphQLError(`"${argument}" is not a valid cursor: it must be an event sequence number`, { extensions: { code: 'INVALID_CURSOR', argument } });
  }
  return Number(cursor);
}

const WorkloadOrderFieldEnum = builder.enumType('WorkloadOrderField', {
  values: { CREATED_AT: { value: 'createdAt' }, UPDATED_AT: { value: 'updatedAt' }, NAME: { value: 'name' } } as const,
});

const WorkloadOrder = builder.inputType('WorkloadOrder', {
  fields: (t) => ({
    field: t.field({ type: WorkloadOrderFieldEnum, required: true }),
    direction: t.field({ type: OrderDirectionEnum, required: true }),
  }),
});

export const WorkloadFilter = builder.inputType('WorkloadFilter', {
  fields: (t) => ({
    status: t.field({ type: [WorkloadStatusEnum], description: 'Any of these statuses.' }),
    importance: t.field({ type: [ImportanceEnum], description: 'Any of these importances.' }),
    artifactStatus: t.field({ type: ArtifactStatusEnum, description: 'Draft (TTL-bound) or locked (persistent) workloads.' }),
    artifactId: t.id(),
    search: t.string({ description: SEARCH_DESCRIPTION }),
  }),
});

/**
 * What a list reads of every row whatever its fields: the id (the role checks', the page's keys),
 * the order's column (the cursors), a proton's workload and role (its role check and its shape in
 * `isTypeOf`).
 */
const WORKLOAD_ALWAYS: Record<WorkloadOrderField, readonly string[]> = { createdAt: ['id', 'createdAt'], updatedAt: ['id', 'updatedAt'], name: ['id', 'name'] };
const ARTIFACT_ALWAYS = ['id'] as const;
const PROTON_ALWAYS = ['id', 'workload', 'role'] as const;

function cursorOf(w: Workload, field: WorkloadOrderField): string {
  return encodeCursor(w[field], w.id);
}

builder.queryFields((t) => ({
  workload: t.field({
    type: WorkloadNode,
    errors: { types: [NotFoundError], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    // A page of one: the workload and what is selected of it in one statement, so that its
    // status, protons and replacement answer one moment (ADR 0061 decision 14).
    resolve: async (_root, args, ctx, info) => primeWorkloadPage(ctx, await ctx.services.workloads.view(ctx.em, ctx.viewer, rawId(args.id, 'Workload'), pageOptions(info)))[0]!,
  }),
  workloads: t.connection(
    {
      type: WorkloadNode,
      description: `Live workloads, newest first unless ordered otherwise; pages of 1 to ${MAX_PAGE_SIZE}. A cursor (\`after\`, \`before\`) that this connection did not hand out, or handed out for another \`orderBy\`, is refused with INVALID_CURSOR.`,
      args: {
        filter: t.arg({ type: WorkloadFilter }),
        orderBy: t.arg({ type: WorkloadOrder }),
      },
      resolve: async (_root, args, ctx, info) => {
        checkPageSize(args);
        checkSearch(args.filter);
        const f = args.filter;
        const filter = {
          status: f?.status ?? null,
          importance: f?.importance ?? null,
          artifactStatus: f?.artifactStatus ?? null,
          artifactId: f?.artifactId ? rawId(f.artifactId, 'Artifact') : null,
          search: f?.search ?? null,
        };
        const order = { field: args.orderBy?.field ?? 'createdAt', direction: args.orderBy?.direction ?? 'DESC' } as const;
        // The total is read with the page when the query asks for it: one statement for both. The
        // artifacts and protons too, unless nothing below asks for them (a status list): the
        // statement then costs about 40% less (ADR 0061 decision 13).
        const withCount = selectsField(info, 'totalCount');
        const { withRelations, withReplacements, withGrants } = pageOptions(info);
        // Specs only when the operation names one anywhere: the page's artifacts prime the
        // request's artifact loader, which any other field may read (ADR 0061 decision 19).
        const withSpecs = operationSelectsAnywhere(info, 'spec');
        // Of each row, only the columns the operation's fields read (ADR 0061 decision 23).
        const columns = {
          workload: propertiesRead(info, 'Workload', WORKLOAD_ALWAYS[order.field]),
          artifact: propertiesRead(info, 'Artifact', ARTIFACT_ALWAYS),
          proton: propertiesRead(info, 'Proton', PROTON_ALWAYS),
        };
        let totalCount: number | undefined;
        const connection = await resolveLazyCursorConnection<Workload>(
          { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE, toCursor: (w) => cursorOf(w, order.field) },
          async (window) => {
            const page = await ctx.services.workloads.list(ctx.viewer, filter, order, window, { withCount, withRelations, withReplacements, withGrants, withSpecs, columns });
            totalCount = page.totalCount;
            return primeWorkloadPage(ctx, page);
          },
        );
        return { ...connection, totalCount: async () => totalCount ?? ctx.services.workloads.count(ctx.viewer, filter) };
      },
    },
    {
      name: 'WorkloadConnection',
      fields: (c) => ({
        totalCount: c.int({ description: 'How many workloads match, across all pages.', resolve: (conn) => conn.totalCount() }),
      }),
    },
    { name: 'WorkloadEdge' },
  ),
}));

const InlineArtifactInput = builder.inputType('InlineArtifactInput', {
  description: 'An artifact created with the workload, as a draft.',
  fields: (t) => ({
    name: t.string({ required: true, description: textDescription('Not blank.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
    spec: t.field({ type: ArtifactSpecInput, required: true }),
  }),
});

const CreateWorkloadInput = builder.inputType('CreateWorkloadInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: textDescription('Not blank, unique among the owner\'s workloads.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
    importance: t.field({ type: ImportanceEnum, description: 'Defaults to LOW. HIGH and CRITICAL may need a platform role (see `viewer.allowedImportances`); ForbiddenError otherwise.' }),
    artifactId: t.id({ description: 'Run this existing artifact. Give exactly one of artifactId or artifact.' }),
    artifact: t.field({ type: InlineArtifactInput, description: 'Run a new draft artifact made from this spec.' }),
    runtime: t.field({ type: WorkloadRuntimeInput, description: 'Defaults to one replica and the artifact\'s resources.' }),
  }),
});

const UpdateWorkloadInput = builder.inputType('UpdateWorkloadInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ description: textDescription('Not blank, unique among the owner\'s workloads.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
    importance: t.field({ type: ImportanceEnum, description: 'Takes effect at once, without a restart. HIGH and CRITICAL may need a platform role (see `viewer.allowedImportances`); ForbiddenError otherwise.' }),
  }),
});

const dataField = { name: 'workload' };

builder.mutationFields((t) => ({
  createWorkload: t.field({
    type: WorkloadNode,
    description: RULEBOOK.createWorkload.description,
    errors: { types: [ValidationError, NotFoundError, ForbiddenError, ConflictError, QuotaExceededError], dataField },
    args: { input: t.arg({ type: CreateWorkloadInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { workload, protons } = await ctx.services.workloads.create(
        ctx.viewer,
        { ...input, artifactId: input.artifactId == null ? input.artifactId : rawId(input.artifactId, 'Artifact') },
        ctx.admission,
      );
      // The creator holds the OWNER grant written with the workload, and with an inline spec the
      // one on its new draft as well; its protons are the one written with it: answering needs no
      // role, artifact or proton read.
      ctx.access.workloadRole.prime(workload.id, 'OWNER');
      protonsOfWorkload(ctx).prime(workload.id, protons);
      if (input.artifactId == null) {
        primeArtifact(ctx, workload.artifact);
        ctx.access.artifactRole.prime(workload.artifact.id, 'OWNER');
      }
      return workload;
    },
  }),
  updateWorkload: t.field({
    type: WorkloadNode,
    description: RULEBOOK.updateWorkload.description,
    errors: { types: [ValidationError, NotFoundError, ForbiddenError, ConflictError], dataField },
    args: { input: t.arg({ type: UpdateWorkloadInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.workloads.update(ctx.viewer, rawId(input.id, 'Workload'), input),
  }),
}));
