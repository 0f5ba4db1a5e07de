import { getNullableType, isListType, type GraphQLField } from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './common/page-size.js';

/**
 * The cost model the complexity limit measures (ADRs 0060, 0061). The unit is what resolving one
 * scalar field of one object costs the API; the other weights were measured in that unit by
 * `bench/list-query` (its `calibration`: the API's CPU per request for variants of a list of 100
 * workloads that add one kind of field at a time). What a field's sub-selection costs is
 * multiplied by how many objects the field returns at most: a connection by the page it asks
 * for (`first`/`last`, else the default page, never more than the largest page), other lists by
 * their real bound where there is one (protons, replicas), else by `LIST_MULTIPLIER`.
 */
export const LIST_MULTIPLIER = 10;

/** Statistics are an aggregate query over the window's samples (up to the 90-day retention), not a field read: at most about 50 per request. */
export const STATISTICS_COMPLEXITY = { field: 500, multiplier: 1 } as const;

/** A statistics series has a point per minute with requests, at most `last` (default 60): its field cost; the multiplier is its page. */
export const SERIES_COMPLEXITY = { field: 1, multiplier: 60 } as const;

/** A workload's current protons: at most one per role (active and candidate by unique indexes, previous by the controller); read with the page. */
export const PROTONS_COMPLEXITY = { field: 1, multiplier: 3 } as const;

/**
 * One row of a page: the statement's share, the entities made of it (a workload with its
 * artifact and protons) and its edge. Measured: about 40 scalar fields' worth per row (a list of
 * 100 workloads selecting only `id` costs 40 times a list selecting one more scalar field per row).
 * Its multiplier is 1: the connection field already counts the page.
 */
export const EDGES_COMPLEXITY = { field: 40, multiplier: 1 } as const;

/**
 * A proton's replicas: at most MAX_REPLICAS pods (10 by default). Each replica costs about 5
 * scalar fields' worth beyond its fields (measured: its pod read from the runtime and its state
 * derived), charged as the field's own cost for all of them.
 */
export const REPLICAS_COMPLEXITY = { field: 5 * 10, multiplier: 10 } as const;

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
