import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, mayReceiveDevelopmentTokens, remoteAddressOf } from '../../src/auth/development-exposure.js';

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.5.6.7', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::FFFF:127.0.0.1', true],
    ['192.0.2.2', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['fd00::2', false],
    ['128.0.0.1', false],
    ['localhost', false],
    ['', false],
    [undefined, false],
  ])('%s is loopback: %s', (address, want) => {
    expect(isLoopbackAddress(address)).toBe(want);
  });
});

describe('mayReceiveDevelopmentTokens', () => {
  it.each([
    ['development auth, development, loopback', 'development', 'development', '127.0.0.1', true],
    ['development auth, test, loopback IPv6', 'development', 'test', '::1', true],
    ['development auth, development, another machine', 'development', 'development', '192.0.2.2', false],
    ['development auth, development, no socket address', 'development', 'development', undefined, false],
    ['development auth in production (with the override), loopback', 'development', 'production', '127.0.0.1', false],
    ['token auth, loopback', 'jwt', 'development', '127.0.0.1', false],
  ] as const)('%s: %s', (_, authMode, env, remoteAddress, want) => {
    expect(mayReceiveDevelopmentTokens({ authMode, env, remoteAddress })).toBe(want);
  });
});

describe('remoteAddressOf', () => {
  it('reads the socket address of a node:http server context, and nothing else', () => {
    expect(remoteAddressOf({ req: { socket: { remoteAddress: '127.0.0.1' }, headers: { 'x-forwarded-for': '10.0.0.1' } } })).toBe('127.0.0.1');
    expect(remoteAddressOf({ req: { headers: { 'x-forwarded-for': '127.0.0.1' } } })).toBeUndefined();
    expect(remoteAddressOf({})).toBeUndefined();
    expect(remoteAddressOf(undefined)).toBeUndefined();
  });
});
