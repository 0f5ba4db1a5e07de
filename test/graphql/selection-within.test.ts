import { parse, type FragmentDefinitionNode, type GraphQLResolveInfo, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { operationSelectsWithin } from '../../src/graphql/common/selection.js';

/** What `operationSelectsWithin` reads of a resolver's info, for a document. */
function infoOf(source: string): GraphQLResolveInfo {
  const document = parse(source);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;
  const fragments = Object.fromEntries(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition').map((f) => [f.name.value, f]),
  );
  return { operation, fragments } as unknown as GraphQLResolveInfo;
}

describe('whether an operation selects a field directly on another', () => {
  it('finds a field directly on the other, through aliases, fragments and inline fragments, anywhere in the operation', () => {
    expect(operationSelectsWithin(infoOf('{ workload(id: "w") { statistics { requestCount } protons { id statistics { requestCount } } } }'), 'protons', 'statistics')).toBe(true);
    expect(operationSelectsWithin(infoOf('{ w: workload(id: "w") { ps: protons { s: statistics { requestCount } } } }'), 'protons', 'statistics')).toBe(true);
    expect(
      operationSelectsWithin(
        infoOf('{ workloads(first: 5) { edges { node { ...W } } } } fragment W on Workload { protons { ...P } } fragment P on Proton { ... on Proton { statistics { requestCount } } }'),
        'protons',
        'statistics',
      ),
    ).toBe(true);
  });

  it('does not count the field elsewhere: on another field, or deeper below the parent', () => {
    expect(operationSelectsWithin(infoOf('{ workload(id: "w") { statistics { requestCount } protons { id status } } }'), 'protons', 'statistics')).toBe(false);
    expect(operationSelectsWithin(infoOf('{ workload(id: "w") { protons { workload { statistics { requestCount } } } } }'), 'protons', 'statistics')).toBe(false);
    expect(operationSelectsWithin(infoOf('{ workload(id: "w") { ...W } } fragment W on Workload { statistics { requestCount } }'), 'protons', 'statistics')).toBe(false);
  });

  it('works each operation and pair out once', () => {
    const info = infoOf('{ workload(id: "w") { protons { statistics { requestCount } } } }');
    expect(operationSelectsWithin(info, 'protons', 'statistics')).toBe(true);
    (info.operation.selectionSet as unknown as { selections: unknown[] }).selections = [];
    expect(operationSelectsWithin(info, 'protons', 'statistics')).toBe(true);
    expect(operationSelectsWithin(info, 'protons', 'id')).toBe(false);
  });
});
