/**
 * The embedded database's one connection goes to queries' statements before the others'
 * (mutations, the controller's passes, the maintenance), which go once the oldest has waited a
 * bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRead, GateTimeoutError, isRead, PriorityGate } from '../../src/store/connection-priority.js';
import { openOrm, type Orm } from '../../src/store/orm.js';

describe('a priority gate', () => {
  it('passes to reads before the others, each in arrival order, and to the oldest other once it has waited the bound', async () => {
    let now = 0;
    const gate = new PriorityGate(50, () => now);
    const order: string[] = [];
    await gate.take(false);
    const waiters = [
      ...['o1', 'o2'].map((name) => gate.take(false).then(() => order.push(name))),
      ...['r1', 'r2', 'r3', 'r4'].map((name) => gate.take(true).then(() => order.push(name))),
    ];
    expect(gate.waiting).toEqual({ reads: 4, others: 2 });
    const release = async (at: number) => {
      now = at;
      gate.release();
      await new Promise((r) => setImmediate(r));
    };
    await release(10);
    await release(49);
    expect(order).toEqual(['r1', 'r2']);
    await release(50); // o1 has waited 50 ms
    await release(51); // so has o2
    await release(52);
    await release(53);
    await Promise.all(waiters);
    expect(order).toEqual(['r1', 'r2', 'o1', 'o2', 'r3', 'r4']);
    gate.release();
    // Open again: the next taker goes at once.
    await gate.take(false);
  });

  it('fails a waiter still waiting after its timeout, which leaves the queue; the others keep their turns', async () => {
    const gate = new PriorityGate();
    await gate.take(false);
    const late = gate.take(true, 20);
    const patient = gate.take(false, 10_000);
    await expect(late).rejects.toBeInstanceOf(GateTimeoutError);
    expect(gate.waiting).toEqual({ reads: 0, others: 1 });
    gate.release();
    await patient;
    gate.release();
    await gate.take(true, 10); // open: at once
  });

  it('knows a read across awaits, and only there', async () => {
    expect(isRead()).toBe(false);
    await asRead(async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(isRead()).toBe(true);
    });
    expect(isRead()).toBe(false);
  });
});

describe('the embedded database\'s connection', () => {
  let orm: Orm;
  beforeAll(async () => {
    orm = await openOrm({ kind: 'pglite-memory' }, { maintenance: false });
  });
  afterAll(() => orm?.close(true));

  it('runs a query\'s statement before the others that queued before it', async () => {
    const run = (sql: string) => orm.em.fork().getConnection().execute(sql, [], 'all');
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // A transaction (a controller's, a mutation's) holds the one connection...
    const holder = orm.em.fork().transactional(async (em) => {
      await em.getConnection().execute('select 1', [], 'all', em.getTransactionContext());
      await held;
    });
    await new Promise((r) => setTimeout(r, 20));
    // ...while more statements queue, then a query's (well within the others' bound of waiting).
    const others = Array.from({ length: 6 }, (_, i) => run(`select ${i}`).then(() => order.push(`other ${i}`)));
    const read = asRead(() => run('select 100').then(() => order.push('read')));
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    release();
    await Promise.all([holder, ...others, read]);
    expect(order[0]).toBe('read');
    expect(order.slice(1)).toEqual(Array.from({ length: 6 }, (_, i) => `other ${i}`));
  });
});
