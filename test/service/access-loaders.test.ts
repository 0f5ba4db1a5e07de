import { describe, expect, it } from 'vitest';
import type { SharingRole } from '../../src/domain/model.js';
import { roleLoader } from '../../src/service/access-loaders.js';

/** A read of roles that records its batches and answers from `roles` when released. */
function fakeRead(roles: Record<string, SharingRole | null>) {
  const batches: string[][] = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  return {
    batches,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release: () => release(),
    read: async (ids: readonly string[]) => {
      batches.push([...ids]);
      await gate;
      return ids.map((id) => roles[id] ?? null);
    },
  };
}

describe('roleLoader', () => {
  it('answers a primed role at once, as a boolean, without reading', async () => {
    const db = fakeRead({});
    const roles = roleLoader(db.read);
    roles.prime('w1', 'OBSERVER');
    roles.prime('w2', null);
    expect(roles.holdsAny('w1')).toBe(true);
    expect(roles.holdsAny('w2')).toBe(false);
    expect(roles.known('w3')).toBeUndefined();
    expect(await roles.load('w1')).toBe('OBSERVER');
    expect(db.batches).toEqual([]);
  });

  it('reads an unknown role in one batch, then knows it', async () => {
    const db = fakeRead({ a: 'OWNER', b: null });
    const roles = roleLoader(db.read);
    const first = roles.holdsAny('a');
    expect(first).toBeInstanceOf(Promise);
    const [a, b, again] = await Promise.all([first, roles.holdsAny('b'), roles.load('a')]);
    expect([a, b, again]).toEqual([true, false, 'OWNER']);
    expect(db.batches).toEqual([['a', 'b']]);
    expect(roles.holdsAny('a')).toBe(true);
    expect(roles.holdsAny('b')).toBe(false);
    expect(db.batches).toHaveLength(1);
  });

  it('keeps the role it knows or is reading over one primed later', async () => {
    const db = fakeRead({ read: null });
    const roles = roleLoader(db.read);
    roles.prime('known', 'OWNER');
    roles.prime('known', null);
    expect(roles.known('known')).toBe('OWNER');

    db.hold();
    const loading = roles.load('read');
    roles.prime('read', 'EDITOR');
    expect(roles.known('read')).toBeUndefined();
    db.release();
    expect(await loading).toBeNull();
    expect(roles.known('read')).toBeNull();
    expect(roles.holdsAny('read')).toBe(false);
  });

  it('leaves a failed read unknown, so that a check fails rather than grants', async () => {
    const roles = roleLoader(async () => {
      throw new Error('database unavailable');
    });
    await expect(roles.holdsAny('x')).rejects.toThrow('database unavailable');
    expect(roles.known('x')).toBeUndefined();
  });
});
