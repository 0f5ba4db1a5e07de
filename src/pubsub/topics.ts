import { createPubSub, type PubSub } from 'graphql-yoga';
import { z } from 'zod';

/**
 * Every pub/sub topic and its payload, in one place. Payloads are ids and sequence numbers only:
 * subscribers re-read what they are allowed to see.
 */
export type Topics = {
  /**
   * A workload, its protons or its replacement changed; `sequence` is its newest event.
   * `reconcile: false` says the change cannot alter what the workload wants of the cluster (a
   * rename, a new description, sharing): the controller makes no pass for it. Absent means true,
   * which is what a replica that predates the field sends (ADR 0005, decision 20).
   * `specChanged: true` says an artifact the workload runs has a new spec (a draft's edit): no
   * event of the workload records that, so the controller passes over it whatever sequence it
   * has recorded (ADR 0013, decision 12).
   */
  'workload:changed': [{ workloadId: string; sequence: number; reconcile?: boolean; specChanged?: boolean }];
};

export type TopicName = keyof Topics;
export type TopicPayload<K extends TopicName> = Topics[K][0];

/** How each topic's payload is read back from an untrusted transport (Redis), and coalesced. */
export const TOPICS: {
  [K in TopicName]: {
    schema: z.ZodType<TopicPayload<K>>;
    /** Payloads with the same key supersede each other: only the newest needs delivering. */
    key: (payload: TopicPayload<K>) => string;
    newest: (a: TopicPayload<K>, b: TopicPayload<K>) => TopicPayload<K>;
  };
} = {
  'workload:changed': {
    schema: z.object({
      workloadId: z.string().min(1).max(64),
      sequence: z.number().int().nonnegative(),
      reconcile: z.boolean().optional(),
      specChanged: z.boolean().optional(),
    }),
    key: (p) => p.workloadId,
    // The newest sequence; a pass if either of the two asked for one; a new spec if either said so.
    newest: (a, b) => ({
      workloadId: b.workloadId,
      sequence: Math.max(a.sequence, b.sequence),
      ...(a.reconcile === false && b.reconcile === false && { reconcile: false }),
      ...((a.specChanged || b.specChanged) && { specChanged: true }),
    }),
  },
};

export type WorkloadPubSub = PubSub<Topics>;

/** The in-process pub/sub of the embedded default. */
export function createLocalPubSub(eventTarget?: EventTarget): WorkloadPubSub {
  return createPubSub<Topics>(eventTarget ? { eventTarget } : undefined);
}
