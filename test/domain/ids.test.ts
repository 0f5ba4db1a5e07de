import { describe, expect, it } from 'vitest';
import { workloadUuidFromPathId } from '../../src/domain/ids.js';

const uuid = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const global = Buffer.from(`Workload:${uuid}`).toString('base64');

describe('workloadUuidFromPathId', () => {
  it.each([
    ['a UUID', uuid, uuid],
    ['an upper-case UUID', uuid.toUpperCase(), uuid],
    ['the global id', global, uuid],
    ['the global id, URL-safe and unpadded', global.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), uuid],
    ['the global id of an artifact', Buffer.from(`Artifact:${uuid}`).toString('base64'), null],
    ['a global id holding no UUID', Buffer.from('Workload:42').toString('base64'), null],
    ['a name', 'hello', null],
    ['base64 of nothing useful', 'AAAA', null],
    ['characters outside base64', 'Workload:abc', null],
    ['an empty string', '', null],
    ['a very long id', 'A'.repeat(400), null],
  ])('reads %s', (_, input, want) => {
    expect(workloadUuidFromPathId(input)).toBe(want);
  });
});
