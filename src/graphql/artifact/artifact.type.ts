import { RULEBOOK } from '../../domain/rulebook.js';
import DataLoader from 'dataloader';
import type { ArtifactSpec } from '../../domain/artifact-spec.js';
import type { Artifact } from '../../store/entities/index.js';
import { encodeCursor } from '../../domain/cursor.js';
import { builder } from '../builder.js';
import { operationCache, type GraphQLContext } from '../context.js';
import { ArtifactStatusEnum, OrderDirectionEnum } from '../common/enums.type.js';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, QuotaExceededError, ValidationError } from '../../domain/errors.js';
import { checkPageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, rawId } from '../common/errors.type.js';
import { ArtifactSpecInput, ArtifactSpecRef } from './artifact-spec.type.js';
import { PrimedLoader } from '../common/primed.js';
import { resolveLazyCursorConnection } from '../common/connection.js';
import { reads } from '../common/projection.js';
import { readableBy } from '../common/readable.js';
import { checkSearch, SEARCH_DESCRIPTION, TEXT_LIMITS, textDescription } from '../common/text.js';
import type { ArtifactOrderField } from '../../service/artifact.service.js';

/** Artifacts' specs by id, batched per request, for an artifact read without its spec. */
const specOf = operationCache((ctx: GraphQLContext) => new DataLoader<string, ArtifactSpec>(async (ids) => {
  const found = new Map((await ctx.services.artifacts.loadMany(ctx.em, ctx.viewer, ids)).map((a) => [a.id, a.spec]));
  return ids.map((id) => found.get(id) ?? new NotFoundError('Artifact', id));
}));

export const ArtifactNode = builder.loadableNode('Artifact', {
  description: 'What runs: a container spec, draft (mutable) or locked (immutable, versioned).',
  id: { resolve: (a) => a.id },
  load: (ids: string[], ctx: GraphQLContext) => ctx.services.artifacts.loadMany(ctx.em, ctx.viewer, ids),
  // Read only by a caller who may read it (defense in depth behind the services).
  isTypeOf: readableBy<Artifact>('Artifact', 'artifactReader', (a) => a.id),
  sort: (a) => a.id,
  fields: (t) => ({
    // Each field says what it reads of the artifact (`reads`): a list reads only those columns.
    name: t.exposeString('name', reads('name')),
    description: t.exposeString('description', reads('description')),
    status: t.field({ type: ArtifactStatusEnum, ...reads('status'), resolve: (a) => a.status }),
    version: t.int({ nullable: true, description: 'Assigned when the artifact is locked: the next version of its repository.', ...reads('version'), resolve: (a) => a.version ?? null }),
    repositoryId: t.id({ description: 'The lineage this artifact belongs to; clones share it.', ...reads('repository'), resolve: (a) => a.repository.id }),
    spec: t.field({
      type: ArtifactSpecRef,
      ...reads('spec'),
      // A list's page leaves specs out when the operation names none (ADR 0061 decision 19): one
      // read without it is loaded here rather than answered wrong.
      resolve: (a, _args, ctx) => (a.spec as ArtifactSpec | null) ?? specOf(ctx).load(a.id),
    }),
    createdAt: t.field({ type: 'DateTime', ...reads('createdAt'), resolve: (a) => a.createdAt }),
    updatedAt: t.field({ type: 'DateTime', ...reads('updatedAt'), resolve: (a) => a.updatedAt }),
    lockedAt: t.field({ type: 'DateTime', nullable: true, ...reads('lockedAt'), resolve: (a) => a.lockedAt ?? null }),
    deletedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the artifact was deleted. A deleted artifact leaves lists and lookups but stays readable through the history of the workloads that ran it.',
      ...reads('deletedAt'),
      resolve: (a) => a.deletedAt ?? null,
    }),
  }),
});

/**
 * The request's artifact loader, answering at once what a read handed over (a list's page, a
 * create's draft): a field that refers to one returns it instead of a promise (`PrimedLoader`).
 */
const artifacts = operationCache((ctx: GraphQLContext) => new PrimedLoader(ArtifactNode.getDataloader(ctx)));

export function primeArtifact(ctx: GraphQLContext, artifact: Artifact): void {
  artifacts(ctx).prime(artifact.id, artifact);
}

/** The artifact `id` names: the one a read of this request handed over, at once, else loaded. */
export function artifactOf(ctx: GraphQLContext, id: string): Artifact | Promise<Artifact> {
  return artifacts(ctx).load(id);
}

const ArtifactOrderFieldEnum = builder.enumType('ArtifactOrderField', {
  values: { CREATED_AT: { value: 'createdAt' }, UPDATED_AT: { value: 'updatedAt' }, NAME: { value: 'name' } } as const,
});

const ArtifactOrder = builder.inputType('ArtifactOrder', {
  fields: (t) => ({
    field: t.field({ type: ArtifactOrderFieldEnum, required: true }),
    direction: t.field({ type: OrderDirectionEnum, required: true }),
  }),
});

const ArtifactFilter = builder.inputType('ArtifactFilter', {
  fields: (t) => ({
    status: t.field({ type: ArtifactStatusEnum }),
    repositoryId: t.id(),
    search: t.string({ description: SEARCH_DESCRIPTION }),
  }),
});

function cursorOf(a: Artifact, field: ArtifactOrderField): string {
  return encodeCursor(a[field], a.id);
}

builder.queryFields((t) => ({
  artifact: t.field({
    type: ArtifactNode,
    errors: { types: [NotFoundError], directResult: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.artifacts.get(ctx.em, ctx.viewer, rawId(args.id, 'Artifact')),
  }),
  artifacts: t.connection(
    {
      type: ArtifactNode,
      description: `Live artifacts, newest first unless ordered otherwise; pages of 1 to ${MAX_PAGE_SIZE}. A cursor (\`after\`, \`before\`) that this connection did not hand out, or handed out for another \`orderBy\`, is refused with INVALID_CURSOR.`,
      args: {
        filter: t.arg({ type: ArtifactFilter }),
        orderBy: t.arg({ type: ArtifactOrder }),
      },
      resolve: async (_root, args, ctx) => {
        checkPageSize(args);
        checkSearch(args.filter);
        const filter = { ...args.filter, repositoryId: args.filter?.repositoryId ?? null };
        const order = { field: args.orderBy?.field ?? 'createdAt', direction: args.orderBy?.direction ?? 'DESC' } as const;
        const connection = await resolveLazyCursorConnection<Artifact>(
          { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE, toCursor: (a: Artifact) => cursorOf(a, order.field) },
          (page) => ctx.services.artifacts.list(ctx.em, ctx.viewer, filter, order, page),
        );
        return { ...connection, totalCount: () => ctx.services.artifacts.count(ctx.em, ctx.viewer, filter) };
      },
    },
    {
      name: 'ArtifactConnection',
      fields: (c) => ({
        totalCount: c.int({ description: 'How many artifacts match, across all pages.', resolve: (conn) => conn.totalCount() }),
      }),
    },
    { name: 'ArtifactEdge' },
  ),
}));

const CreateArtifactInput = builder.inputType('CreateArtifactInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: textDescription('Not blank.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
    spec: t.field({ type: ArtifactSpecInput, required: true }),
  }),
});

const UpdateArtifactInput = builder.inputType('UpdateArtifactInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ description: textDescription('Not blank.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
    spec: t.field({ type: ArtifactSpecInput }),
  }),
});

const CloneArtifactInput = builder.inputType('CloneArtifactInput', {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string({ description: textDescription('Defaults to the source artifact\'s name.', 'line', TEXT_LIMITS.name) }),
    description: t.string({ description: textDescription(undefined, 'multiline', TEXT_LIMITS.description) }),
  }),
});

const dataField = { name: 'artifact' };

builder.mutationFields((t) => ({
  createArtifact: t.field({
    type: ArtifactNode,
    description: RULEBOOK.createArtifact.description,
    errors: { types: [ValidationError], dataField },
    args: { input: t.arg({ type: CreateArtifactInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.artifacts.create(ctx.viewer, input),
  }),
  updateArtifact: t.field({
    type: ArtifactNode,
    description: RULEBOOK.updateArtifact.description,
    // QuotaExceededError: a draft's bigger spec is what the workload running it requests from then on.
    errors: { types: [NotFoundError, ForbiddenError, ValidationError, InvalidTransitionError, QuotaExceededError, ConflictError], dataField },
    args: { input: t.arg({ type: UpdateArtifactInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.services.artifacts.update(ctx.viewer, rawId(input.id, 'Artifact'), input),
  }),
  lockArtifact: t.field({
    type: ArtifactNode,
    description: RULEBOOK.lockArtifact.description,
    errors: { types: [NotFoundError, ForbiddenError, ConflictError], dataField },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.artifacts.lock(ctx.viewer, rawId(args.id, 'Artifact')),
  }),
  cloneArtifact: t.field({
    type: ArtifactNode,
    description: RULEBOOK.cloneArtifact.description,
    errors: { types: [NotFoundError, ValidationError], dataField },
    args: { input: t.arg({ type: CloneArtifactInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.artifacts.clone(ctx.viewer, rawId(input.id, 'Artifact'), input),
  }),
  deleteArtifact: t.field({
    type: ArtifactNode,
    description: RULEBOOK.deleteArtifact.description,
    errors: { types: [NotFoundError, ForbiddenError, ConflictError, InvalidTransitionError], dataField },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.services.artifacts.delete(ctx.viewer, rawId(args.id, 'Artifact')),
  }),
}));
