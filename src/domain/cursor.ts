/**
 * Cursors of keyset pages: opaque to clients, made by the GraphQL layer for each edge and read
 * back (and checked) by the store's pagination.
 */

/** Encodes the keyset position of a row as an opaque cursor. */
export function encodeCursor(value: string | Date, id: string): string {
  const v = value instanceof Date ? value.toISOString() : value;
  return Buffer.from(JSON.stringify([v, id]), 'utf8').toString('base64url');
}
