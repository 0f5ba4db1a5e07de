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

/**
 * Statistics are an aggregate query over the window's samples (up to the 90-day retention), not a
 * field read. The calibration's windows are empty (a few units a proton), so this weight is the
 * judgment ADR 0061 decision 6 made (about 7 ms of the database's time for a window), in today's
 * unit of about 0.8 µs (decision 17): a page of 20 workloads' statistics fits the limit, one of 100
 * does not. A window with requests in every minute of 90 days costs far more (decision 9, left open).
 */
export const STATISTICS_COMPLEXITY = { field: 8750, multiplier: 1 } as const;

/** A statistics series has a point per minute with requests, at most `last` (default 60): its field cost; the multiplier is its page. */
export const SERIES_COMPLEXITY = { field: 1, multiplier: 60 } as const;

/**
 * What one object costs beyond the scalar fields selected on it, in units, measured by
 * `bench/list-query`'s calibration (`fitWeights`: the differences between variants that add one
 * kind of field at a time; the bench says whether these still fit). A row is one row of a page:
 * its share of the statement, the view made of it and its edge. An artifact, a proton and a
 * replica include their field's own resolution (an artifact's role check and loader; a replica's
 * pod read from the runtime and its state derived).
 */
export const OBJECT_WEIGHTS = { row: 7, artifact: 14, proton: 3, replica: 50 } as const;

/** The most current protons a workload has: one active and one candidate (unique indexes), a previous one while kept. */
export const MAX_PROTONS = 3;

/** A workload's current protons, read with the page: each possible one charged as a proton, its selection counted for each. */
export const PROTONS_COMPLEXITY = { field: MAX_PROTONS * OBJECT_WEIGHTS.proton, multiplier: MAX_PROTONS } as const;

/** A workload's or a proton's artifact: one object, loaded by id. */
export const ARTIFACT_COMPLEXITY = { field: OBJECT_WEIGHTS.artifact, multiplier: 1 } as const;

/** One row of a page. Its multiplier is 1: the connection field already counts the page. */
export const EDGES_COMPLEXITY = { field: OBJECT_WEIGHTS.row, multiplier: 1 } as const;

/** A proton's replicas: at most MAX_REPLICAS pods (10 by default), each charged as a replica, its selection counted for each. */
export const REPLICAS_COMPLEXITY = { field: OBJECT_WEIGHTS.replica * 10, multiplier: 10 } as const;

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
