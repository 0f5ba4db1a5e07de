/** One event of a GraphQL-over-SSE stream: `next` with its parsed result, or `complete`. */
export interface SseEvent {
  event: string | undefined;
  /** The parsed `data:` lines, when the event has any. */
  data?: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** The events of an SSE response body, as they arrive, until the body ends. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        yield { event, ...(data && { data: JSON.parse(data) as SseEvent['data'] }) };
      }
    }
  } finally {
    reader.releaseLock();
  }
}
