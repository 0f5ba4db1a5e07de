import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { deserializeLifecycle, jsonEqual, serializeLifecycle, toJsonValue, type StoredLifecycle } from '../../src/controller/lifecycle-store.js';

/** The text of a JSON value with its keys sorted: what the controller compared before `jsonEqual`. */
function sortedText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The round trip through text that `toJsonValue` stands for. */
function throughText(value: unknown): unknown {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

const key = fc.constantFrom('status', 'statusEnteredAt', 'expiresAt', 'stepEnteredAt', 'id', '0', '10', '__proto__', 'constructor', 'a b');
const date = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
const scalar = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, true, false, null, undefined),
  date,
  fc.constant(() => 1),
);

/** Plain values such as a lifecycle holds, and what else JSON.stringify drops or changes. */
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
  ),
}));

/** JSON values (what reads of `workload.lifecycle` give). */
const json = value.map(throughText).filter((v) => v !== undefined);

/** A value with its dates (invalid ones too, which never equal each other) as tagged text, for a deep comparison. */
function datesAsText(v: unknown): unknown {
  if (v instanceof Date) return { date: String(v.getTime()) };
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(datesAsText);
  const out: Record<string, unknown> = {};
  for (const [k, item] of Object.entries(v)) Object.defineProperty(out, k, { value: datesAsText(item), enumerable: true, writable: true, configurable: true });
  return out;
}

/** A JSON value with every object's keys in another order. */
function reordered(v: unknown, seed: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((item) => reordered(item, seed));
  const entries = Object.entries(v as Record<string, unknown>);
  const rotated = entries.length > 0 ? [...entries.slice(seed % entries.length), ...entries.slice(0, seed % entries.length)].reverse() : entries;
  const out: Record<string, unknown> = {};
  for (const [k, item] of rotated) Object.defineProperty(out, k, { value: reordered(item, seed), enumerable: true, writable: true, configurable: true });
  return out;
}

describe('the stored lifecycle', () => {
  it('copies a value to the JSON form a round trip through text gives', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(isDeepStrictEqual(toJsonValue(v), throughText(v))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('compares JSON values as their key-sorted texts do', () => {
    const pair = fc.oneof(
      fc.tuple(json, json),
      fc.tuple(json, fc.nat()).map(([v, seed]) => [v, reordered(v, seed)] as const),
      // Near misses: the same value with one more key somewhere, or a scalar swapped.
      fc.tuple(json, json).map(([v, w]) => [{ x: v, y: [v] }, { x: v, y: [w] }] as const),
      fc.tuple(json, json).map(([v, w]) => [{ x: v }, { x: v, y: w }] as const),
    );
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(jsonEqual(a, b)).toBe(sortedText(a) === sortedText(b));
        expect(jsonEqual(b, a)).toBe(jsonEqual(a, b));
      }),
      { numRuns: 3000 },
    );
  });

  it('tells an array from an object with the same items, and a missing key from another key', () => {
    expect(jsonEqual([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(jsonEqual({ 0: 1, 1: 2 }, [1, 2])).toBe(false);
    expect(jsonEqual({ a: 1, b: null }, { a: 1, c: null })).toBe(false);
    expect(jsonEqual({ a: [] }, { a: {} })).toBe(false);
    expect(jsonEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    // An own `__proto__` key (JSON.parse makes one) is not the other side's prototype.
    expect(jsonEqual(JSON.parse('{"__proto__":{}}'), { x: {} })).toBe(false);
    expect(jsonEqual(JSON.parse('{"__proto__":{}}'), JSON.parse('{"__proto__":{}}'))).toBe(true);
  });

  it('reads its timestamps back as dates, wherever they are, as a reviver over the text does', () => {
    const dateKeys = new Set(['statusEnteredAt', 'expiresAt', 'stepEnteredAt']);
    fc.assert(
      fc.property(json, (v) => {
        const revived = JSON.parse(JSON.stringify({ state: v }), (k, item: unknown) => (dateKeys.has(k) && typeof item === 'string' ? new Date(item) : item)) as unknown;
        expect(isDeepStrictEqual(datesAsText(deserializeLifecycle({ state: v })), datesAsText(revived))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips a lifecycle in the middle of a replacement', () => {
    const at = new Date('2026-12-07T10:00:00.123Z');
    const stored: StoredLifecycle = {
      replacementId: 'r-1',
      state: {
        status: 'running',
        statusEnteredAt: at,
        desiredState: 'running',
        artifact: { id: 'a-2', status: 'locked' },
        active: { protonId: 'p-1', artifactId: 'a-1', status: 'running' },
        candidate: { protonId: 'p-2', artifactId: 'a-2', status: 'warming' },
        replacement: { status: 'warming', fromArtifactId: 'a-1', toArtifactId: 'a-2', warmupSeconds: 30, keepOldVersionSeconds: 60, stepEnteredAt: at },
        retiring: ['p-0'],
        expiresAt: at,
      },
    };
    const written = serializeLifecycle(stored);
    expect(written).toStrictEqual(throughText(stored));
    expect(deserializeLifecycle(written)).toStrictEqual(stored);
    expect(jsonEqual(written, serializeLifecycle(deserializeLifecycle(written)))).toBe(true);
    const moved = { ...stored, state: { ...stored.state, candidate: { ...stored.state.candidate!, status: 'running' as const } } };
    expect(jsonEqual(written, serializeLifecycle(moved))).toBe(false);
  });
});
