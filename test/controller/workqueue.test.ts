import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, WorkQueue } from '../../src/controller/workqueue.js';

/** A handler whose passes finish only when the test releases them, recording what ran. */
function gatedHandler() {
  const started: string[] = [];
  const startedAt: number[] = [];
  const running = new Map<string, number>();
  let maxRunning = 0;
  let overlapOnOneKey = false;
  const gates: { key: string; release: (err?: Error) => void }[] = [];
  const handle = (key: string) =>
    new Promise<void>((resolve, reject) => {
      started.push(key);
      startedAt.push(performance.now());
      const n = (running.get(key) ?? 0) + 1;
      if (n > 1) overlapOnOneKey = true;
      running.set(key, n);
      maxRunning = Math.max(maxRunning, [...running.values()].reduce((a, b) => a + b, 0));
      gates.push({
        key,
        release: (err) => {
          running.set(key, running.get(key)! - 1);
          if (err) reject(err);
          else resolve();
        },
      });
    });
  /** Lets the passes the queue started run (each starts in a turn of the loop of its own). */
  const settle = () => new Promise((r) => setImmediate(r));
  /** Releases the oldest pass still running (of `key`, if given) and lets the queue move on. */
  const release = async (key?: string, err?: Error) => {
    await settle();
    const i = key === undefined ? 0 : gates.findIndex((g) => g.key === key);
    if (i < 0) throw new Error(`no pass of ${key} is running`);
    const [gate] = gates.splice(i, 1);
    gate!.release(err);
    for (let k = 0; k < 5; k++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
  };
  /** Releases every pass, those the releases start included, until none is running. */
  const releaseAll = async () => {
    for (;;) {
      await settle();
      if (gates.length === 0) return;
      await release();
    }
  };
  return { handle, started, startedAt, settle, release, releaseAll, gates, stats: () => ({ maxRunning, overlapOnOneKey }) };
}

const options = { concurrency: 2, baseDelayMs: 10, maxDelayMs: 80 };

/** Fake timers for the retries' backoff; the passes' starts (setImmediate) stay real. */
const fakeBackoff = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });

/** Moves the fake clock on, then lets the passes it started run (each starts in a turn of the loop of its own). */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await new Promise((r) => setImmediate(r));
}

describe('WorkQueue', () => {
  afterEach(() => vi.useRealTimers());

  it('queues a key added while it waits once', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handle, { ...options, concurrency: 1 });
    q.add('busy');
    q.add('a');
    q.add('a');
    q.add('a');
    expect(q.depth).toBe(2);
    await h.release('busy');
    await h.release('a');
    await q.drain();
    expect(h.started).toEqual(['busy', 'a']);
  });

  it('never processes one key on two workers at once, and processes a key re-added during its pass again after it', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handle, { ...options, concurrency: 4 });
    q.add('a');
    q.add('a'); // while waiting: deduplicated
    await h.settle();
    expect(h.started).toEqual(['a']); // started: now processing
    q.add('a'); // while processing: marked dirty, not started on a second worker
    q.add('a');
    await h.settle();
    expect(h.started).toEqual(['a']);
    await h.release('a');
    await h.settle();
    expect(h.started).toEqual(['a', 'a']);
    await h.release('a');
    await q.drain();
    expect(h.started).toEqual(['a', 'a']);
    expect(h.stats().overlapOnOneKey).toBe(false);
  });

  it('runs at most `concurrency` passes at once, however many keys wait', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handle, { ...options, concurrency: 3 });
    for (let i = 0; i < 20; i++) q.add(`w${i}`);
    expect(q.active).toBe(3);
    expect(q.depth).toBe(20);
    await h.releaseAll();
    await q.drain();
    expect(h.started).toHaveLength(20);
    expect(h.stats().maxRunning).toBe(3);
  });

  it('while the foreground works, runs one pass at a time and starts one at most every yieldStartEveryMs; fills every worker again once it stops', async () => {
    const h = gatedHandler();
    let foreground = true;
    const q = new WorkQueue(h.handle, { ...options, concurrency: 3, yieldTo: () => foreground, yieldStartEveryMs: 100 });
    for (let i = 0; i < 10; i++) q.add(`w${i}`);
    await h.settle();
    expect(h.started).toEqual(['w0']); // the backlog still moves
    await h.release();
    await vi.waitFor(() => expect(h.started).toEqual(['w0', 'w1']), { timeout: 1000, interval: 5 });
    // Not at once after the first ended: at least yieldStartEveryMs after the first started.
    expect(h.startedAt[1]! - h.startedAt[0]!).toBeGreaterThanOrEqual(99);
    expect(q.active).toBe(1);
    foreground = false;
    // The workers fill again soon after, though the one pass under way has not ended.
    await vi.waitFor(() => expect(q.active).toBe(3), { timeout: 1000, interval: 5 });
    foreground = true;
    await h.release();
    await h.release();
    expect(q.active).toBe(1); // passes under way finish; no new one starts beside them
    await new Promise((r) => setTimeout(r, 150));
    expect(q.active).toBe(1);
    foreground = false;
    await h.releaseAll();
    await q.drain();
    expect(h.started).toHaveLength(10);
  });

  it('starts each pass in a turn of the loop of its own: I/O is served between passes', async () => {
    const turns: number[] = [];
    let turn = 0;
    const ticking = setInterval(() => turn++, 0);
    const q = new WorkQueue(async () => {
      turns.push(turn);
      // A pass of pure CPU work that ends at once.
      const until = performance.now() + 2;
      while (performance.now() < until);
    }, { ...options, concurrency: 1 });
    for (let i = 0; i < 5; i++) q.add(`w${i}`);
    await q.drain();
    clearInterval(ticking);
    // A timer ran between each two passes (before: all five ran within one turn).
    for (let i = 1; i < turns.length; i++) expect(turns[i]).toBeGreaterThan(turns[i - 1]!);
  });

  it('tells each pass when its key was first added since its last pass began, not when the pass starts', async () => {
    const woken: [string, number][] = [];
    const h = gatedHandler();
    const q = new WorkQueue((key, wokenAt) => (woken.push([key, wokenAt]), h.handle(key)), { ...options, concurrency: 1 });
    const t0 = performance.now();
    q.add('busy');
    q.add('a');
    await new Promise((r) => setTimeout(r, 30));
    q.add('a'); // deduplicated: the first add woke it
    q.add('busy'); // re-added during its pass: woken now
    const tBusy = performance.now();
    await new Promise((r) => setTimeout(r, 30));
    await h.releaseAll();
    await q.drain();
    expect(woken.map(([k]) => k)).toEqual(['busy', 'a', 'busy']);
    expect(woken[1]![1]).toBeLessThan(t0 + 20);
    expect(woken[2]![1]).toBeGreaterThanOrEqual(tBusy - 20);
    expect(woken[2]![1]).toBeLessThan(tBusy + 20);
  });

  it('serves keys first in, first out, and sends a key re-added during its pass to the back so a busy workload does not starve others', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handle, { ...options, concurrency: 1 });
    q.add('busy');
    for (const k of ['a', 'b', 'c']) q.add(k);
    // The busy workload is re-added during each of its passes (pod events keep arriving).
    for (let round = 0; round < 4; round++) {
      q.add('busy');
      await h.release();
    }
    await h.releaseAll();
    await q.drain();
    expect(h.started.slice(0, 5)).toEqual(['busy', 'a', 'b', 'c', 'busy']);
    // Between two passes of the busy key, every key that was waiting before it got its turn.
    expect(h.started.indexOf('c')).toBeLessThan(h.started.indexOf('busy', 1));
  });

  it.each([
    { failures: 0, want: 0 },
    { failures: 1, want: 10 },
    { failures: 2, want: 20 },
    { failures: 3, want: 40 },
    { failures: 4, want: 80 },
    { failures: 5, want: 80 },
    { failures: 500, want: 80 },
  ])('waits $want ms before the retry after $failures consecutive failures (base 10, cap 80)', ({ failures, want }) => {
    expect(backoffDelay(failures, 10, 80)).toBe(want);
  });

  it('retries a failed pass after its backoff, growing to the cap, and forgets the failures after a success', async () => {
    fakeBackoff();
    const errors: number[] = [];
    let calls = 0;
    const outcomes = [false, false, false, false, false, true];
    const q = new WorkQueue(
      async () => {
        const ok = outcomes[calls++];
        if (!ok) throw new Error('runtime unavailable');
      },
      { ...options, onError: (_key, _err, retryInMs) => errors.push(retryInMs) },
    );
    q.add('a');
    await advance(0);
    expect(calls).toBe(1);
    await advance(9);
    expect(calls).toBe(1); // not before its backoff
    await advance(1);
    expect(calls).toBe(2);
    for (const [backoff, n] of [[20, 3], [40, 4], [80, 5], [80, 6]] as const) {
      await advance(backoff - 1);
      expect(calls).toBe(n - 1); // not before its backoff
      await advance(1);
      expect(calls).toBe(n);
    }
    expect(errors).toEqual([10, 20, 40, 80, 80]);
    expect(q.retries('a')).toBe(0);
    await q.drain();
  });

  it('keeps one pending retry per key, and an add during the backoff runs the pass at once', async () => {
    fakeBackoff();
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        calls++;
        if (calls === 1) throw new Error('fails once');
      },
      options,
    );
    q.add('a');
    await advance(0);
    expect(calls).toBe(1);
    q.addRateLimited('a'); // a second retry request while one is pending: still one timer
    q.add('a'); // a new event does not wait for the backoff
    await advance(0);
    expect(calls).toBe(2);
    await advance(1000);
    expect(calls).toBe(3); // the one pending retry, once
  });

  it('finishes passes under way on shut down, and accepts nothing after', async () => {
    const h = gatedHandler();
    const q = new WorkQueue(h.handle, { ...options, concurrency: 1 });
    q.add('a');
    q.add('b');
    const stopped = q.shutDown();
    let done = false;
    void stopped.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false); // waits for a's pass
    await h.release('a');
    await stopped;
    q.add('c');
    await h.settle();
    expect(h.started).toEqual(['a']);
    expect(q.depth).toBe(0);
  });
});
