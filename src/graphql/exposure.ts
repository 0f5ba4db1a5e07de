import { getNamedType, GraphQLError, isIntrospectionType, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AuthenticationError, type Authenticator } from '../auth/authenticator.js';

/** `extensions.code` of an introspection query on a server with introspection turned off. */
export const INTROSPECTION_DISABLED = 'INTROSPECTION_DISABLED';

/** The error of a request without valid credentials: 401 with a Bearer challenge. */
export function unauthenticatedError(message: string): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } } },
  });
}

/**
 * Yoga parses and validates a document before it builds the context, where the request is
 * authenticated. Unchecked, a caller without credentials would learn which fields exist from
 * validation errors ("Cannot query field …. Did you mean …?") and spend parser and validator time.
 * This hook authenticates HTTP and SSE requests first (graphql-ws connections are authenticated at
 * connection_init, before any operation). The context factory authenticates again, cheaply, and
 * is what resolvers see; this check only decides whether the document is looked at at all.
 */
export function authenticateBeforeParsing(authenticator: Authenticator): Plugin {
  return {
    async onParams({ request, setResult }) {
      try {
        await authenticator.authenticate(request.headers.get('authorization'));
      } catch (err) {
        if (!(err instanceof AuthenticationError)) throw err;
        setResult({ errors: [unauthenticatedError(err.message)] });
      }
    },
  };
}

/** Refuses `__schema` and `__type` (not `__typename`), like graphql-js's NoSchemaIntrospectionCustomRule, with our code. */
const noIntrospection: ValidationRule = (context) => ({
  Field(node) {
    const type = getNamedType(context.getType());
    if (type && isIntrospectionType(type)) {
      context.reportError(
        new GraphQLError(`Introspection is turned off on this server: "${node.name.value}" cannot be queried.`, {
          nodes: node,
          extensions: { code: INTROSPECTION_DISABLED },
        }),
      );
    }
  },
});

const SUGGESTION = /\s*Did you mean .*\?$/s;

/** Removes graphql-js's "Did you mean …?" hints, which would name fields that introspection hides. */
function withoutSuggestion(error: GraphQLError): GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Introspection on or off (GRAPHQL_INTROSPECTION). Off, `__schema`/`__type` are refused with
 * INTROSPECTION_DISABLED and validation errors lose their field suggestions.
 */
export function introspectionPlugin(enabled: boolean): Plugin {
  if (enabled) return {};
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(noIntrospection);
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((e) => (e instanceof GraphQLError ? withoutSuggestion(e) : e)));
      };
    },
  };
}
