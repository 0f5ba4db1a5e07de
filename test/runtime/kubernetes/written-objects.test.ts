/**
 * Read-your-writes over an informer's cache: what `WrittenObjects.newer` answers for each order
 * in which our write, the watch and a list can arrive.
 */
import type { V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { WrittenObjects, resourceVersionOf } from '../../../src/runtime/kubernetes/written-objects.js';

const svc = (rv: string, uid = 'u1', selector = 'a'): V1Service => ({ metadata: { name: 'workload-1', uid, resourceVersion: rv }, spec: { selector: { p: selector } } });

describe('written objects (read-your-writes)', () => {
  it.each([
    ['12', 12n],
    ['0', 0n],
    ['', undefined],
    ['abc', undefined],
    ['12.5', undefined],
    [undefined, undefined],
  ])('reads resourceVersion %j as %s', (value, expected) => {
    expect(resourceVersionOf(value)).toBe(expected);
  });

  it('answers our write while the cache holds an older version, and the cache once it has ours or newer', () => {
    const w = new WrittenObjects<V1Service>();
    const cached = svc('10');
    const ours = svc('11', 'u1', 'b');
    w.wrote(ours, cached);
    expect(w.newer('workload-1', cached)).toBe(ours);
    const watched = svc('11', 'u1', 'b');
    w.seen('workload-1', watched);
    expect(w.newer('workload-1', watched)).toBe(watched);
    expect(w.size).toBe(0);
  });

  it('lets a newer version from another writer win over our older write', () => {
    const w = new WrittenObjects<V1Service>();
    w.wrote(svc('11', 'u1', 'ours'), svc('10'));
    const theirs = svc('15', 'u1', 'theirs');
    expect(w.newer('workload-1', theirs)).toBe(theirs);
  });

  it('answers a create before the watch brings it, when the cache has nothing', () => {
    const w = new WrittenObjects<V1Service>();
    const created = svc('20', 'u2');
    w.wrote(created, undefined);
    expect(w.newer('workload-1', undefined)).toBe(created);
    expect([...w.names()]).toEqual(['workload-1']);
  });

  it('answers a delete as gone until the watch reports it, and a re-create after it as present', () => {
    const w = new WrittenObjects<V1Service>();
    const cached = svc('30');
    w.deleted('workload-1', cached);
    expect(w.newer('workload-1', cached)).toBeUndefined();
    w.gone('workload-1', svc('31'));
    expect(w.size).toBe(0);
    const recreated = svc('40', 'u3');
    w.wrote(recreated, undefined);
    w.gone('workload-1', svc('31'));
    expect(w.newer('workload-1', undefined)).toBe(recreated);
  });

  it('answers a foreground delete with the object being deleted until the watch shows the deletion', () => {
    const w = new WrittenObjects<V1Service>();
    const cached = svc('50');
    const deleting: V1Service = { ...cached, metadata: { ...cached.metadata, deletionTimestamp: new Date() } };
    w.deleted('workload-1', cached, deleting);
    expect(w.newer('workload-1', cached)).toBe(deleting);
    const watched = svc('51');
    expect(w.newer('workload-1', watched)).toBe(watched);
  });

  it('forgets what a list at a newer resourceVersion holds, and keeps what is newer than the list', () => {
    const w = new WrittenObjects<V1Service>();
    w.wrote(svc('60'), undefined);
    w.forgetUpTo(59n);
    expect(w.size).toBe(1);
    w.forgetUpTo(60n);
    expect(w.size).toBe(0);
  });

  it('never remembers a write whose resourceVersion is not an integer', () => {
    const w = new WrittenObjects<V1Service>();
    w.wrote(svc('opaque'), undefined);
    expect(w.size).toBe(0);
    expect(w.newer('workload-1', undefined)).toBeUndefined();
  });

  it('lets an entry expire after its time to live', () => {
    let now = 0;
    const w = new WrittenObjects<V1Service>(1000, () => now);
    const cached = svc('70');
    w.wrote(svc('71', 'u1', 'b'), cached);
    now = 999;
    expect(w.newer('workload-1', cached)?.metadata?.resourceVersion).toBe('71');
    now = 1001;
    expect(w.newer('workload-1', cached)).toBe(cached);
    expect(w.size).toBe(0);
  });
});
