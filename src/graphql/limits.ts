import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { createComplexityRule } from '@pothos/plugin-complexity';
import {
  getOperationAST,
  GraphQLError,
  Kind,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLSchema,
  type TypeNode,
  type ValidationContext,
} from 'graphql';
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
  const measured = measure(args);
  if ('errors' in measured) return measured.errors;
  return measured.complexity > max ? [limitExceeded('complexity', max, measured.complexity)] : [];
}

/** The cost of an operation in the model of ./cost.ts; throws what makes it unmeasurable (an invalid operation). */
export function measureComplexity(args: ExecutionArgs): number {
  const measured = measure(args);
  if ('errors' in measured) throw measured.errors[0];
  return measured.complexity;
}

/**
 * An operation's cost depends on its document, the operation chosen and the variables that can
 * reach a cost: page sizes (`first: $n`, `last: $n`, Int) and `@include`/`@skip` (Boolean). The
 * cost functions of ./cost.ts read nothing else (no String, ID, input object or context), so the
 * cost is kept per document (the parser's cache hands the same document object to every request
 * with the same text) under those variables' values: a create's cost (its input an input object)
 * is measured once, and a query's limit and its rate limit's charge share one measure. Measuring
 * walks the document and coerces every variable (a create's whole input), about 0.3 ms a request.
 */
interface KeptCosts {
  /** The variables whose values can change the cost, per operation name. */
  readonly costVariables: Map<string, readonly string[]>;
  readonly costs: Map<string, number>;
}
/** Per schema (an app's), per document. */
const kept = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, KeptCosts>>();
/** Distinct variable values kept per document; past it the document's costs start over. */
const COSTS_PER_DOCUMENT = 256;
const COST_VARIABLE_TYPES = new Set(['Int', 'Boolean']);

function measure(args: ExecutionArgs): { complexity: number } | { errors: readonly GraphQLError[] } {
  let documents = kept.get(args.schema);
  if (!documents) kept.set(args.schema, (documents = new WeakMap()));
  let entry = documents.get(args.document);
  if (!entry) documents.set(args.document, (entry = { costVariables: new Map(), costs: new Map() }));
  const operationName = args.operationName ?? '';
  let names = entry.costVariables.get(operationName);
  if (!names) {
    const operation = getOperationAST(args.document, args.operationName);
    names = (operation?.variableDefinitions ?? []).filter((v) => COST_VARIABLE_TYPES.has(namedType(v.type))).map((v) => v.variable.name.value);
    entry.costVariables.set(operationName, names);
  }
  const values = args.variableValues ?? {};
  // An absent variable (its default applies) is not a null one (the argument's own default applies).
  const key = `${operationName}\n${names.map((n) => (Object.hasOwn(values, n) ? JSON.stringify(values[n]) : '-')).join(',')}`;
  const known = entry.costs.get(key);
  if (known !== undefined) return { complexity: known };
  let complexity = 0;
  const rule = createComplexityRule({
    context: {},
    variableValues: values,
    operationName: args.operationName,
    onResult: (result) => {
      complexity = result.complexity;
    },
  });
  const errors = validate(args.schema, args.document, [rule]);
  if (errors.length > 0) return { errors };
  if (entry.costs.size >= COSTS_PER_DOCUMENT) entry.costs.clear();
  entry.costs.set(key, complexity);
  return { complexity };
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}
