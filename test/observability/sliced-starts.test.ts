import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpFront } from '../../src/observability/http-front.js';
import { Readiness } from '../../src/observability/readiness.js';
import { RequestScopes } from '../../src/observability/request-scope.js';
import { SlicedStarts } from '../../src/observability/sliced-starts.js';

/** Counts turns of the event loop: one tick per check phase, until stopped. */
function turnCounter(): { readonly turn: () => number; stop(): void } {
  let turn = 0;
  let running = true;
  const tick = (): void => {
    turn += 1;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return { turn: () => turn, stop: () => (running = false) };
}

describe('SlicedStarts', () => {
  it('starts at once while the turn has room, and the rest in later turns, a slice each, in arrival order', async () => {
    let clock = 0;
    const starts = new SlicedStarts(5, () => clock);
    const turns = turnCounter();
    const ran: Array<{ id: number; turn: number }> = [];
    const done = new Promise<void>((resolve) => {
      for (let id = 0; id < 10; id += 1) {
        starts.run(() => {
          ran.push({ id, turn: turns.turn() });
          clock += 2; // each start costs 2 ms of the loop
          if (id === 9) resolve();
        });
      }
    });
    // 0 ms, 2 ms and 4 ms into the slice: three ran; the fourth found 6 ms used.
    expect(ran.map((r) => r.id)).toEqual([0, 1, 2]);
    expect(starts.waiting).toBe(7);
    await done;
    turns.stop();
    expect(ran.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const byTurn = new Map<number, number[]>();
    for (const r of ran.slice(3)) byTurn.set(r.turn, [...(byTurn.get(r.turn) ?? []), r.id]);
    // Then a slice in each check phase, this turn's first (turn 1): three starts in each (0, 2,
    // 4 ms into its slice), then the one left.
    expect([...byTurn.entries()]).toEqual([[1, [3, 4, 5]], [2, [6, 7, 8]], [3, [9]]]);
    expect(starts.waiting).toBe(0);
  });

  it('goes on with the starts behind one that throws', async () => {
    const starts = new SlicedStarts(0);
    const ran: number[] = [];
    const thrown: unknown[] = [];
    const onUncaught = (err: unknown) => thrown.push(err);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      await new Promise<void>((resolve) => {
        starts.run(() => ran.push(0));
        starts.run(() => {
          throw new Error('a start failed');
        });
        starts.run(() => {
          ran.push(2);
          resolve();
        });
      });
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(ran).toEqual([0, 2]);
    expect(thrown).toHaveLength(1);
    expect(starts.waiting).toBe(0);
  });

  it('gives a new turn a new slice once nothing waits', async () => {
    let clock = 0;
    const starts = new SlicedStarts(5, () => clock);
    const ran: number[] = [];
    starts.run(() => ran.push(1));
    clock += 10;
    starts.run(() => ran.push(2)); // the slice is spent: waits
    expect(ran).toEqual([1]);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual([1, 2]);
    starts.run(() => ran.push(3)); // a new turn, nothing waiting: at once
    expect(ran).toEqual([1, 2, 3]);
  });

  it('makes progress with a slice shorter than one start', async () => {
    let clock = 0;
    const starts = new SlicedStarts(0, () => clock);
    const ran: number[] = [];
    await new Promise<void>((resolve) => {
      for (let id = 0; id < 4; id += 1) {
        starts.run(() => {
          ran.push(id);
          clock += 1;
          if (id === 3) resolve();
        });
      }
    });
    expect(ran).toEqual([0, 1, 2, 3]);
  });

  it("lets the loop's timers run between slices of a burst", async () => {
    const starts = new SlicedStarts(5);
    let waitingWhenTimerRan = -1;
    setTimeout(() => (waitingWhenTimerRan = starts.waiting), 0);
    await new Promise<void>((resolve) => {
      for (let id = 0; id < 200; id += 1) {
        starts.run(() => {
          const until = performance.now() + 1; // a start that holds the loop for 1 ms
          while (performance.now() < until);
          if (id === 199) resolve();
        });
      }
    });
    // A turn starts about five: the timer, due after 1 ms, ran long before the burst was started.
    expect(waitingWhenTimerRan).toBeGreaterThan(150);
  });
});

describe('HttpFront', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('starts a burst of requests over several turns, answers each, and answers probes without queueing them', async () => {
    const order: number[] = [];
    let front: HttpFront | undefined;
    let mostWaiting = 0;
    front = new HttpFront({
      scopes: new RequestScopes(pino({ level: 'silent' })),
      readiness: new Readiness([], 1000),
      metrics: null,
      invoke: { handles: () => false, handle: () => undefined },
      graphql: (req: IncomingMessage, res) => {
        mostWaiting = Math.max(mostWaiting, front?.waitingStarts ?? 0);
        order.push(Number(req.headers['x-n']));
        res.end('ok');
      },
      startSliceMs: 0, // one start per turn
    });
    server = createServer(front.handle);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    // Connected (and accepted) first, then written in one go: the requests reach the server in one turn.
    let accepted = 0;
    const allAccepted = new Promise<void>((resolve) => server?.on('connection', () => ++accepted === 41 && resolve()));
    const sockets = await Promise.all(
      Array.from({ length: 41 }, async () => {
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        return socket;
      }),
    );
    await allAccepted;
    const answered = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let text = '';
          socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          socket.on('end', () => resolve(text));
        }),
    );
    sockets.forEach((socket, n) => {
      const path = n === 40 ? '/healthz' : '/graphql';
      socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nx-n: ${n}\r\nconnection: close\r\n\r\n`);
    });
    const answers = (await Promise.all(answered)).map((text) => ({ status: Number(text.split(' ')[1]), body: text.split('\r\n\r\n')[1] ?? '' }));
    expect(answers.slice(0, 40).every((a) => a.status === 200 && a.body.endsWith('ok'))).toBe(true);
    expect(answers[40]).toMatchObject({ status: 200 });
    expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    // Requests that arrived in one turn waited for later ones to start.
    expect(mostWaiting).toBeGreaterThan(0);
    expect(front.waitingStarts).toBe(0);
  });
});
