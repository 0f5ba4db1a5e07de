import { execute, GraphQLObjectType, GraphQLSchema, GraphQLString, GraphQLUnionType, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { guardAbstractTypes, readableBy } from '../../src/graphql/common/readable.js';

/**
 * A `readableBy` type checks the caller's role as its object completes; while an abstract type
 * works out which type a value is (graphql's default resolver asks every possible type), it
 * answers by the value's shape alone, and asks no role loader.
 */
type Value = { id: string; kind: 'a' | 'b' };
const A = new GraphQLObjectType({
  name: 'A',
  fields: { id: { type: GraphQLString } },
  isTypeOf: readableBy<Value>('A', 'workloadReader', (v) => v.id, (v) => (v as Value).kind === 'a'),
});
const B = new GraphQLObjectType({
  name: 'B',
  fields: { id: { type: GraphQLString } },
  isTypeOf: readableBy<Value>('B', 'artifactReader', (v) => v.id, (v) => (v as Value).kind === 'b'),
});
const schema = guardAbstractTypes(
  new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      // No resolveType of its own: graphql's default asks each type's isTypeOf.
      fields: { u: { type: new GraphQLUnionType({ name: 'U', types: [A, B], resolveType: undefined }), resolve: (_root, _args, ctx: { value: Value }) => ctx.value } },
    }),
  }),
);

function run(value: Value, roles: { workload: boolean; artifact: boolean }) {
  const asked: string[] = [];
  const loader = (name: string, holds: boolean) => ({ holdsAny: (id: string) => (asked.push(`${name}:${id}`), holds) });
  const contextValue = { value, access: { workloadRole: loader('workload', roles.workload), artifactRole: loader('artifact', roles.artifact) } };
  return { asked, result: execute({ schema, document: parse('{ u { __typename ... on A { id } ... on B { id } } }'), contextValue }) };
}

describe('a type only a caller with a role may read, behind an abstract type', () => {
  it('is told by its shape, then checked once with its own role loader', async () => {
    const { asked, result } = run({ id: 'x', kind: 'b' }, { workload: false, artifact: true });
    expect(await result).toEqual({ data: { u: { __typename: 'B', id: 'x' } } });
    expect(asked).toEqual(['artifact:x']);
  });

  it('is refused with FORBIDDEN when the caller holds no role on it', async () => {
    const { result } = run({ id: 'x', kind: 'a' }, { workload: false, artifact: true });
    const answered = await result;
    expect(answered.data).toEqual({ u: null });
    expect(answered.errors?.map((e) => [e.message, (e.originalError as { code?: string }).code])).toEqual([['Not authorized to read fields for A', 'FORBIDDEN']]);
  });
});
