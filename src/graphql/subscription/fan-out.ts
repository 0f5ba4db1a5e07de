import { createSourceEventStream, GraphQLError, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import { whenCredentialsExpire } from '../../auth/viewer.js';
import { SubscriptionEnded } from '../../service/live.service.js';
import type { GraphQLContext } from '../context.js';
import { EventGroups } from './event-groups.js';
import { GroupKeys, principalKey } from './group-key.js';
import { knownRolesKey } from './known-roles.js';
import { ListGroups } from './list-groups.js';
import { SharedExecutions, type FanOutStats } from './shared-execution.js';
import { GroupSubscriber } from './subscriber.js';

export type { FanOutStats };
export { preSerialized } from './subscriber.js';

/** Where the plugin leaves the fan-out and the operation's arguments for the subscription's resolver. */
const scope = Symbol('fanOut');
type Scoped = { [scope]?: { fanOut: SubscriptionFanOut; args: ExecutionArgs } };

export interface FanOutOptions {
  /** Results a subscriber whose transport reads them one by one (SSE) may let wait before it is ended as a slow consumer. */
  maxQueuedPerSubscriber: number;
}

/**
 * One execution per group of subscribers, not per subscriber (ADR 0033).
 *
 * `workloadEvents` and `workloadsChanged` subscriptions are *grouped*: one source stream per group
 * (EventGroups, ListGroups) reads each payload once, executes it once, serializes it once and
 * writes it to every member, over graphql-ws straight onto the connection as a `next` frame with
 * the member's operation id; a member has no stream, iterator step or async work of its own per
 * payload. Other subscriptions (`workloadChanged`) keep a stream each, whose payloads are shared
 * objects: the plugin maps them through an execution remembered per payload and group key.
 *
 * An envelop plugin, so both transports get it: it replaces the subscribe function with graphql's
 * own source stream.
 */
export class SubscriptionFanOut {
  readonly #executions = new SharedExecutions();
  readonly #keys = new GroupKeys();
  readonly events = new EventGroups(this.#executions, this.#keys);
  readonly lists = new ListGroups(this.#executions, this.#keys);

  constructor(private readonly options: FanOutOptions = { maxQueuedPerSubscriber: 1000 }) {}

  /** Counters, and the groups open now with their members (for tests and the benchmark). */
  stats(): FanOutStats & { groups: number; members: number } {
    return { ...this.#executions.stats, groups: this.events.size + this.lists.size, members: this.events.members + this.lists.members };
  }

  plugin(): Plugin {
    return {
      onSubscribe: ({ setSubscribeFn }) => {
        setSubscribeFn((args) => this.subscribe(args as ExecutionArgs));
      },
    };
  }

  /**
   * A subscriber for the operation being subscribed (called from a subscription field's
   * `subscribe`), or undefined when the operation did not come through this plugin.
   */
  subscriber(ctx: GraphQLContext): GroupSubscriber | undefined {
    const args = (ctx as Scoped)[scope]?.args;
    if (!args) return undefined;
    const member = new GroupSubscriber(args, this.options.maxQueuedPerSubscriber);
    // A WebSocket connection ends its operations itself when its token expires (close 4403).
    if (!ctx.connection) {
      member.untilLeft(
        whenCredentialsExpire(ctx.viewer, () => {
          member.onLeave?.();
          const expired = new SubscriptionEnded('TOKEN_EXPIRED', 'the bearer token this subscription was opened with has expired; subscribe again with a fresh token');
          void this.#executions.finalResult(args, expired, ctx.live).then((final) => member.end(final));
        }),
      );
    }
    return member;
  }

  private async subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const context = args.contextValue as GraphQLContext & Scoped;
    Object.defineProperty(context, scope, { value: { fanOut: this, args }, configurable: true });
    const source = await createSourceEventStream(args);
    if (source instanceof GroupSubscriber) return source;
    if (!isAsyncIterable(source)) return source as ExecutionResult;
    const group = this.#keys.of(args);
    const stats = this.#executions.stats;
    return mapAsyncIterator(
      source,
      (payload: unknown) => {
        stats.deliveries += 1;
        if (typeof payload !== 'object' || payload === null) return this.#executions.run(args, payload);
        // The roles as the subscriber's stream read them for this payload (they change the group);
        // a stream that has read none shares with no other caller.
        const roles = knownRolesKey(context);
        return this.#executions.resultFor(args, payload, `${group}|${roles || principalKey(context.viewer)}`);
      },
      // As graphql's own subscribe does: an error of the stream itself ends it with that error.
      (error: unknown) => {
        throw error instanceof GraphQLError ? error : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error instanceof Error ? error : undefined });
      },
    );
  }
}

/**
 * A grouped subscriber as the field's source stream. Its items are results, not payloads: the
 * plugin returns it as the operation's stream before anything would map them (see `subscribe`).
 */
export function asSourceStream<T>(member: GroupSubscriber): AsyncIterable<T> {
  return member as AsyncIterable<unknown> as AsyncIterable<T>;
}

/** The fan-out that subscribes the operation of this context, if any. */
export function fanOutOf(ctx: GraphQLContext): SubscriptionFanOut | undefined {
  return (ctx as Scoped)[scope]?.fanOut;
}
