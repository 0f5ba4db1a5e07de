/**
 * graphql-ws `next` frames whose payload was serialized once for a group of subscribers (ADR 0033).
 * graphql-ws serializes every message it sends itself; for such a payload the transport writes the
 * frame around the serialized payload before graphql-ws does, and graphql-ws' own frame, whose
 * payload is this placeholder, is then dropped.
 */
const PLACEHOLDER = '\u0000already-sent';
const PLACEHOLDER_TAIL = `"payload":${JSON.stringify(PLACEHOLDER)}}`;

/** The payload to give graphql-ws for a `next` message the transport has already written. */
export const ALREADY_SENT = Object.freeze({ toJSON: () => PLACEHOLDER });

/** A `next` frame around a payload that is already JSON. */
export function nextFrame(operationId: string, payloadJson: string): string {
  return `{"id":${JSON.stringify(operationId)},"type":"next","payload":${payloadJson}}`;
}

/**
 * Whether graphql-ws' frame only stands for one already written. An ordinary frame cannot end so:
 * its payload is an object, whose JSON ends with a brace.
 */
export function isAlreadySent(frame: string): boolean {
  return frame.endsWith(PLACEHOLDER_TAIL);
}
