import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from './schema.js';

/** The schema in SDL, sorted: the committed `schema/schema.graphql` must equal this. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}
