/**
 * What the invoke endpoint answers itself: JSON errors with `x-invoke-error` (which tells them from
 * an answer of the workload), on a response or, for a WebSocket upgrade, on the raw socket.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UnroutableReason } from '../runtime/route-resolver.js';

/** The path prefix the endpoint serves. */
export const INVOKE_PATH_PREFIX = '/endpoints/workloads/';

/** Answers with a JSON error body; an unread request body is drained (or closed with the connection). */
export function reply(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  req?: IncomingMessage,
  extra: Record<string, unknown> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ error: { code, message, ...extra } });
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-invoke-error', code);
  res.end(req?.method === 'HEAD' ? undefined : body);
  if (req && !req.complete) req.resume();
}

/** Answers an upgrade that is not forwarded with an HTTP response like `reply`'s, and closes. */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed || !socket.writable) return;
  const body = JSON.stringify({ error: { code, message, ...extra } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    `x-invoke-error: ${code}`,
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** The message of a 503: the workload's status and why no proton serves it. */
export function unavailableMessage(workloadId: string, status: string, reason: UnroutableReason): string {
  const why: Record<UnroutableReason, string> = {
    NoRoute: 'it has no route yet',
    RoutedNowhere: 'its traffic is routed nowhere',
    NoReadyReplica: 'no replica of its active proton is ready',
    Unsupported: 'this runtime cannot deliver traffic from the API server',
  };
  return `workload ${workloadId} is ${status}: ${why[reason]}; no running proton serves it now, retry later`;
}

/** The workload id (still encoded) and the path the workload sees, from a URL under the endpoint. */
export function splitInvokePath(url: string): { rawId: string; remainder: string } {
  const rest = url.slice(INVOKE_PATH_PREFIX.length);
  const slash = rest.search(/[/?]/);
  const rawId = slash === -1 ? rest : rest.slice(0, slash);
  let remainder = slash === -1 ? '/' : rest.slice(slash);
  if (remainder.startsWith('?')) remainder = `/${remainder}`;
  return { rawId, remainder };
}
