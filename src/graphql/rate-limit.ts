import { getOperationAST, GraphQLError, Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { measureComplexity } from './limits.js';

/** `extensions.code` of a mutation refused because its subject spent its budget. */
export const RATE_LIMITED = 'RATE_LIMITED';

export interface MutationRateLimitSettings {
  /** Root mutation fields one subject may run per window. */
  points: number;
  durationSeconds: number;
}

/** What a budget counts: root mutation fields, or the cost of queries and subscriptions. */
export type BudgetName = 'mutations' | 'queryCost';

/** A per-subject budget and the connection it keeps (if any). */
export interface MutationRateLimiter {
  budget: BudgetName;
  /** `redis`: shared by every replica on the same Redis; `memory`: this process only. */
  kind: 'redis' | 'memory';
  settings: MutationRateLimitSettings;
  /** Spends `points` of `subject`'s budget; resolves with null, or with the seconds to wait when it is spent. */
  consume(subject: string, points: number): Promise<{ retryAfterSeconds: number } | null>;
  close(): Promise<void>;
}

/**
 * A fixed-window budget per subject (rate-limiter-flexible). With Redis, one counter per subject in
 * Redis, so replicas share it; while Redis is unreachable, each replica falls back to an
 * in-memory budget of the same size (its insurance limiter) instead of refusing or allowing all.
 */
export function createMutationRateLimiter(options: {
  settings: MutationRateLimitSettings;
  redis: { url: string; keyPrefix: string } | null;
  logger: Logger;
  /** Default `mutations`; each budget has counters (and a Redis connection) of its own. */
  budget?: BudgetName;
}): MutationRateLimiter {
  const { settings, logger } = options;
  const budget = options.budget ?? 'mutations';
  const memory = () => new RateLimiterMemory({ points: settings.points, duration: settings.durationSeconds, keyPrefix: budget });
  let limiter: RateLimiterAbstract;
  let client: Redis | undefined;
  let closing = false;
  if (options.redis) {
    client = new Redis(options.redis.url, {
      // Fail at once while disconnected, so that the insurance limiter answers without waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(50 * times, 1000),
      connectionName: budget === 'mutations' ? 'workload-api-rate-limit' : 'workload-api-query-cost-limit',
    });
    client.on('error', (err: unknown) => {
      if (!closing) logger.warn({ err, budget }, 'Redis connection of a rate limiter failed; limiting per replica until it returns');
    });
    limiter = new RateLimiterRedis({
      storeClient: client,
      points: settings.points,
      duration: settings.durationSeconds,
      keyPrefix: `${options.redis.keyPrefix}${budget}`,
      rejectIfRedisNotReady: true,
      insuranceLimiter: memory(),
    });
  } else {
    limiter = memory();
  }
  return {
    budget,
    kind: client ? 'redis' : 'memory',
    settings,
    async consume(subject, points) {
      try {
        await limiter.consume(subject, points);
        return null;
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          // A refused operation runs nothing: its cost is given back, so cheaper ones still fit in what is left.
          // (A refused mutation keeps counting, as it always has: retrying in a loop should not pay off.)
          if (budget === 'queryCost') await limiter.reward(subject, points).catch(() => {});
          return { retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
        }
        throw err;
      }
    },
    async close() {
      closing = true;
      client?.disconnect();
    },
  };
}

/** The error of a refused operation: 429 with Retry-After over HTTP; `retryAfterSeconds` everywhere. */
export function rateLimitedError(retryAfterSeconds: number, settings: MutationRateLimitSettings, budget: BudgetName = 'mutations'): GraphQLError {
  const what = budget === 'mutations' ? 'Too many mutations: at most' : 'Too much query cost: at most a cost of';
  return new GraphQLError(
    `${what} ${settings.points} per ${settings.durationSeconds} s for one caller. Retry after ${retryAfterSeconds} s.`,
    {
      extensions: {
        code: RATE_LIMITED,
        budget,
        retryAfterSeconds,
        limit: settings.points,
        windowSeconds: settings.durationSeconds,
        http: { status: 429, headers: { 'Retry-After': String(retryAfterSeconds) } },
      },
    },
  );
}

/** How many root fields a mutation operation selects (through fragments): each is one mutation. */
export function rootFieldCount(document: DocumentNode, selectionSet: SelectionSetNode): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const seen = new Set<string>();
  const count = (set: SelectionSetNode): number => {
    let n = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) n += s.name.value === '__typename' ? 0 : 1;
      else if (s.kind === Kind.INLINE_FRAGMENT) n += count(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) n += count(fragment.selectionSet);
      }
    }
    return n;
  };
  return count(selectionSet);
}

/**
 * Charges every mutation operation to its subject (the authenticated user id) before it runs:
 * one point per root mutation field. Queries and subscriptions are not charged. Runs where Yoga's
 * envelope executes: HTTP, SSE and graphql-ws.
 */
export function mutationRateLimitPlugin(limiter: MutationRateLimiter): Plugin {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      const subject = subjectOf(args.contextValue);
      if (!subject) return;
      const points = rootFieldCount(args.document, operation.selectionSet);
      if (points === 0) return;
      const refused = await limiter.consume(subject, points);
      if (refused) setResultAndStopExecution({ errors: [rateLimitedError(refused.retryAfterSeconds, limiter.settings, limiter.budget)] });
    },
  };
}

/** The authenticated user id of an execution's context (every operation has one: see ../app.ts). */
function subjectOf(context: unknown): string | undefined {
  if (typeof context !== 'object' || context === null || !('viewer' in context)) return undefined;
  const viewer: unknown = context.viewer;
  if (typeof viewer !== 'object' || viewer === null || !('userId' in viewer)) return undefined;
  return typeof viewer.userId === 'string' ? viewer.userId : undefined;
}

/**
 * Charges every query and subscription to its subject with its cost, as the complexity limit
 * measures it (./cost.ts, with the operation's variables), before it runs: one caller cannot keep
 * the server busy with operations that are each within the limits. A subscription is charged once,
 * when it starts. Mutations have their own budget (above). Runs after the limits, so an operation
 * they refuse costs nothing; over HTTP, SSE and graphql-ws alike.
 */
export function queryCostRateLimitPlugin(limiter: MutationRateLimiter): Plugin {
  const charge = async (args: Parameters<typeof measureComplexity>[0], stop: (result: { errors: GraphQLError[] }) => void) => {
    const operation = getOperationAST(args.document, args.operationName);
    if (!operation || operation.operation === 'mutation') return;
    const subject = subjectOf(args.contextValue);
    if (!subject) return;
    let cost: number;
    try {
      cost = measureComplexity(args);
    } catch {
      return; // not measurable (an invalid operation): execution reports it, at no cost
    }
    if (cost <= 0) return;
    const refused = await limiter.consume(subject, cost);
    if (refused) stop({ errors: [rateLimitedError(refused.retryAfterSeconds, limiter.settings, limiter.budget)] });
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      await charge(args, setResultAndStopExecution);
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      await charge(args, setResultAndStopExecution);
    },
  };
}
