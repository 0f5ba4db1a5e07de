import { describe, expect, it } from 'vitest';
import { StatementBatches } from '../../src/store/statement-batches.js';

/** A statement writer the test finishes by hand: each call waits until the test answers it. */
function manualStatements() {
  const calls: { items: string[]; answer: (results: PromiseSettledResult<string>[]) => void; fail: (err: unknown) => void }[] = [];
  const write = (items: readonly string[]) =>
    new Promise<PromiseSettledResult<string>[]>((resolve, reject) => calls.push({ items: [...items], answer: resolve, fail: reject }));
  const fulfilled = (items: string[]) => items.map((item): PromiseSettledResult<string> => ({ status: 'fulfilled', value: `wrote ${item}` }));
  return { calls, write, fulfilled };
}

const settle = <T>(p: Promise<T>) => p.then((value) => ({ value }), (err: Error) => ({ error: err.message }));
const turn = () => new Promise((r) => setImmediate(r));

describe('items written several to a statement', () => {
  it('writes an item that arrives with nothing being written at once, alone, and those arriving meanwhile together in the next statement', async () => {
    const s = manualStatements();
    const batches = new StatementBatches({ write: s.write, maxPerStatement: 10 });
    const first = batches.add('a');
    expect(s.calls.map((c) => c.items)).toEqual([['a']]);
    const rest = ['b', 'c', 'd'].map((item) => batches.add(item));
    expect([batches.writing, batches.waiting, batches.pending]).toEqual([1, 3, 4]);
    s.calls[0]!.answer(s.fulfilled(['a']));
    expect(await first).toBe('wrote a');
    await turn();
    expect(s.calls.map((c) => c.items)).toEqual([['a'], ['b', 'c', 'd']]);
    s.calls[1]!.answer(s.fulfilled(['b', 'c', 'd']));
    expect(await Promise.all(rest)).toEqual(['wrote b', 'wrote c', 'wrote d']);
    expect([batches.writing, batches.waiting, batches.pending]).toEqual([0, 0, 0]);
  });

  it('takes at most maxPerStatement items a statement, in arrival order', async () => {
    const s = manualStatements();
    const batches = new StatementBatches({ write: s.write, maxPerStatement: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((item) => batches.add(item));
    for (let i = 0; i < 3; i++) {
      await turn();
      s.calls[i]!.answer(s.fulfilled(s.calls[i]!.items));
    }
    expect(await Promise.all(all)).toEqual(['wrote a', 'wrote b', 'wrote c', 'wrote d', 'wrote e']);
    expect(s.calls.map((c) => c.items)).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
  });

  it('answers each item its own result: one refused does not refuse the others, and an item the statement did not answer fails', async () => {
    const s = manualStatements();
    const batches = new StatementBatches({ write: s.write, maxPerStatement: 10 });
    const first = batches.add('a');
    const rest = ['b', 'c', 'd'].map((item) => settle(batches.add(item)));
    s.calls[0]!.answer(s.fulfilled(['a']));
    await first;
    await turn();
    s.calls[1]!.answer([{ status: 'fulfilled', value: 'wrote b' }, { status: 'rejected', reason: new Error('name taken') }]);
    expect(await Promise.all(rest)).toEqual([{ value: 'wrote b' }, { error: 'name taken' }, { error: 'the statement answered 2 of its 3 items' }]);
  });

  it('fails the items of a statement that fails, and goes on with those waiting; a failure that would fail the next fails them too', async () => {
    const unavailable = (err: unknown) => (err as Error).message === 'database unreachable';
    for (const [message, waitingFail] of [['syntax error', false], ['database unreachable', true]] as const) {
      const s = manualStatements();
      const batches = new StatementBatches({ write: s.write, maxPerStatement: 10, failsWaiting: unavailable });
      const first = settle(batches.add('a'));
      const waiting = ['b', 'c'].map((item) => settle(batches.add(item)));
      s.calls[0]!.fail(new Error(message));
      expect(await first).toEqual({ error: message });
      await turn();
      if (waitingFail) {
        expect(await Promise.all(waiting)).toEqual([{ error: message }, { error: message }]);
        expect(s.calls).toHaveLength(1);
      } else {
        expect(s.calls.map((c) => c.items)).toEqual([['a'], ['b', 'c']]);
        s.calls[1]!.answer(s.fulfilled(['b', 'c']));
        expect(await Promise.all(waiting)).toEqual([{ value: 'wrote b' }, { value: 'wrote c' }]);
      }
      // Either way, the next item is written at once.
      const later = batches.add('z');
      expect(s.calls.at(-1)!.items).toEqual(['z']);
      s.calls.at(-1)!.answer(s.fulfilled(['z']));
      expect(await later).toBe('wrote z');
    }
  });
});
