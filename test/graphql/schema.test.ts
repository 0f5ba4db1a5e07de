import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { printedSchema } from '../../src/graphql/print-schema.js';

it('keeps schema/schema.graphql equal to the printed Pothos schema (run `npm run codegen` after a change)', async () => {
  const committed = await readFile(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(printedSchema());
});
