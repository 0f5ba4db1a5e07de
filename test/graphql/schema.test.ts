import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import type { GraphQLObjectType } from 'graphql';
import { printedSchema } from '../../src/graphql/print-schema.js';
import { buildSchema } from '../../src/graphql/schema.js';

it('keeps schema/schema.graphql equal to the printed Pothos schema (run `npm run codegen` after a change)', async () => {
  const committed = await readFile(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(printedSchema());
});

it('types ForbiddenError.viewerRole as Workload.viewerRole and Artifact.viewerRole, so a client\'s refusal fragment and its object fragments agree', () => {
  const schema = buildSchema();
  const typeOf = (type: string) => String((schema.getType(type) as GraphQLObjectType).getFields().viewerRole?.type);
  expect(typeOf('ForbiddenError')).toBe('SharingRole!');
  expect(typeOf('Workload')).toBe('SharingRole!');
  expect(typeOf('Artifact')).toBe('SharingRole!');
});
