import { getNullableType, isListType, type GraphQLField } from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './common/page-size.js';

/**
 * The cost model the complexity limit measures (ADR 0060). Every selected field costs 1. What a
 * field's sub-selection costs is multiplied by how many objects the field returns at most:
 * a connection by the page it asks for (`first`/`last`, else the default page), its `edges` by 1
 * (the page is already counted), and any other list by `LIST_MULTIPLIER`, as those lists are
 * short and bounded (containers, replicas, roles).
 */
export const LIST_MULTIPLIER = 10;

/** Statistics are an aggregate query over the window's samples (up to the 90-day retention), not a field read: at most about 50 per request. */
export const STATISTICS_COMPLEXITY = { field: 500, multiplier: 1 } as const;

/** A statistics series has a point per minute with requests, at most `last` (default 60): its field cost; the multiplier is its page. */
export const SERIES_COMPLEXITY = { field: 1, multiplier: 60 } as const;

/** A workload's current protons: at most one per role (active, candidate, previous). */
export const PROTONS_COMPLEXITY = { field: 1, multiplier: 3 } as const;

/** The multiplier of a connection's `edges`: the connection field already counts the page. */
export const EDGES_COMPLEXITY = { field: 1, multiplier: 1 } as const;

/** Cost of one field, from its arguments (variables already applied) and its definition. */
export function fieldCost<TContext>(args: Record<string, unknown>, field: GraphQLField<unknown, TContext>): { field: number; multiplier: number } {
  if (field.args.some((a) => a.name === 'first') && field.args.some((a) => a.name === 'last')) {
    return { field: 1, multiplier: pageSize(args.first ?? args.last) };
  }
  return { field: 1, multiplier: isListType(getNullableType(field.type)) ? LIST_MULTIPLIER : 1 };
}

/** The rows a page argument can return: the default page when absent, never more than the maximum. */
function pageSize(requested: unknown): number {
  if (typeof requested !== 'number' || !Number.isFinite(requested)) return DEFAULT_PAGE_SIZE;
  // Out-of-range sizes are refused by the resolver (checkPageSize); here they cost what they could return.
  return Math.min(Math.max(Math.trunc(requested), 1), MAX_PAGE_SIZE);
}
