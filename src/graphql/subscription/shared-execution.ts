import { execute, GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { SharingRole } from '../../domain/model.js';
import { SubscriptionEnded, type LiveService } from '../../service/live.service.js';
import { releaseRequestScope } from '../context.js';
import { rememberRole } from './known-roles.js';
import { serializeOnce } from './subscriber.js';

/** Counters for tests and the benchmark. */
export interface FanOutStats {
  /** Payloads delivered to subscribers (one per subscriber and payload). */
  deliveries: number;
  /** GraphQL executions of payloads: one per group and payload. */
  executions: number;
}

/**
 * Executions of payloads remembered per payload object (weakly: as long as the payload lives)
 * and per group key, so that a payload is executed once per group, whoever asks for it: the
 * group's delivery, or a subscriber catching up with its group (ADR 0033).
 */
export class SharedExecutions {
  readonly #results = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();
  readonly stats: FanOutStats = { deliveries: 0, executions: 0 };

  /**
   * The result of `payload` for the group `key`, executed once with `args` (a member's). When
   * `role` is given, it is the role the group's members hold on `workloadId`: the payload's
   * authorization checks answer from it (ADR 0031).
   */
  resultFor(args: ExecutionArgs, payload: object, key: string, role?: { workloadId: string; role: SharingRole }): ExecutionResult | Promise<ExecutionResult> {
    let byGroup = this.#results.get(payload);
    if (!byGroup) {
      byGroup = new Map();
      this.#results.set(payload, byGroup);
    }
    const known = byGroup.get(key);
    if (known) return known;
    if (role) rememberRole(args.contextValue as object, role.workloadId, role.role);
    const running = this.run(args, payload);
    byGroup.set(key, running);
    if (running instanceof Promise) {
      void running.then(
        (result) => {
          byGroup.set(key, result);
          releaseRequestScope(args.contextValue as object);
        },
        () => byGroup.delete(key),
      );
    } else {
      releaseRequestScope(args.contextValue as object);
    }
    return running;
  }

  /** Executes one payload for a group and serializes the result once, when it has no errors. */
  run(args: ExecutionArgs, payload: unknown): ExecutionResult | Promise<ExecutionResult> {
    this.stats.executions += 1;
    const result = execute({ ...args, rootValue: payload });
    if (result instanceof Promise) return result.then(serializeOnce);
    return serializeOnce(result);
  }

  /** A subscriber's own last result: the server's end of its stream (never shared). */
  async finalResult(args: ExecutionArgs, end: SubscriptionEnded | unknown, live: LiveService): Promise<ExecutionResult> {
    if (end instanceof SubscriptionEnded) return execute({ ...args, rootValue: end });
    if (live.isTransient(end)) {
      return execute({ ...args, rootValue: new SubscriptionEnded('SERVICE_UNAVAILABLE', 'the database cannot be reached; subscribe again later (resume workloadEvents with "after")') });
    }
    // Masked and logged by the server like any unexpected error.
    return { errors: [new GraphQLError(end instanceof Error ? end.message : String(end), { originalError: end instanceof Error ? end : undefined })] };
  }
}
