/**
 * The subscribing side of the subscription benchmark, in a process of its own (run.ts forks it),
 * so that neither the API nor the publisher shares an event loop with thousands of clients.
 *
 * Modes: `api` opens graphql-ws `workloadEvents` subscriptions on the API (100 per connection);
 * `floor` subscribes to a bare Redis channel and hands each message to as many in-process
 * listeners as the API path has subscribers per workload. Both count deliveries and their
 * latency (event time to arrival, ms) while measuring. Messages from the parent: `measure`,
 * `report`, `stop`; to it: `ready`, `idle` (no message for 2 s), and the report.
 */
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import WebSocket from 'ws';

export type ClientsCommand =
  | { type: 'open-api'; url: string; auth: string; perConnection: number; subscriptions: { workloadId: string; after: number }[] }
  | { type: 'open-floor'; redisUrl: string; channel: string; subscribers: number; workloads: number }
  | { type: 'measure' }
  | { type: 'report' }
  | { type: 'stop' };

export type ClientsMessage =
  | { type: 'ready' }
  | { type: 'idle' }
  | { type: 'report'; delivered: number; latencies: number[]; errors: string[]; cpuMicros: number }
  | { type: 'failed'; error: string };

const send = (message: ClientsMessage) => process.send?.(message);

let measuring = false;
let delivered = 0;
let latencies: number[] = [];
const errors: string[] = [];
let lastMessageAt = Date.now();
const clients: Client[] = [];
let redis: Redis | undefined;
const cpuAtStart = process.cpuUsage();

function record(eventTime: number): void {
  lastMessageAt = Date.now();
  if (!measuring) return;
  delivered += 1;
  latencies.push(lastMessageAt - eventTime);
}

async function openApi(command: Extract<ClientsCommand, { type: 'open-api' }>): Promise<void> {
  const ready: Promise<void>[] = [];
  for (let c = 0; c * command.perConnection < command.subscriptions.length; c++) {
    const client = createClient({
      url: `${command.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: command.auth },
      lazy: false,
      retryAttempts: 0,
    });
    clients.push(client);
    for (const { workloadId, after } of command.subscriptions.slice(c * command.perConnection, (c + 1) * command.perConnection)) {
      // Subscribing from before the last event replays it at once: the subscription is registered.
      ready.push(
        new Promise<void>((resolve, reject) => {
          let first = true;
          client.subscribe<{ workloadEvents: { sequence: number; occurredAt: string } }>(
            { query: 'subscription($id: ID!, $after: Int) { workloadEvents(workloadId: $id, after: $after) { sequence occurredAt } }', variables: { id: workloadId, after } },
            {
              next: (msg) => {
                if (msg.errors) errors.push(JSON.stringify(msg.errors));
                if (first) {
                  first = false;
                  lastMessageAt = Date.now();
                  resolve();
                  return;
                }
                if (msg.data) record(new Date(msg.data.workloadEvents.occurredAt).getTime());
              },
              error: (err) => {
                errors.push(String(err instanceof Error ? err.message : JSON.stringify(err)));
                reject(new Error(`subscription failed: ${errors.at(-1)}`));
              },
              complete: () => {},
            },
          );
        }),
      );
    }
  }
  await Promise.all(ready);
}

async function openFloor(command: Extract<ClientsCommand, { type: 'open-floor' }>): Promise<void> {
  const listeners = new Map<number, ((sentAt: number) => void)[]>();
  for (let i = 0; i < command.subscribers; i++) {
    const list = listeners.get(i % command.workloads) ?? [];
    list.push(record);
    listeners.set(i % command.workloads, list);
  }
  redis = new Redis(command.redisUrl);
  await redis.subscribe(command.channel);
  redis.on('message', (_channel, message) => {
    const { sentAt, workload } = JSON.parse(message) as { sentAt: number; workload: number };
    for (const l of listeners.get(workload) ?? []) l(sentAt);
  });
}

process.on('message', (command: ClientsCommand) => {
  void (async () => {
    switch (command.type) {
      case 'open-api':
        await openApi(command);
        send({ type: 'ready' });
        // Idle means every replay has finished: no message for two seconds.
        for (;;) {
          await new Promise((r) => setTimeout(r, 200));
          if (Date.now() - lastMessageAt >= 2000) break;
        }
        send({ type: 'idle' });
        return;
      case 'open-floor':
        await openFloor(command);
        send({ type: 'ready' });
        return;
      case 'measure':
        delivered = 0;
        latencies = [];
        measuring = true;
        return;
      case 'report': {
        const cpu = process.cpuUsage(cpuAtStart);
        send({ type: 'report', delivered, latencies, errors: errors.slice(0, 5), cpuMicros: cpu.user + cpu.system });
        return;
      }
      case 'stop':
        measuring = false;
        await Promise.all(clients.map((c) => c.dispose()));
        await redis?.quit();
        process.exit(0);
    }
  })().catch((err: unknown) => {
    send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  });
});
