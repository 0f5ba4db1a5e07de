import { createPubSub, type PubSub } from 'graphql-yoga';

/**
 * Every pub/sub topic and its payload, in one place. Payloads are ids and sequence numbers only:
 * subscribers re-read what they are allowed to see.
 */
export type Topics = {
  /** A workload, its protons or its replacement changed; `sequence` is its newest event. */
  'workload:changed': [{ workloadId: string; sequence: number }];
};

export type WorkloadPubSub = PubSub<Topics>;

/** The in-process pub/sub of the embedded default. */
export function createLocalPubSub(): WorkloadPubSub {
  return createPubSub<Topics>();
}
