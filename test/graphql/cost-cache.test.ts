/**
 * An operation's cost is kept per document under the variables that can change it (Int page sizes,
 * Boolean @include/@skip): what is kept must be what a fresh measure says, whatever varies.
 */
import { parse, type DocumentNode } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { complexityErrors, measureComplexity } from '../../src/graphql/limits.js';
import { buildSchema } from '../../src/graphql/schema.js';

type Schema = ReturnType<typeof buildSchema>;

describe('the cost kept per document', () => {
  let schema: Schema;
  beforeAll(() => {
    schema = buildSchema();
  });

  /** The cost measured on a document parsed afresh (nothing kept for it), and on the shared one. */
  const both = (shared: DocumentNode, variableValues: Record<string, unknown>, operationName?: string) => ({
    fresh: measureComplexity({ schema, document: parse(shared.loc!.source), variableValues, operationName }),
    kept: measureComplexity({ schema, document: shared, variableValues, operationName }),
  });

  it('follows the page sizes and the operation chosen', () => {
    const doc = parse(`
      query Page($n: Int, $withProtons: Boolean!, $id: ID) {
        workloads(first: $n) { edges { node { id protons @include(if: $withProtons) { id } } } }
        workload(id: $id) { __typename }
      }
      query Small { workloads(first: 1) { totalCount } }`);
    const seen = new Set<number>();
    for (const n of [1, 20, 100, 1, 20]) {
      for (const withProtons of [true, false]) {
        for (const id of ['a', 'b']) {
          const { fresh, kept } = both(doc, { n, withProtons, id }, 'Page');
          expect(kept).toBe(fresh);
          seen.add(kept);
        }
      }
    }
    // Three page sizes; the id changes nothing. (The measure counts a field under @include whatever
    // its flag, so the flag changes nothing either; it is kept in the key all the same.)
    expect(seen.size).toBe(3);
    const small = both(doc, {}, 'Small');
    expect(small.kept).toBe(small.fresh);
    expect(small.kept).toBeLessThan(Math.min(...seen));
  });

  it("tells an absent variable (its default applies) from a null one (the argument's default applies)", () => {
    const doc = parse(`query($n: Int = 5) { workloads(first: $n) { edges { node { id } } } }`);
    for (const variables of [{}, { n: 5 }, { n: 50 }, {}, { n: null }]) {
      const { fresh, kept } = both(doc, variables);
      expect(kept).toBe(fresh);
    }
  });

  it('reports invalid variables as before, keeps nothing for them, and measures the valid ones after', () => {
    const doc = parse(`query($n: Int) { workloads(first: $n) { edges { node { id } } } }`);
    const invalid = complexityErrors({ schema, document: doc, variableValues: { n: 'many' } }, 1_000_000);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]!.message).toMatch(/\$n/);
    expect(complexityErrors({ schema, document: doc, variableValues: { n: 'many' } }, 1_000_000)).toHaveLength(1);
    const { fresh, kept } = both(doc, { n: 10 });
    expect(kept).toBe(fresh);
    expect(complexityErrors({ schema, document: doc, variableValues: { n: 10 } }, kept - 1)).toHaveLength(1);
    expect(complexityErrors({ schema, document: doc, variableValues: { n: 10 } }, kept)).toEqual([]);
  });
});
