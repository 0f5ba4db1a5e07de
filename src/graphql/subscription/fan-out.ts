import {
  createSourceEventStream,
  execute,
  GraphQLError,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import type { Principal } from '../../domain/sharing.js';
import type { GraphQLContext } from '../context.js';
import { knownRolesKey } from './workload.subscription.js';

/**
 * Types whose every field, for a caller who may see the workload, has a value that depends only on
 * the workload and the caller's role on it (ADR 0033). A document that selects a field of any
 * other type (an `Artifact`: its `viewerRole` and grants are the caller's own) is executed per
 * caller, never shared between callers. A type added to the schema is outside this list until
 * someone decides it belongs here: the safe default.
 */
const WORKLOAD_SCOPED_TYPES: ReadonlySet<string> = new Set([
  'Subscription',
  'WorkloadChange',
  'WorkloadEvent',
  'Workload',
  'WorkloadRuntime',
  'ContainerResourceOverride',
  'Resources',
  'WorkloadEventConnection',
  'WorkloadEventEdge',
  'PageInfo',
  'Proton',
  'Replica',
  'ReplicaContainer',
  'RequestStatistics',
  'RequestStatisticsPoint',
  'RequestStatisticsSummary',
  'SharedRole',
]);

/** What is written for a payload shared by a group: its JSON, computed once (Yoga's SSE uses `stringify`). */
type SharedResult = ExecutionResult & { stringify?: (result: unknown) => string };

const serialized = new WeakMap<object, string>();

/** The JSON of a result executed for a group of subscribers, if it was serialized once for all of them. */
export function preSerialized(result: object): string | undefined {
  return serialized.get(result);
}

/** Counters for tests and the benchmark. */
export interface FanOutStats {
  /** Payloads delivered to subscribers (one per subscriber and payload). */
  deliveries: number;
  /** GraphQL executions of payloads: one per group and payload. */
  executions: number;
}

/**
 * One execution per group of subscribers, not per subscriber (ADR 0033). Every subscription keeps
 * its own stream (its own cursor, authorization and end), and streams of one workload hand the
 * same payload objects to their subscribers (LiveService shares its reads). A payload is executed
 * once per group, that is per distinct document, operation name, variables and the caller's
 * roles as the stream last read them (and the caller, for documents that select anything whose
 * value is the caller's own), and the result, serialized once, goes to every subscriber of the
 * group, over graphql-ws and SSE alike.
 *
 * An envelop plugin, so both transports get it: it replaces the subscribe function with graphql's
 * own source stream, mapped through the shared execution.
 */
export class SubscriptionFanOut {
  /** Results by payload object, then by group key: they live as long as the payload does. */
  readonly #results = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();
  readonly #documentIds = new WeakMap<DocumentNode, number>();
  readonly #workloadScoped = new WeakMap<DocumentNode, boolean>();
  #nextDocumentId = 1;
  readonly #stats: FanOutStats = { deliveries: 0, executions: 0 };

  stats(): FanOutStats {
    return { ...this.#stats };
  }

  plugin(): Plugin {
    return {
      onSubscribe: ({ setSubscribeFn }) => {
        setSubscribeFn((args) => this.subscribe(args as ExecutionArgs));
      },
    };
  }

  private async subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source as ExecutionResult;
    const group = this.groupOf(args);
    const context = args.contextValue as GraphQLContext;
    return mapAsyncIterator(
      source,
      (payload: unknown) => {
        this.#stats.deliveries += 1;
        if (typeof payload !== 'object' || payload === null) return this.execute(args, payload);
        // The roles as the subscriber's stream read them for this payload (they change the group);
        // a stream that has read none shares with no other caller.
        const roles = knownRolesKey(context);
        const key = `${group}|${roles || principalKey(context.viewer)}`;
        let byGroup = this.#results.get(payload);
        if (!byGroup) {
          byGroup = new Map();
          this.#results.set(payload, byGroup);
        }
        const known = byGroup.get(key);
        if (known) return known;
        const running = this.execute(args, payload);
        byGroup.set(key, running);
        if (running instanceof Promise) void running.then((result) => byGroup.set(key, result), () => byGroup.delete(key));
        return running;
      },
      // As graphql's own subscribe does: an error of the stream itself ends it with that error.
      (error: unknown) => {
        throw error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error instanceof Error ? error : undefined });
      },
    );
  }

  /** Executes one payload for a group and serializes the result once, when it has no errors. */
  private execute(args: ExecutionArgs, payload: unknown): ExecutionResult | Promise<ExecutionResult> {
    this.#stats.executions += 1;
    const result = execute({ ...args, rootValue: payload });
    if (result instanceof Promise) return result.then(serializeOnce);
    return serializeOnce(result);
  }

  /**
   * The part of the group key fixed for the whole subscription: document, operation, variables,
   * and the caller, unless the document selects only workload-scoped types.
   */
  private groupOf(args: ExecutionArgs): string {
    let id = this.#documentIds.get(args.document);
    if (id === undefined) {
      id = this.#nextDocumentId++;
      this.#documentIds.set(args.document, id);
    }
    let scoped = this.#workloadScoped.get(args.document);
    if (scoped === undefined) {
      scoped = selectsOnlyWorkloadScoped(args.schema, args.document);
      this.#workloadScoped.set(args.document, scoped);
    }
    const caller = scoped ? '' : principalKey((args.contextValue as GraphQLContext).viewer);
    return `${id}|${args.operationName ?? ''}|${stableJson(args.variableValues ?? {})}|${caller}`;
  }
}

function serializeOnce(result: ExecutionResult): ExecutionResult {
  if (result.errors?.length) return result;
  const json = JSON.stringify(result);
  serialized.set(result, json);
  // Yoga's SSE writer calls `result.stringify` when there is one.
  Object.defineProperty(result as SharedResult, 'stringify', { value: () => json, enumerable: false });
  return result;
}

/** Whether every field the document selects belongs to a workload-scoped type. */
export function selectsOnlyWorkloadScoped(schema: GraphQLSchema, document: DocumentNode): boolean {
  const info = new TypeInfo(schema);
  let scoped = true;
  visit(
    document,
    visitWithTypeInfo(info, {
      Field() {
        const parent = info.getParentType();
        if (!parent || !WORKLOAD_SCOPED_TYPES.has(parent.name)) scoped = false;
      },
    }),
  );
  return scoped;
}

/** Everything about a caller that authorization looks at. */
function principalKey(viewer: Principal | undefined): string {
  if (!viewer) return 'anonymous';
  return JSON.stringify([viewer.userId, [...viewer.groups].sort(), viewer.organization, [...viewer.roles].sort(), viewer.isPlatformAdmin]);
}

/** JSON with object keys sorted, so that equal variables give equal keys. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
