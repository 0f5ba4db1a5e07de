import type { IncomingMessage } from 'node:http';

// RFC 3986 host (a registered name or an IP literal) and an optional port; no percent-encoding,
// no user info. Anything else is not a name this server could be reached by.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]+)(?::[0-9]{1,5})?$/;

/**
 * Why the request's target (Host header and request line) cannot be a URL, or undefined when it
 * can. Yoga's server adapter builds `http://{Host}{url}` before any plugin runs and answers a
 * failure with a 500 whose body is the stack trace; the front refuses such requests first, with a
 * 400 that says only what is wrong.
 */
export function malformedTarget(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host !== undefined && !HOST.test(host)) return 'malformed Host header';
  const path = req.url ?? '/';
  if (!path.startsWith('/')) return 'malformed request target: expected a path starting with "/"';
  try {
    new URL(`http://${host ?? 'localhost'}${path}`);
  } catch {
    return 'malformed request target';
  }
  return undefined;
}
