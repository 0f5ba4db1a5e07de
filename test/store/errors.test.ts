/**
 * Which database failures count as "unavailable" (transient: requests answer 503, live streams
 * ride them out) rather than a wrong query. Each case is the error the driver really throws.
 */
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/store/errors.js';

describe('isDatabaseUnavailable', () => {
  // A server that accepts connections and never answers: a database too busy to say hello.
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('counts a connection that is not established within its timeout (node-postgres: "timeout expired")', async () => {
    const { port } = silent.address() as { port: number };
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'x', database: 'x', connectionTimeoutMillis: 100 });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it('counts a refused connection, and does not count a wrong query', async () => {
    const refused = await new pg.Client({ host: '127.0.0.1', port: 1, user: 'x', database: 'x' }).connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('syntax error at or near "selec"'), { code: '42601' }))).toBe(false);
    expect(isDatabaseUnavailable(new Error('timeout expired on something else entirely'))).toBe(false);
  });
});
