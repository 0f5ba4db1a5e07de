// Writes schema/schema.graphql from the Pothos schema (run by `npm run schema:print`).
import { writeFile } from 'node:fs/promises';
import { printedSchema } from '../src/graphql/print-schema.js';

await writeFile(new URL('../schema/schema.graphql', import.meta.url), printedSchema());
process.stdout.write('wrote schema/schema.graphql\n');
