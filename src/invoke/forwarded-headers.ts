/**
 * The headers a workload gets: the caller's credentials and hop-by-hop headers removed (RFC 9110,
 * 7.6.1, every header named in `Connection` too), `X-Forwarded-*` set from what this server saw
 * unless the peer is a trusted proxy (ADR 0050, amendment of issue 13).
 */
import type { IncomingMessage } from 'node:http';
import { INVOKE_PATH_PREFIX } from './replies.js';

/** Request headers that end at this hop, plus the caller's credentials. */
const STRIPPED_REQUEST_HEADERS = ['authorization', 'proxy-authorization', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te'];

/** Prepares the headers of a request (not an upgrade) for forwarding to the workload. */
export function prepareRequestHeaders(req: IncomingMessage, workloadId: string, isTrustedProxy?: (address: string | undefined) => boolean): void {
  for (const h of connectionNamed(req.headers.connection)) delete req.headers[h];
  for (const h of STRIPPED_REQUEST_HEADERS) delete req.headers[h];
  setForwardedHeaders(req, 'http', isTrustedProxy);
  req.headers['x-forwarded-prefix'] = `${INVOKE_PATH_PREFIX}${workloadId}`;
}

/** Prepares the headers of a WebSocket upgrade: credentials go, the upgrade's own headers stay. */
export function prepareUpgradeHeaders(req: IncomingMessage, workloadId: string, isTrustedProxy?: (address: string | undefined) => boolean): void {
  delete req.headers.authorization;
  delete req.headers['proxy-authorization'];
  setForwardedHeaders(req, 'ws', isTrustedProxy);
  req.headers['x-forwarded-prefix'] = `${INVOKE_PATH_PREFIX}${workloadId}`;
}

/**
 * Who called, as the workload should see it: `X-Forwarded-For/-Host/-Proto/-Port` and `Forwarded`
 * from a trusted proxy are kept (our peer appended to the `For` chain); from anyone else they are
 * replaced by what this server saw, so a caller cannot make the workload believe another address
 * or host.
 */
function setForwardedHeaders(req: IncomingMessage, scheme: 'http' | 'ws', isTrustedProxy?: (address: string | undefined) => boolean): void {
  const peer = req.socket.remoteAddress;
  const encrypted = 'encrypted' in req.socket && req.socket.encrypted === true;
  const proto = encrypted ? `${scheme}s` : scheme;
  const port = String(req.socket.localPort ?? '');
  const host = req.headers.host ?? '';
  const h = req.headers;
  if (isTrustedProxy?.(peer)) {
    const chain = h['x-forwarded-for'];
    h['x-forwarded-for'] = chain ? `${String(chain)}, ${peer ?? ''}` : (peer ?? '');
    h['x-forwarded-host'] ??= host;
    h['x-forwarded-proto'] ??= proto;
    h['x-forwarded-port'] ??= port;
    return;
  }
  delete h.forwarded;
  h['x-forwarded-for'] = peer ?? '';
  h['x-forwarded-host'] = host;
  h['x-forwarded-proto'] = proto;
  h['x-forwarded-port'] = port;
}

/** The header names listed in a `Connection` header, lower-cased. */
function connectionNamed(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0 && name !== 'host');
}
