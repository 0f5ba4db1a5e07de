import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { isUuid } from '../domain/ids.js';
import type { GraphQLContext } from './context.js';
import { EDGES_COMPLEXITY, fieldCost } from './cost.js';
import { resolveGlobalIdsSynchronously } from './common/global-id.js';

resolveGlobalIdsSynchronously();

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const NODE_TYPES = new Set(['Workload', 'Artifact', 'Proton']);

/**
 * The schema builder. It holds no types of its own: each feature folder adds its types, queries
 * and mutations. The schema is stateless; everything with state arrives through the context.
 */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  AuthScopes: {
    /** The request carries a verified identity. */
    authenticated: boolean;
  };
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
  };
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin, ComplexityPlugin],
  // Only the cost model lives here: the limit is checked per request by the limits plugin
  // (src/graphql/limits.ts), before execution, for queries, mutations and subscriptions alike.
  complexity: {
    disabled: true,
    fieldComplexity: (args, _ctx, field) => fieldCost(args, field),
  },
  defaultFieldNullability: false,
  // Defense in depth: services already filter and check roles; every Workload, Proton, event and
  // Artifact object is checked again as it completes, by its type's `isTypeOf`
  // (`readableBy`, src/graphql/common/readable.ts), from the same batched role loaders. An object
  // refused so fails where it is returned, with one FORBIDDEN error (test/graphql/type-scopes.test.ts).
  // Pothos' scopes stay for what is not per object (ADR 0061 decisions 16 and 24).
  scopeAuth: {
    runScopesOnType: true,
    authScopes: (ctx) => ({
      authenticated: Boolean(ctx.viewer),
    }),
  },
  errors: {
    defaultTypes: [],
    defaultResultOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Payload` },
    defaultUnionOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Result` },
  },
  relay: {
    edgesFieldOptions: { complexity: EDGES_COMPLEXITY },
    clientMutationId: 'omit',
    cursorType: 'String',
    edgeCursorType: 'String',
    nodesQueryOptions: false,
    nodeQueryOptions: {
      description: 'Any object by its global id; null when it does not exist or is not visible.',
      // An id of a type that is not a node, or with a malformed key, names nothing.
      resolve: (_root, { id }, _ctx, _info, resolveNode) =>
        NODE_TYPES.has(id.typename) && isUuid(id.id) ? resolveNode(id) : null,
    },
  },
});
