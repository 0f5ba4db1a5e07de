/**
 * Admission of mutations: at most `concurrency` mutation operations of this process execute at
 * once; the others wait in memory, in arrival order, holding no database connection. A burst of
 * writes (a thousand creates at once) then fills at most that many of the pool's connections, and
 * a query that arrives during it waits for a connection behind those few, not behind the whole
 * burst: the pool's queue is first come, first served (ADR 0060, decision 12). Queries and
 * subscriptions are never held here; they have their own budgets (./rate-limit.ts).
 */
import type { Plugin } from 'graphql-yoga';
import { getOperationAST } from 'graphql';
import pLimit from 'p-limit';

/** The admission state, for tests. */
export interface MutationAdmission {
  readonly plugin: Plugin;
  /** Mutations executing now. */
  readonly active: () => number;
  /** Mutations waiting for their turn. */
  readonly waiting: () => number;
}

/** Admits at most `concurrency` (at least 1) mutations at once. */
export function mutationAdmission(concurrency: number): MutationAdmission {
  const limit = pLimit(Math.max(1, concurrency));
  const plugin: Plugin = {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      setExecuteFn((execution) => limit(async () => executeFn(execution)));
    },
  };
  return { plugin, active: () => limit.activeCount, waiting: () => limit.pendingCount };
}
