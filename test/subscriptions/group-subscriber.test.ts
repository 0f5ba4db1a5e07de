import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { GroupSubscriber, preSerialized, serializeOnce } from '../../src/graphql/subscription/subscriber.js';

/** A member as the group sees it; its context is all a subscriber reads (the connection, if any). */
function member(connection: { sendNext(json: string): void } | undefined, maxQueued: number) {
  const args = { contextValue: connection ? { connection: { close: () => {}, ...connection } } : {} } as unknown as ExecutionArgs;
  return new GroupSubscriber(args, maxQueued);
}
const result = (n: number): ExecutionResult => serializeOnce({ data: { n } });

describe('a subscriber of a group', () => {
  it('writes shared results straight onto its WebSocket as frames and queues nothing', async () => {
    const frames: string[] = [];
    const m = member({ sendNext: (json) => frames.push(json) }, 2);
    for (let n = 1; n <= 5; n++) m.deliver(result(n));
    expect(frames).toEqual([1, 2, 3, 4, 5].map((n) => JSON.stringify({ data: { n } })));
    // Its own end goes through the transport (an error result carries its request id there).
    m.end({ errors: [] });
    expect(await m.next()).toEqual({ value: { errors: [] }, done: false });
    expect(await m.next()).toEqual({ value: undefined, done: true });
  });

  it('serializes a shared result once and hands SSE the same text', () => {
    const r = result(7);
    expect(preSerialized(r)).toBe('{"data":{"n":7}}');
    expect((r as { stringify?: () => string }).stringify?.()).toBe('{"data":{"n":7}}');
  });

  it('holds at most its bound of unread results when its transport reads them (SSE), then is ended as a slow consumer', async () => {
    const m = member(undefined, 3);
    let overflows = 0;
    m.onOverflow = () => (overflows += 1);
    for (let n = 1; n <= 3; n++) m.deliver(result(n));
    expect(overflows).toBe(0);
    m.deliver(result(4));
    expect(overflows).toBe(1);
    // What it holds is the bound, not what was offered.
    const got: unknown[] = [];
    m.end();
    for await (const r of m) got.push(r.data);
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('leaves its group once when the client leaves, receives nothing after, and ends a pending read', async () => {
    const m = member(undefined, 3);
    let left = 0;
    m.onLeave = () => (left += 1);
    const pending = m.next();
    await m.return();
    await m.return();
    expect(left).toBe(1);
    expect(await pending).toEqual({ value: undefined, done: true });
    m.deliver(result(1));
    expect(await m.next()).toEqual({ value: undefined, done: true });
    expect(m.closed).toBe(true);
  });

  it('makes a subscriber catching up wait for room in its queue instead of cutting it', async () => {
    const m = member(undefined, 4);
    for (let n = 1; n <= 3; n++) m.deliver(result(n));
    const room = m.writable();
    expect(room).toBeInstanceOf(Promise);
    let ready = false;
    void room!.then(() => (ready = true));
    await m.next();
    await Promise.resolve();
    expect(ready).toBe(false);
    await m.next();
    await room;
    expect(ready).toBe(true);
  });
});
