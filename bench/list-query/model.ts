import { parse } from 'graphql';
import { measureComplexity } from '../../src/graphql/limits.js';
import { buildSchema } from '../../src/graphql/schema.js';

/** What the complexity model says each document costs at first: 100. */
export async function measureCosts(queries: readonly string[]): Promise<number[]> {
  const schema = buildSchema();
  return queries.map((q) => measureComplexity({ schema, document: parse(q), variableValues: { first: 100 } }));
}
