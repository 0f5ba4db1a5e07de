import { resolveCursorConnection } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { resolveLazyCursorConnection, type CursorWindow } from '../../src/graphql/common/connection.js';

/** Rows 1..n answered for a window as a keyset store would: after/before by value, limit rows, inverted from the end. */
function store(n: number) {
  const rows = Array.from({ length: n }, (_, i) => i + 1);
  return async ({ before, after, limit, inverted }: CursorWindow) => {
    let slice = rows.filter((r) => (after === undefined || r > Number(after)) && (before === undefined || r < Number(before)));
    if (inverted) slice = slice.reverse();
    return slice.slice(0, limit);
  };
}

/** The connection as a query reads it: every edge's cursor and node, and the page info. */
function read(connection: { edges: readonly { cursor: string; node: number }[]; pageInfo: Record<string, unknown> }) {
  const { startCursor, endCursor, hasPreviousPage, hasNextPage } = connection.pageInfo;
  return { edges: connection.edges.map((e) => ({ cursor: e.cursor, node: e.node })), pageInfo: { startCursor, endCursor, hasPreviousPage, hasNextPage } };
}

describe('a list connection with lazy cursors', () => {
  const cases = [
    { first: 3 },
    { first: 3, after: '2' },
    { first: 3, after: '9' },
    { first: 3, after: '10' },
    { last: 3 },
    { last: 3, before: '5' },
    { last: 3, before: '1' },
    { first: 20 },
    {},
  ];
  it.each(cases)('answers %o as Pothos\' resolveCursorConnection does', async (args) => {
    const options = { args, defaultSize: 4, maxSize: 50, toCursor: (n: number) => String(n) };
    const pothos = await resolveCursorConnection(options, store(10));
    const lazy = await resolveLazyCursorConnection(options, store(10));
    expect(read(lazy)).toEqual(read(pothos as never));
  });

  it('makes no cursor a query does not read, and each one it reads once', async () => {
    const made: number[] = [];
    const connection = await resolveLazyCursorConnection(
      { args: { first: 5 }, defaultSize: 4, maxSize: 50, toCursor: (n: number) => (made.push(n), String(n)) },
      store(10),
    );
    expect(connection.edges.map((e) => e.node)).toEqual([1, 2, 3, 4, 5]);
    expect(connection.pageInfo.hasNextPage).toBe(true);
    expect(made).toEqual([]);
    expect(connection.pageInfo.endCursor).toBe('5');
    expect(connection.edges[4]!.cursor).toBe('5');
    expect(connection.edges[1]!.cursor).toBe('2');
    expect(made).toEqual([5, 2]);
  });
});
