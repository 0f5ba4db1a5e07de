import { afterAll, beforeAll, expect, it } from 'vitest';
import { userViewer } from '../../src/auth/viewer.js';
import { LiveService, SubscriptionEnded } from '../../src/service/live.service.js';
import type { WorkloadEvent } from '../../src/store/entities/index.js';
import { CreateWorkloadDocument, UpdateWorkloadDocument } from '../graphql/generated/graphql.js';
import { createDatabase, describeEachDatabase } from '../support/backends.js';
import { artifactInput, workloadInput } from '../support/fixtures.js';
import { eventually, startLiveApp, type LiveApp } from '../support/live.js';
import type { TestSubject } from '../support/test-app.js';

const owner: TestSubject = { sub: 'developer' };

describeEachDatabase('a subscriber that falls behind', (backend) => {
  let t: LiveApp;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createDatabase(backend);
    drop = db.drop;
    t = await startLiveApp(db.database);
  });
  afterAll(async () => {
    await t?.stop();
    await drop?.();
  });

  it('is ended with SLOW_CONSUMER once more events than the limit wait for it, holding no payloads meanwhile, and resumes with `after`', async () => {
    const { createWorkload } = await t.exec(owner, CreateWorkloadDocument, { input: workloadInput({ artifact: artifactInput() }) as never });
    if (createWorkload.__typename !== 'CreateWorkloadPayload') throw new Error(createWorkload.__typename);
    const globalId = createWorkload.workload.id;
    const id = Buffer.from(globalId, 'base64').toString().split(':')[1] ?? '';
    const update = async (description: string) => {
      const { updateWorkload } = await t.exec(owner, UpdateWorkloadDocument, { input: { id: globalId, description } as never });
      if (updateWorkload.__typename !== 'UpdateWorkloadPayload') throw new Error(updateWorkload.__typename);
    };
    // The streams of the running app, with a small limit; the test is the consumer and pulls by hand.
    const live = new LiveService({ orm: t.app.orm, workloads: t.app.services.workloads, feed: t.app.bus.feed, maxPendingEvents: 3 });
    let slowSignals = 0;
    const stream = live.workloadEvents(userViewer(owner.sub), id, 0, { onSlowConsumer: () => (slowSignals += 1) });
    const first = await stream.next();
    expect((first.value as WorkloadEvent).sequence).toBe(1);
    // The consumer stops pulling while eight events happen.
    for (let i = 1; i <= 8; i += 1) await update(`change ${i}`);
    await eventually(() => slowSignals === 1, 'the slow-consumer signal (the transport closes the connection on it)');
    const rest: (WorkloadEvent | SubscriptionEnded)[] = [];
    for await (const item of stream) rest.push(item);
    const delivered = [1, ...rest.flatMap((r) => (r instanceof SubscriptionEnded ? [] : [r.sequence]))];
    const end = rest.at(-1);
    expect(end).toBeInstanceOf(SubscriptionEnded);
    expect(end).toMatchObject({ code: 'SLOW_CONSUMER' });
    expect((end as SubscriptionEnded).message).toContain(`after: ${delivered.at(-1)}`);
    expect(delivered).toEqual(delivered.map((_, i) => i + 1));
    expect(delivered.length).toBeLessThan(9);
    // Everything it missed is in the database: resuming with `after` gets exactly the rest.
    const resumed = live.workloadEvents(userViewer(owner.sub), id, delivered.at(-1) ?? 0);
    const again: number[] = [];
    while (again.length + delivered.length < 9) {
      const { value } = await resumed.next();
      if (value instanceof SubscriptionEnded || value === undefined) throw new Error('ended early');
      again.push(value.sequence);
    }
    await resumed.return?.();
    expect([...delivered, ...again]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.app.bus.feed.size).toBe(0);
  });
});
