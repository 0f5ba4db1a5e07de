import { once } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ChangeFeed } from './change-feed.js';
import { createLocalPubSub, TOPICS, type TopicName, type TopicPayload, type WorkloadPubSub } from './topics.js';

/** Where published changes go and where live subscriptions hear them. */
export interface EventBus {
  kind: 'local' | 'redis';
  /** What the services publish to, after their transaction commits. */
  pubsub: WorkloadPubSub;
  /** What live subscriptions watch. */
  feed: ChangeFeed;
  /** Subscribes to the broker and waits until the subscription is registered. */
  start(): Promise<void>;
  /** Resolves when the broker answers on both connections (readiness); rejects naming what is wrong. */
  check(): Promise<void>;
  close(): Promise<void>;
}

export interface RedisBusOptions {
  url: string;
  /** Prefixed to every channel, so that several deployments can share one Redis. */
  channelPrefix: string;
  logger: Logger;
}

const TOPIC_NAMES = Object.keys(TOPICS) as TopicName[];

/**
 * An EventTarget whose `dispatchEvent` is a publication and whose listeners hear deliveries.
 * In-process, a publication is delivered at once; with Redis, it goes through a channel.
 */
class TopicEventTarget extends EventTarget {
  constructor(private readonly publish: (topic: TopicName, payload: unknown) => void) {
    super();
  }

  override dispatchEvent(event: Event): boolean {
    if (!(event instanceof CustomEvent) || !isTopic(event.type)) return false;
    this.publish(event.type, event.detail);
    return true;
  }

  /** Hands a publication that arrived to the local listeners. */
  deliver(topic: TopicName, payload: unknown): void {
    super.dispatchEvent(new CustomEvent(topic, { detail: payload }));
  }
}

function isTopic(name: string): name is TopicName {
  return Object.hasOwn(TOPICS, name);
}

function attachFeed(target: TopicEventTarget, feed: ChangeFeed): void {
  target.addEventListener('workload:changed', (event) => {
    if (!(event instanceof CustomEvent)) return;
    const parsed = TOPICS['workload:changed'].schema.safeParse(event.detail);
    if (parsed.success) feed.deliver(parsed.data.workloadId, parsed.data.sequence);
  });
}

/** The embedded default: publications are delivered in this process only. */
export function createLocalEventBus(): EventBus {
  const feed = new ChangeFeed();
  const target: TopicEventTarget = new TopicEventTarget((topic, payload) => target.deliver(topic, payload));
  attachFeed(target, feed);
  return {
    kind: 'local',
    pubsub: createLocalPubSub(target),
    feed,
    start: async () => {},
    check: async () => {},
    close: async () => {},
  };
}

/**
 * Redis fan-out between API replicas: two connections (one publishes, one subscribes), one channel
 * per topic per process, local fan-out through the feed. A publication that fails while Redis is
 * away is kept, coalesced per key (so memory is bounded by the number of distinct workloads, not
 * of events), and published again when the connection returns. When the subscribing connection
 * returns, every live subscription is told to re-read, because it may have missed publications.
 */
export function createRedisEventBus(options: RedisBusOptions): EventBus {
  const { logger, channelPrefix } = options;
  const feed = new ChangeFeed();
  const channelOf = (topic: TopicName) => `${channelPrefix}${topic}`;
  const topicOf = new Map(TOPIC_NAMES.map((t) => [channelOf(t), t]));
  const retry = (times: number) => Math.min(50 * times, 1000);
  const publisher = new Redis(options.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: retry, connectionName: 'workload-api-publish' });
  const subscriber = new Redis(options.url, { maxRetriesPerRequest: null, retryStrategy: retry, connectionName: 'workload-api-subscribe' });
  const pending = new Map<string, { topic: TopicName; payload: unknown }>();
  let closing = false;

  const keep = (topic: TopicName, payload: unknown) => {
    const spec = TOPICS[topic];
    const parsed = spec.schema.safeParse(payload);
    if (!parsed.success) return;
    const key = `${topic}\u0000${spec.key(parsed.data)}`;
    const previous = pending.get(key);
    const newest = previous ? spec.newest(previous.payload as TopicPayload<typeof topic>, parsed.data) : parsed.data;
    pending.set(key, { topic, payload: newest });
  };

  const publish = (topic: TopicName, payload: unknown) => {
    if (closing) return;
    publisher.publish(channelOf(topic), JSON.stringify(payload)).catch((err: unknown) => {
      logger.warn({ err, topic }, 'publication to Redis failed; it will be sent again when Redis returns');
      keep(topic, payload);
    });
  };

  const target: TopicEventTarget = new TopicEventTarget(publish);
  attachFeed(target, feed);

  subscriber.on('message', (channel: string, message: string) => {
    const topic = topicOf.get(channel);
    if (!topic) return;
    let payload: unknown;
    try {
      payload = JSON.parse(message);
    } catch {
      logger.warn({ channel }, 'ignored a malformed message from Redis');
      return;
    }
    target.deliver(topic, payload);
  });

  let subscribedOnce = false;
  subscriber.on('ready', () => {
    if (!subscribedOnce || closing) return;
    // ioredis re-subscribes before 'ready'; a PING answered after it proves the subscription is
    // back, so nothing published from here on is missed, and the re-read covers what was.
    subscriber
      .ping()
      .then(() => {
        logger.info('Redis subscription restored; live subscriptions re-read what they may have missed');
        feed.resync();
      })
      .catch((err: unknown) => logger.warn({ err }, 'Redis ping after reconnecting failed'));
  });
  publisher.on('ready', () => {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending.clear();
    for (const { topic, payload } of batch) publish(topic, payload);
  });
  for (const client of [publisher, subscriber]) {
    client.on('error', (err: unknown) => {
      if (!closing) logger.warn({ err }, 'Redis connection error');
    });
  }

  return {
    kind: 'redis',
    pubsub: createLocalPubSub(target),
    feed,
    async start() {
      // Subscribing before the connection is ready races ioredis's ready check (INFO), which is
      // refused in subscriber mode: wait for it first.
      if (subscriber.status !== 'ready') await once(subscriber, 'ready');
      await subscriber.subscribe(...TOPIC_NAMES.map(channelOf));
      await subscriber.ping();
      subscribedOnce = true;
    },
    async check() {
      // The publisher has no offline queue: while Redis is away its PING fails at once.
      if (subscriber.status !== 'ready') throw new Error(`the subscribing connection is ${subscriber.status}`);
      await publisher.ping();
    },
    async close() {
      closing = true;
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
