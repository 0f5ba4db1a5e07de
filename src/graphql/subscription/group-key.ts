import { TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import type { Principal } from '../../domain/sharing.js';
import type { GraphQLContext } from '../context.js';

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

/**
 * The part of a subscription's group key fixed for its whole life (ADR 0033): document, operation
 * name, variables, and the caller unless the document selects only workload-scoped types (or
 * `perCaller` says the stream's reads are the caller's own).
 */
export class GroupKeys {
  readonly #documentIds = new WeakMap<DocumentNode, number>();
  readonly #workloadScoped = new WeakMap<DocumentNode, boolean>();
  #nextDocumentId = 1;

  of(args: ExecutionArgs, perCaller = false): string {
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
    const caller = scoped && !perCaller ? '' : principalKey((args.contextValue as GraphQLContext).viewer);
    return `${id}|${args.operationName ?? ''}|${stableJson(args.variableValues ?? {})}|${caller}`;
  }
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
export function principalKey(viewer: Principal | undefined): string {
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
