import DataLoader from 'dataloader';
import { describe, expect, it } from 'vitest';
import { PrimedLoader } from '../../src/graphql/common/primed.js';

/** A request's loader that answers primed values at once (`src/graphql/common/primed.ts`). */
describe('PrimedLoader', () => {
  const loaderOf = (asked: string[][]) =>
    new PrimedLoader(new DataLoader(async (keys: readonly string[]) => {
      asked.push([...keys]);
      return keys.map((k) => `loaded ${k}`);
    }));

  it('answers a primed key at once, with no promise and no load', async () => {
    const asked: string[][] = [];
    const loader = loaderOf(asked);
    loader.prime('a', 'primed a');
    expect(loader.load('a')).toBe('primed a');
    expect(await loader.load('b')).toBe('loaded b');
    expect(asked).toEqual([['b']]);
  });

  it('keeps the first value of a key, as DataLoader does: a second prime, or a prime after a load was asked, changes nothing', async () => {
    const asked: string[][] = [];
    const loader = loaderOf(asked);
    loader.prime('a', 'first');
    loader.prime('a', 'second');
    expect(loader.load('a')).toBe('first');
    const pending = loader.load('b');
    loader.prime('b', 'primed too late');
    expect(await pending).toBe('loaded b');
    expect(await loader.load('b')).toBe('loaded b');
  });
});
