import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** A Content-Length is one non-negative integer; anything else (a list, a sign) is refused. */
const CONTENT_LENGTH = /^\d+$/;

function bodyTooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', http: { status: 413 } } });
}

/**
 * The HTTP body limit (`GRAPHQL_MAX_BODY_BYTES`), in place of Yoga's `maxRequestBodySize`, which
 * pipes every body through a counting stream: a stream pipeline per request, whose end aborts
 * a signal and so builds a DOMException with its stack (about 4% of a list's CPU, measured by
 * `bench/list-query`). A body with a Content-Length is refused by that header, before a byte of it
 * is read, and needs no counting: Node.js's HTTP parser hands a request exactly as many bytes as
 * its Content-Length says (it refuses one that also says chunked). Only a body without one
 * (chunked) is counted as it arrives, and refused at the first chunk past the limit, as Yoga does.
 * The errors are Yoga's own (413 `REQUEST_ENTITY_TOO_LARGE`; 400 for a malformed length).
 */
export function bodyLimitPlugin(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length != null) {
        if (!CONTENT_LENGTH.test(length)) {
          throw new GraphQLError('Content-Length header is invalid.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (Number(length) > limit) throw bodyTooLarge();
        return;
      }
      if (requestParser == null || request.body == null) return;
      setRequestParser((req) => requestParser(countedBody(req, limit, fetchAPI)));
    },
  };
}

/** `request` with its body counted as it is read, failing with 413 past `limit` bytes. */
function countedBody(request: Request, limit: number, fetchAPI: Pick<typeof globalThis, 'Request' | 'TransformStream'>): Request {
  const body = request.body;
  if (!body) return request;
  let read = 0;
  // A body that is Node.js's own ReadableStream pipes only through Node.js's TransformStream (Yoga does the same).
  const Transform = body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const counted = body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(bodyTooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}
