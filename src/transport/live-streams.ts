import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { StreamTransport } from '../observability/metrics.js';

export type { StreamTransport };

interface Stream {
  transport: StreamTransport;
  end(): void;
}

/**
 * Every subscription stream open on this replica, over any transport: counted for the
 * active-subscriptions gauge, and ended at shutdown. An envelop plugin sees both transports,
 * because WebSocket operations run through Yoga's envelop too.
 */
export class LiveStreams {
  readonly #streams = new Set<Stream>();
  #closed = false;

  /**
   * @param afterPayload called with the operation's context after each payload a stream delivers
   *   and when it ends (the app releases the operation's request scope there). Here rather than in
   *   a plugin of its own: each plugin that watches payloads wraps every stream's iterator once
   *   more, and a wrapper costs memory for as long as the subscription runs.
   */
  constructor(private readonly afterPayload: (context: object) => void = () => {}) {}

  /** Open streams per transport. */
  active(): Record<StreamTransport, number> {
    const counts: Record<StreamTransport, number> = { websocket: 0, http: 0 };
    for (const s of this.#streams) counts[s.transport] += 1;
    return counts;
  }

  /**
   * Ends every open stream (an SSE response then ends with its `complete` event) and every
   * stream opened from now on. WebSocket connections are closed first, with their own code.
   */
  endAll(): void {
    this.#closed = true;
    for (const stream of [...this.#streams]) stream.end();
  }

  /** The envelop plugin that tracks streams. */
  plugin(): Plugin {
    return {
      onSubscribe: ({ args }) => {
        const context = args.contextValue as { connection?: unknown } | undefined;
        const afterPayload = () => {
          if (context) this.afterPayload(context);
        };
        const transport: StreamTransport = context?.connection ? 'websocket' : 'http';
        let stream: Stream | undefined;
        return {
          onSubscribeResult: ({ result }) => {
            if (!isAsyncIterable(result)) return undefined;
            const iterable = result as AsyncIterable<unknown> & Partial<AsyncIterator<unknown>>;
            const iterator: AsyncIterator<unknown> = typeof iterable.return === 'function' ? (iterable as AsyncIterator<unknown>) : iterable[Symbol.asyncIterator]();
            const opened: Stream = {
              transport,
              end: () => {
                this.#streams.delete(opened);
                // A Repeater (every live stream) ends a pending wait at once on return().
                void iterator.return?.()?.catch(() => undefined);
              },
            };
            stream = opened;
            if (this.#closed) {
              opened.end();
              return undefined;
            }
            this.#streams.add(opened);
            return {
              onNext: afterPayload,
              onEnd: () => {
                this.#streams.delete(opened);
                afterPayload();
              },
            };
          },
          // A stream that fails ends without `onEnd`.
          onSubscribeError: () => {
            if (stream) this.#streams.delete(stream);
          },
        };
      },
    };
  }
}
