import { describe, expect, it } from 'vitest';
import { closeFrame, FrameBoundaries } from '../../src/invoke/forwarded-websocket.js';

/** An unmasked server frame with `length` payload bytes. */
function frame(length: number, opcode = 0x1): Buffer {
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, length])
      : length < 65536
        ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), Buffer.from(new BigUint64Array([BigInt(length)]).buffer).reverse()]);
  return Buffer.concat([header, Buffer.alloc(length, 0x61)]);
}

describe('FrameBoundaries', () => {
  it.each([
    ['an empty frame', frame(0)],
    ['a short frame', frame(5)],
    ['a frame with a 16-bit length', frame(300)],
    ['a frame with a 64-bit length', frame(70_000)],
  ])('finds the end of %s, fed one byte at a time', (_name, bytes) => {
    const f = new FrameBoundaries();
    for (let i = 0; i < bytes.length; i += 1) {
      expect(f.atBoundary).toBe(i === 0);
      f.advance(bytes.subarray(i, i + 1));
    }
    expect(f.atBoundary).toBe(true);
  });

  it('stops at the end of the frame under way when asked, inside a chunk that holds the next one too', () => {
    const first = frame(10);
    const bytes = Buffer.concat([first, frame(20)]);
    const f = new FrameBoundaries();
    f.advance(bytes.subarray(0, 4));
    expect(f.advance(bytes.subarray(4), true)).toBe(first.length - 4);
    expect(f.atBoundary).toBe(true);
  });

  it('builds an unmasked close frame with the code and a reason cut to 123 bytes', () => {
    expect([...closeFrame(4403, 'Token expired')].slice(0, 4)).toEqual([0x88, 2 + 13, 4403 >> 8, 4403 & 0xff]);
    expect(closeFrame(4403, 'x'.repeat(500)).length).toBe(2 + 2 + 123);
  });
});
