/**
 * The embedded database's one connection goes to queries' statements before the others'
 * (mutations, the controller's passes, the maintenance), with a turn for the others after a few
 * reads in a row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRead, isRead, PriorityGate, READS_IN_A_ROW } from '../../src/store/connection-priority.js';
import { openOrm, type Orm } from '../../src/store/orm.js';

describe('a priority gate', () => {
  it('passes to reads before the others, each in arrival order, and to the others after a few reads in a row', async () => {
    const gate = new PriorityGate(2);
    const order: string[] = [];
    await gate.take(false);
    const waiters = [
      ...['b1', 'b2'].map((name) => gate.take(false).then(() => order.push(name))),
      ...['f1', 'f2', 'f3', 'f4'].map((name) => gate.take(true).then(() => order.push(name))),
    ];
    expect(gate.waiting).toEqual({ reads: 4, others: 2 });
    for (let i = 0; i < 6; i++) {
      gate.release();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waiters);
    expect(order).toEqual(['f1', 'f2', 'b1', 'f3', 'f4', 'b2']);
    gate.release();
    // Open again: the next taker goes at once.
    await gate.take(false);
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
    // ...while more statements queue, then a query's.
    const others = Array.from({ length: READS_IN_A_ROW + 2 }, (_, i) => run(`select ${i}`).then(() => order.push(`other ${i}`)));
    await new Promise((r) => setTimeout(r, 5));
    const read = asRead(() => run('select 100').then(() => order.push('read')));
    await new Promise((r) => setTimeout(r, 5));
    release();
    await Promise.all([holder, ...others, read]);
    expect(order[0]).toBe('read');
    expect(order.slice(1)).toEqual(Array.from({ length: READS_IN_A_ROW + 2 }, (_, i) => `other ${i}`));
  });
});
