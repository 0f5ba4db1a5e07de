import { describe, expect, it } from 'vitest';
import { KeyedLimit } from '../../src/service/keyed-limit.js';

/** A task that records how many of its key run beside it, and ends when released. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { done, release };
}

describe('KeyedLimit', () => {
  it('runs at most `width` tasks of one key at once, the rest in arrival order, and other keys beside them', async () => {
    const limit = new KeyedLimit(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const task = (key: string, name: string) =>
      limit.run(key, async () => {
        started.push(name);
        const g = gate();
        gates.set(name, g);
        await g.done;
        return name;
      });
    const runs = [task('a', 'a1'), task('a', 'a2'), task('a', 'a3'), task('a', 'a4'), task('b', 'b1')];
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual(['a1', 'a2', 'b1']);
    gates.get('a2')!.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual(['a1', 'a2', 'b1', 'a3']);
    for (const name of ['a1', 'a3', 'b1']) gates.get(name)!.release();
    await new Promise((r) => setTimeout(r, 0));
    gates.get('a4')!.release();
    expect(await Promise.all(runs)).toEqual(['a1', 'a2', 'a3', 'a4', 'b1']);
    expect(limit.size).toBe(0);
  });

  it('passes a task\'s failure to its caller and goes on with the next', async () => {
    const limit = new KeyedLimit(1);
    const failed = limit.run('k', async () => {
      throw new Error('refused');
    });
    const next = limit.run('k', async () => 'next');
    await expect(failed).rejects.toThrow('refused');
    await expect(next).resolves.toBe('next');
    expect(limit.size).toBe(0);
  });
});
