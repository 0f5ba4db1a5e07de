/**
 * Who may be handed a development token (the GraphiQL page's preset header, the console's list
 * of sample subjects): a browser on this machine, and only outside production. "On this machine"
 * is read from the TCP socket's remote address, never from a header such as X-Forwarded-For that
 * the caller writes. A reverse proxy on the same machine makes every client look local: do not put
 * one in front of development authentication.
 */
import { isIP } from 'node:net';

export interface DevelopmentExposure {
  authMode: 'jwt' | 'development';
  env: 'development' | 'production' | 'test';
  /** The socket's remote address (`req.socket.remoteAddress`). */
  remoteAddress: string | undefined;
}

/** Whether an address is this machine's loopback: 127.0.0.0/8, ::1, or 127.x in IPv4-mapped form. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(v4) === 4) return v4.split('.')[0] === '127';
  if (isIP(address) === 6) return address === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(address);
  return false;
}

/** Whether development tokens may go to this client: development authentication, not production, a loopback socket. */
export function mayReceiveDevelopmentTokens(exposure: DevelopmentExposure): boolean {
  return exposure.authMode === 'development' && exposure.env !== 'production' && isLoopbackAddress(exposure.remoteAddress);
}

/** The socket's remote address of a Yoga server context on node:http (`{ req, res }`), if there is one. */
export function remoteAddressOf(serverContext: unknown): string | undefined {
  if (typeof serverContext !== 'object' || serverContext === null || !('req' in serverContext)) return undefined;
  const { req } = serverContext;
  if (typeof req !== 'object' || req === null || !('socket' in req)) return undefined;
  const { socket } = req;
  if (typeof socket !== 'object' || socket === null || !('remoteAddress' in socket)) return undefined;
  return typeof socket.remoteAddress === 'string' ? socket.remoteAddress : undefined;
}
