import type { Client } from 'graphql-ws';
import { sseEvents } from './sse.js';
import { tokenFor, type TestSubject } from './test-app.js';

/** A GraphQL error as it arrives on the wire. */
export interface WireError {
  message: string;
  extensions?: Record<string, unknown>;
}

/** One operation's outcome on any transport: the payloads and the errors that arrived. */
export interface Outcome {
  data: unknown[];
  errors: WireError[];
  /** HTTP status (HTTP and SSE only). */
  status?: number;
  headers?: Headers;
}

/** POSTs a GraphQL request (or any body) over real HTTP and reads the JSON answer. */
export async function postGraphQL(
  url: string,
  who: TestSubject | null,
  body: string | Uint8Array<ArrayBuffer> | { query: string; variables?: Record<string, unknown>; operationName?: string },
  headers: Record<string, string> = {},
): Promise<Outcome & { status: number; headers: Headers; text: string }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(who ? { authorization: `Bearer ${await tokenFor(who)}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: { data?: unknown; errors?: WireError[] } = {};
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    // Not JSON: callers that care look at `text`.
  }
  return {
    status: response.status,
    headers: response.headers,
    text,
    data: parsed.data === undefined || parsed.data === null ? [] : [parsed.data],
    errors: parsed.errors ?? [],
  };
}

/** Runs one operation over graphql-ws and waits for it to complete or fail. */
export function wsOperation(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { data: [], errors: [] };
    client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.data) outcome.data.push(result.data);
          if (result.errors) outcome.errors.push(...(result.errors as WireError[]));
        },
        error: (err) => {
          if (Array.isArray(err)) outcome.errors.push(...(err as WireError[]));
          else outcome.errors.push({ message: String((err as { reason?: string }).reason ?? err) });
          resolve(outcome);
        },
        complete: () => resolve(outcome),
      },
    );
  });
}

/**
 * Runs one operation over GraphQL over SSE (Yoga) and collects events until the stream completes,
 * or until `until` holds (then it hangs up).
 */
export async function sseOperation(
  url: string,
  who: TestSubject,
  query: string,
  variables: Record<string, unknown> = {},
  until: (outcome: Outcome) => boolean = () => false,
): Promise<Outcome> {
  const abort = new AbortController();
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    signal: abort.signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${await tokenFor(who)}` },
    body: JSON.stringify({ query, variables }),
  });
  const outcome: Outcome = { data: [], errors: [], status: response.status, headers: response.headers };
  if (!response.body) return outcome;
  for await (const { event, data: result } of sseEvents(response.body)) {
    if (event === 'complete') break;
    if (!result) continue;
    if (result.data) outcome.data.push(result.data);
    if (result.errors) outcome.errors.push(...result.errors);
    if (until(outcome)) break;
  }
  abort.abort();
  return outcome;
}
