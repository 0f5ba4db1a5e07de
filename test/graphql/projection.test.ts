import {
  GraphQLInterfaceType, GraphQLList, GraphQLObjectType, GraphQLSchema, GraphQLString, Kind, parse,
  type FragmentDefinitionNode, type GraphQLResolveInfo, type OperationDefinitionNode,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { propertiesRead, reads } from '../../src/graphql/common/projection.js';

/**
 * What a list reads of its rows follows the fields the operation selects (ADR 0061 decision 23):
 * each field declares what it reads of its object; one that declares nothing may read anything.
 */
const Named = new GraphQLInterfaceType({ name: 'Named', fields: { label: { type: GraphQLString } } });
const Part = new GraphQLObjectType({
  name: 'Part',
  fields: () => ({
    id: { type: GraphQLString },
    color: { type: GraphQLString, ...reads('color') },
    // Reads its thing's `log` through a loader.
    history: { type: GraphQLString, ...reads('thing', 'Thing.log') },
  }),
});
const Thing = new GraphQLObjectType({
  name: 'Thing',
  interfaces: [Named],
  fields: () => ({
    id: { type: GraphQLString },
    name: { type: GraphQLString, ...reads('name') },
    size: { type: GraphQLString, ...reads('width', 'height') },
    parts: { type: new GraphQLList(Part), ...reads() },
    label: { type: GraphQLString, ...reads('name') },
    anything: { type: GraphQLString },
  }),
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { things: { type: new GraphQLList(Thing) }, named: { type: Named } } }),
  types: [Thing],
});

function infoOf(document: string): GraphQLResolveInfo {
  const parsed = parse(document);
  const operation = parsed.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(
    parsed.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  return { schema, operation, fragments } as unknown as GraphQLResolveInfo;
}

const ALWAYS = ['id'] as const;
const read = (document: string, type = 'Thing', always: readonly string[] = ALWAYS) => {
  const found = propertiesRead(infoOf(document), type, always);
  return found && [...found].sort();
};

describe('the properties an operation reads of a type', () => {
  it('are what its selected fields declare, with what is always read', () => {
    expect(read('{ things { id name } }')).toEqual(['id', 'name']);
    expect(read('{ things { __typename size parts { id } } }')).toEqual(['height', 'id', 'width']);
    expect(read('{ things { id } }', 'Thing', ['id', 'name'])).toEqual(['id', 'name']);
    // A type the operation does not select: only what is always read.
    expect(read('{ things { id } }', 'Part', ['id', 'thing'])).toEqual(['id', 'thing']);
  });

  it('count a field anywhere in the operation: fragments (spread or not), inline fragments, an interface the type implements', () => {
    expect(read('{ things { id ...F } } fragment F on Thing { size }')).toEqual(['height', 'id', 'width']);
    expect(read('{ things { id } } fragment Unused on Thing { name }')).toEqual(['id', 'name']);
    expect(read('{ named { ... on Thing { size } } }')).toEqual(['height', 'id', 'width']);
    // A field selected on the interface may be answered by any type that implements it, which then may read anything.
    expect(read('{ things { id } named { label } }')).toBeUndefined();
  });

  it('take a field\'s reads of another type through its loaders', () => {
    expect(read('{ things { parts { color history } } }', 'Part', ['id'])).toEqual(['color', 'id', 'thing']);
    expect(read('{ things { parts { history } } }')).toEqual(['id', 'log']);
  });

  it('are every property (undefined) when a selected field declares nothing', () => {
    expect(read('{ things { name anything } }')).toBeUndefined();
    expect(read('{ things { name } } fragment G on Thing { anything }')).toBeUndefined();
  });

  it('are worked out once per operation, for each type and list of what is always read', () => {
    const info = infoOf('{ things { name } }');
    const first = propertiesRead(info, 'Thing', ALWAYS);
    expect(propertiesRead(info, 'Thing', ALWAYS)).toBe(first);
    const other = propertiesRead(info, 'Thing', ['id', 'size']);
    expect([...other!].sort()).toEqual(['id', 'name', 'size']);
    expect(propertiesRead(info, 'Thing', ALWAYS)).toBe(first);
  });
});
