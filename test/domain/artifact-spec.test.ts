import { describe, expect, it } from 'vitest';
import { isImageReference, parseQuantity, resourcesSchema } from '../../src/domain/artifact-spec.js';

describe('isImageReference', () => {
  it.each([
    ['nginx', true],
    ['nginx:1.25', true],
    ['library/nginx:latest', true],
    ['docker.io/library/nginx:1.25-alpine', true],
    ['registry.example.com:5000/team/app:v1.2.3', true],
    ['localhost/app', true],
    [`app@sha256:${'0'.repeat(64)}`, true],
    [`ghcr.io/org/app:1.0@sha256:${'f'.repeat(64)}`, true],
    ['Registry.Example.com/team/app', true],
    ['my_app__v2/x-y.z', true],
    ['', false],
    ['Nginx', false],
    ['registry.io/Team/app', false],
    ['app:', false],
    ['app:-tag', false],
    ['app@sha256:abc', false],
    ['has space', false],
    ['/leading/slash', false],
    ['trailing/', false],
    ['a//b', false],
    [`${'a'.repeat(256)}`, false],
    [`app:${'t'.repeat(129)}`, false],
  ])('says %j is %s', (ref, valid) => {
    expect(isImageReference(ref)).toBe(valid);
  });
});

describe('parseQuantity', () => {
  it.each([
    ['500m', 0.5],
    ['2', 2],
    ['1.5', 1.5],
    ['.5', 0.5],
    ['1Ki', 1024],
    ['2Gi', 2 * 2 ** 30],
    ['1M', 1e6],
    ['1e3', 1000],
    ['5E-1', 0.5],
    ['1E', 1e18],
    ['2Ei', 2 * 2 ** 60],
    ['128974848', 128974848],
  ])('reads %s as %d', (q, value) => {
    expect(parseQuantity(q)).toBeCloseTo(value);
  });

  it.each(['', 'lots', '1 Gi', '1GB', '-1', '1.2.3', 'Gi'])('refuses %j', (q) => {
    expect(parseQuantity(q)).toBeUndefined();
  });
});

describe('resourcesSchema', () => {
  it.each([
    [{ cpu: '1T' }, true],
    [{ cpu: '1000000000001' }, false],
    [{ cpu: '1e999' }, false],
    [{ memory: '8Pi' }, true],
    [{ memory: '9007199254740994' }, false],
    [{ memory: '1E' }, false],
  ])('bounds %j so that quota sums stay exact (accepted: %s)', (resources, accepted) => {
    const result = resourcesSchema.safeParse(resources);
    expect(result.success).toBe(accepted);
    if (!result.success) expect(result.error.issues[0]!.message).toMatch(/^must be at most (1T|8Pi)$/);
  });
});
