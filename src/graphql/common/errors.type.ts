import { CONFLICT_REASONS } from '../../domain/rulebook.js';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { GraphQLError } from 'graphql';
import { ConflictError, ForbiddenError, InvalidTransitionError, NotFoundError, ValidationError, type DomainError } from '../../domain/errors.js';
import { isUuid } from '../../domain/ids.js';
import { builder } from '../builder.js';
import { SharingRoleEnum } from './enums.type.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './page-size.js';

/** Every expected failure implements Error: clients can always select `message` and `code`. */
export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'An expected failure. `code` is stable; `message` is for people.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The object does not exist, or the caller may not know that it exists.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    resourceType: t.exposeString('resourceType'),
    resourceId: t.id({
      description: 'The id that was looked up.',
      resolve: (e) => (isUuid(e.resourceId) ? encodeGlobalID(e.resourceType, e.resourceId) : e.resourceId),
    }),
  }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The request collides with the state of other objects, which `conflictingIds` name.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    conflictingIds: t.idList({
      description: 'The conflicting objects the caller may see; others are counted in the message, never named.',
      resolve: (e) => e.conflicting.map((c) => encodeGlobalID(c.type, c.id)),
    }),
    reason: t.exposeString('reason', {
      description: `The rule that refused the request: ${CONFLICT_REASONS.filter((r) => r !== 'Conflict').join(', ')}, or Conflict.`,
    }),
  }),
});

const ValidationIssueRef = builder
  .objectRef<{ path: (string | number)[]; message: string }>('ValidationIssue')
  .implement({
    description: 'One problem with the input.',
    fields: (t) => ({
      path: t.stringList({
        description: 'The offending field, from the root of the field\'s input argument (list positions as numbers).',
        resolve: (i) => i.path.map(String),
      }),
      message: t.exposeString('message'),
    }),
  });

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is malformed. Nothing was changed.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    issues: t.field({ type: [ValidationIssueRef], resolve: (e) => e.issues }),
  }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: 'The caller may see the object but lacks the role the operation needs.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    requiredRole: t.exposeString('requiredRole'),
    viewerRole: t.field({
      type: SharingRoleEnum,
      description: 'The caller\'s role on the object, typed as the object\'s own `viewerRole`.',
      resolve: (e) => e.viewerRole,
    }),
  }),
});

builder.objectType(InvalidTransitionError, {
  name: 'InvalidTransitionError',
  description: 'The operation is not allowed in the current state; the message says why and what to do.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    currentState: t.exposeString('currentState'),
    reason: t.exposeString('reason', { description: 'The rule that refused the operation, e.g. WorkloadStopping or ReplacementInProgress.' }),
  }),
});


/**
 * The raw id behind a global id of `typename`. A malformed id, or one of another type, is passed
 * on as it is: it names nothing, so the service answers NotFound after validating the rest.
 */
export function rawId(globalId: string, typename: string): string {
  try {
    const decoded = decodeGlobalID(globalId);
    if (decoded.typename === typename && isUuid(decoded.id)) return decoded.id.toLowerCase();
  } catch {
    // not a global id
  }
  return globalId;
}

export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE };

/** Refuses connection arguments outside the allowed page size. */
export function checkPageSize(args: { first?: number | null; last?: number | null }): void {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && (value < 1 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`"${name}" must be between 1 and ${MAX_PAGE_SIZE} (got ${value})`, {
        extensions: { code: 'VALIDATION', argument: name },
      });
    }
  }
  if (args.first != null && args.last != null) {
    throw new GraphQLError('give "first" or "last", not both', { extensions: { code: 'VALIDATION', argument: 'last' } });
  }
}


