import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { createComplexityRule } from '@pothos/plugin-complexity';
import { GraphQLError, validate, type ExecutionArgs, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** What one GraphQL operation may weigh; each bound comes from a GRAPHQL_MAX_* variable. */
export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  maxDocumentBytes: number;
}

/** The name a refused operation's error carries in `extensions.limit`. */
export type LimitName = 'depth' | 'complexity' | 'aliases' | 'tokens' | 'directives' | 'documentBytes';

/** `extensions.code` of an operation refused by one of the limits. */
export const QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX';

const DESCRIPTIONS: Record<LimitName, string> = {
  depth: 'nesting depth',
  complexity: 'complexity',
  aliases: 'number of aliases',
  tokens: 'number of tokens',
  directives: 'number of directives',
  documentBytes: 'document size in bytes',
};

/**
 * The error of an operation over a limit: `extensions` carry `code: QUERY_TOO_COMPLEX`, the
 * `limit` by name, its `max`, and the operation's `actual` value when it was measured to the end
 * (the token count stops at the first token over).
 */
export function limitExceeded(limit: LimitName, max: number, actual?: number): GraphQLError {
  const found = actual === undefined ? `more than ${max}` : `${actual}`;
  return new GraphQLError(`The operation's ${DESCRIPTIONS[limit]} (${found}) exceeds the limit of ${max}.`, {
    extensions: {
      code: QUERY_TOO_COMPLEX,
      limit,
      max,
      ...(actual !== undefined && { actual }),
      // Over HTTP, like every parse and validation error (GraphQL over HTTP): 400 (413 for an
      // over-large document) with `Accept: application/graphql-response+json`, 200 with
      // `application/json`.
      http: { status: limit === 'documentBytes' ? 413 : 400, spec: true },
    },
  });
}

/** graphql-armor reports "…limit of N exceeded, found M."; M is the measured value. */
function armorFound(error: GraphQLError): number | undefined {
  const match = /found (\d+)/.exec(error.message);
  return match ? Number(match[1]) : undefined;
}

/** Reports an armor rejection as our own error, in the validation result (never thrown). */
function reportAs(limit: LimitName, max: number) {
  return (context: ValidationContext | null, error: GraphQLError) => {
    context?.reportError(limitExceeded(limit, max, armorFound(error)));
  };
}

/**
 * The shape limits, as envelop hooks, so they hold wherever Yoga's envelope runs: HTTP, SSE, and
 * graphql-ws (whose onSubscribe parses, validates and executes through `yoga.getEnveloped()`).
 *
 * - document size: around the parse function, before it runs, so an oversized document costs
 *   no parser time;
 * - tokens: while parsing (graphql-armor's counting parser), so a huge document stops early;
 * - depth, aliases, directives: validation rules (graphql-armor). They depend on the document
 *   only, so Yoga's validation cache may keep their result;
 * - complexity: at the start of execution and of a subscription, before any resolver runs,
 *   because the cost depends on variables (`first: $n`), which Yoga's validation cache does not
 *   key on. It uses the Pothos complexity plugin's measure (`createComplexityRule`) and the cost
 *   model of ./cost.ts.
 */
export function queryLimitsPlugins(limits: QueryLimits): Plugin[] {
  // Wraps whatever parses (the token-counting parser, registered before it), so that a refusal is
  // a parse failure that other plugins' onParse hooks see, like a syntax error.
  const documentSize: Plugin = {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        const text = typeof source === 'string' ? source : source.body;
        // Characters bound bytes from below (and from above by 3x): the exact count only when close.
        if (text.length * 3 > limits.maxDocumentBytes) {
          const bytes = Buffer.byteLength(text, 'utf8');
          if (bytes > limits.maxDocumentBytes) throw limitExceeded('documentBytes', limits.maxDocumentBytes, bytes);
        }
        return parseFn(source, options);
      });
    },
  };
  const tokens = maxTokensPlugin({
    n: limits.maxTokens,
    onReject: [
      () => {
        throw limitExceeded('tokens', limits.maxTokens);
      },
    ],
  }) as Plugin;
  const shape: Plugin = {
    onValidate({ addValidationRule }) {
      addValidationRule(
        maxDepthRule({
          n: limits.maxDepth,
          // Fragments add no nesting of their own; introspection is bounded by graphql-js's own
          // MaxIntrospectionDepthRule, and GraphiQL's introspection query is deeper than any of ours.
          flattenFragments: true,
          ignoreIntrospection: true,
          propagateOnRejection: false,
          onReject: [reportAs('depth', limits.maxDepth)],
        }),
      );
      addValidationRule(maxAliasesRule({ n: limits.maxAliases, propagateOnRejection: false, onReject: [reportAs('aliases', limits.maxAliases)] }));
      addValidationRule(
        maxDirectivesRule({ n: limits.maxDirectives, propagateOnRejection: false, onReject: [reportAs('directives', limits.maxDirectives)] }),
      );
    },
  };
  const complexity: Plugin = {
    onExecute({ args, setResultAndStopExecution }) {
      const errors = complexityErrors(args, limits.maxComplexity);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = complexityErrors(args, limits.maxComplexity);
      if (errors.length > 0) setResultAndStopExecution({ errors });
    },
  };
  return [tokens, documentSize, shape, complexity];
}

/** The operation's cost against `max`, measured with its variables, as errors (none when within). */
export function complexityErrors(args: ExecutionArgs, max: number): readonly GraphQLError[] {
  const rule = createComplexityRule({
    context: typeof args.contextValue === 'object' && args.contextValue !== null ? args.contextValue : {},
    variableValues: args.variableValues ?? {},
    operationName: args.operationName,
    validate: ({ complexity }, report) => {
      if (complexity > max) report(limitExceeded('complexity', max, complexity));
    },
  });
  return validate(args.schema, args.document, [rule]);
}

/** The cost of an operation in the model of ./cost.ts (for tests and tooling). */
export function measureComplexity(args: ExecutionArgs): number {
  let measured = 0;
  const rule = createComplexityRule({
    context: {},
    variableValues: args.variableValues ?? {},
    operationName: args.operationName,
    onResult: ({ complexity }) => {
      measured = complexity;
    },
  });
  const errors = validate(args.schema, args.document, [rule]);
  if (errors.length > 0) throw errors[0];
  return measured;
}
