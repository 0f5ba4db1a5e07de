import { buildSchema, GraphQLError, parse, type ExecutionArgs } from 'graphql';
import { describe, expect, it } from 'vitest';
import { SubscriberGroup } from '../../src/graphql/subscription/group.js';
import { SharedExecutions } from '../../src/graphql/subscription/shared-execution.js';
import { GroupSubscriber } from '../../src/graphql/subscription/subscriber.js';
import { SubscriptionEnded, type LiveService } from '../../src/service/live.service.js';

// A schema of one field whose resolver ends the stream as the API's do: a SubscriptionEnded
// payload becomes the subscriber's final error.
const schema = buildSchema('type Query { n: Int } type Subscription { tick: Int }');
const document = parse('subscription { tick }');
const rootTick = (payload: unknown) => {
  if (payload instanceof SubscriptionEnded) throw new GraphQLError(payload.message, { extensions: { code: payload.code } });
  return (payload as { n: number }).n;
};
const live = { isTransient: () => false } as unknown as LiveService;

function member(maxQueued: number, frames?: string[]): GroupSubscriber {
  const connection = frames ? { close: () => {}, sendNext: (json: string) => frames.push(json) } : undefined;
  const args: ExecutionArgs = { schema, document, contextValue: { live, connection }, fieldResolver: (source, _args, _ctx, info) => (info.fieldName === 'tick' ? rootTick(source) : undefined) };
  return new GroupSubscriber(args, maxQueued);
}

/** A source the test pushes into, as a group's live stream. */
function source() {
  const items: ({ n: number; sequence: number } | SubscriptionEnded)[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const stream: AsyncIterableIterator<{ n: number; sequence: number } | SubscriptionEnded> = {
    async next() {
      while (items.length === 0 && !done) await new Promise<void>((r) => (wake = r));
      const value = items.shift();
      return value ? { value, done: false } : { value: undefined, done: true };
    },
    async return() {
      done = true;
      wake?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return {
    stream,
    push: (item: { n: number; sequence: number } | SubscriptionEnded) => {
      items.push(item);
      wake?.();
    },
    get stopped() {
      return done;
    },
  };
}

const until = async (probe: () => boolean) => {
  for (let i = 0; i < 1000 && !probe(); i++) await new Promise((r) => setImmediate(r));
  expect(probe()).toBe(true);
};

describe('a group of subscribers', () => {
  it('executes each payload once, writes it to every member, ends a member that lets too much wait (SSE) with SLOW_CONSUMER, and the others keep receiving', async () => {
    const executions = new SharedExecutions();
    let closed = 0;
    const group = new SubscriberGroup<{ n: number; sequence: number }>('k', 'w', 'OBSERVER', 0, executions, () => (closed += 1));
    const frames: string[] = [];
    const ws = member(100, frames);
    const slow = member(2);
    group.add(ws, 0);
    group.add(slow, 0);
    const s = source();
    group.stream = s.stream;
    void group.run((item) => item.sequence);
    for (let n = 1; n <= 5; n++) s.push({ n, sequence: n });
    await until(() => frames.length === 5);
    expect(frames).toEqual([1, 2, 3, 4, 5].map((n) => JSON.stringify({ data: { tick: n } })));
    expect(executions.stats.executions).toBe(5);
    // The SSE member never read: it held two results, was ended at the third, and is out of the group.
    expect(group.members.has(slow)).toBe(false);
    const got = [];
    for await (const r of slow) got.push(r);
    expect(got.map((r) => (r.errors ? r.errors.map((e) => e.extensions?.code) : r.data))).toEqual([{ tick: 1 }, { tick: 2 }, ['SLOW_CONSUMER']]);
    s.push({ n: 6, sequence: 6 });
    await until(() => frames.length === 6);
    // The last member out stops the group's stream.
    await ws.return();
    expect(closed).toBe(1);
    expect(s.stopped).toBe(true);
  });

  it('writes nothing to a member that joined ahead of the group until the group passes its cursor', async () => {
    const group = new SubscriberGroup<{ n: number; sequence: number }>('k', 'w', 'OBSERVER', 0, new SharedExecutions(), () => {});
    const behind: string[] = [];
    const ahead: string[] = [];
    group.add(member(10, behind), 0);
    group.add(member(10, ahead), 2);
    const s = source();
    group.stream = s.stream;
    void group.run((item) => item.sequence);
    for (let n = 1; n <= 3; n++) s.push({ n, sequence: n });
    await until(() => behind.length === 3);
    expect(ahead).toEqual([JSON.stringify({ data: { tick: 3 } })]);
  });

  it('ends every member with the stream\'s own end, each with its own copy', async () => {
    const group = new SubscriberGroup<{ n: number; sequence: number }>('k', 'w', 'OBSERVER', 0, new SharedExecutions(), () => {});
    const members = [member(10, []), member(10)];
    for (const m of members) group.add(m, 0);
    const s = source();
    group.stream = s.stream;
    void group.run((item) => item.sequence);
    s.push(new SubscriptionEnded('NOT_FOUND', 'deleted'));
    for (const m of members) {
      const results = [];
      for await (const r of m) results.push(r);
      expect(results.map((r) => r.errors?.map((e) => e.extensions?.code))).toEqual([['NOT_FOUND']]);
    }
    expect(group.members.size).toBe(0);
  });
});
