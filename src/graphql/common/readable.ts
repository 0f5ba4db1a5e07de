import { ForbiddenError, AuthScopeFailureType } from '@pothos/plugin-scope-auth';
import { defaultTypeResolver, isAbstractType, type GraphQLIsTypeOfFn, type GraphQLSchema } from 'graphql';
import type { GraphQLContext } from '../context.js';

/** Which of the caller's role loaders says whether it may read an object. */
type Reader = 'workloadReader' | 'artifactReader';

/** How many abstract types are resolving a value's type right now (see `guardAbstractTypes`). */
let resolvingTypes = 0;

/**
 * The check of an object type that only a caller holding a role may read: its `isTypeOf`, run
 * once per object as it completes, as Pothos' type auth scopes ran (`runScopesOnType`), with the
 * same error (`ForbiddenError`, code FORBIDDEN, "Not authorized to read fields for <Type>") and
 * the same role loaders, but without their per-object scope maps and caches: for a page of 50
 * workloads those were about 6% of a list's CPU and a tenth of what it allocated (ADR 0061
 * decision 24). A role the request already knows (a page primes its rows' roles) is answered at
 * once; one it must load is a promise, as before.
 *
 * While an abstract type resolves which type a value is (graphql's default resolver asks each
 * possible type's `isTypeOf`), it answers by `shape` alone (false without one): the check belongs
 * to the object's own completion, which follows.
 */
export function readableBy<T>(
  typeName: string,
  reader: Reader,
  idOf: (value: T) => string,
  shape?: (value: unknown) => boolean,
): GraphQLIsTypeOfFn<unknown, GraphQLContext> {
  const refused = (id: string) =>
    new ForbiddenError(`Not authorized to read fields for ${typeName}`, {
      kind: AuthScopeFailureType.AnyAuthScopes,
      failures: [{ kind: AuthScopeFailureType.AuthScope, scope: reader, parameter: id, error: null }],
    });
  const answer = (value: unknown) => (shape ? shape(value) : true);
  return (value, context) => {
    if (resolvingTypes > 0) return shape ? shape(value) : false;
    const id = idOf(value as T);
    const loader = reader === 'workloadReader' ? context.access.workloadRole : context.access.artifactRole;
    const held = loader.holdsAny(id);
    if (held === true) return answer(value);
    if (held === false) throw refused(id);
    return held.then((yes) => {
      if (!yes) throw refused(id);
      return answer(value);
    });
  };
}

/**
 * Marks every abstract type's `resolveType` of `schema` (its own, or graphql's default) as under
 * way while it runs, so that the `isTypeOf` of a `readableBy` type it consults checks only the
 * value's shape. Called once on the built schema.
 */
export function guardAbstractTypes(schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isAbstractType(type)) continue;
    // Without one of its own, graphql's default (which asks every possible type's `isTypeOf`).
    const resolveType = type.resolveType ?? defaultTypeResolver;
    type.resolveType = (...args) => {
      resolvingTypes += 1;
      try {
        return resolveType(...args);
      } finally {
        resolvingTypes -= 1;
      }
    };
  }
  return schema;
}
