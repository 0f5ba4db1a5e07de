/**
 * A WebSocket forwarded to a workload, and how the endpoint ends one on its own initiative (the
 * caller's role was removed, or the token it connected with expired): with a close frame of its
 * own, so the caller learns why (README.md, "Live subscriptions": close 4403), rather than a cut
 * connection. The bytes go through untouched; the replica's are followed frame by frame (RFC 6455,
 * section 5.2) only to know where the close frame may go: between two of the replica's frames.
 */
import type { Duplex } from 'node:stream';
import type { Viewer } from '../auth/viewer.js';

/** How long the replica's frame under way may take to finish before the connection is cut instead. */
const CLOSE_GRACE_MS = 1000;

/** Where frames begin and end in a stream of WebSocket bytes. */
export class FrameBoundaries {
  #header: number[] = [];
  #headerLength = 2;
  #payloadLeft = 0;

  /** Whether the bytes seen so far end with a whole frame. */
  get atBoundary(): boolean {
    return this.#header.length === 0 && this.#payloadLeft === 0;
  }

  /**
   * Follows `chunk`. With `stopAtBoundary`, stops at the first end of a frame and returns how many
   * bytes of the chunk lead up to it (0 when already there); otherwise returns the chunk's length.
   */
  advance(chunk: Uint8Array, stopAtBoundary = false): number {
    let i = 0;
    if (stopAtBoundary && this.atBoundary) return 0;
    while (i < chunk.length) {
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= n;
        i += n;
      } else {
        this.#header.push(chunk[i]!);
        i += 1;
        if (this.#header.length === 2) {
          const length7 = this.#header[1]! & 0x7f;
          const masked = (this.#header[1]! & 0x80) !== 0;
          this.#headerLength = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0);
        }
        if (this.#header.length >= 2 && this.#header.length === this.#headerLength) {
          this.#payloadLeft = payloadLength(this.#header);
          this.#header = [];
          this.#headerLength = 2;
        }
      }
      if (stopAtBoundary && this.atBoundary) return i;
    }
    return i;
  }
}

function payloadLength(header: number[]): number {
  const length7 = header[1]! & 0x7f;
  if (length7 < 126) return length7;
  if (length7 === 126) return (header[2]! << 8) | header[3]!;
  let n = 0;
  for (let k = 2; k < 10; k += 1) n = n * 256 + header[k]!;
  return n;
}

/** A close frame as a server sends it (unmasked), with a reason of at most 123 bytes. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  return Buffer.concat([Buffer.from([0x88, 2 + text.length, code >> 8, code & 0xff]), text]);
}

/** One forwarded WebSocket: the caller's socket, the replica's once upgraded, and who connected. */
export class ForwardedWebSocket {
  #upstream: Duplex | undefined;
  readonly #frames = new FrameBoundaries();
  #closing: { code: number; reason: string } | undefined;
  #finished = false;

  constructor(
    readonly socket: Duplex,
    readonly workloadId: string,
    readonly viewer: Viewer,
  ) {}

  /** The replica's side, as soon as it has accepted the upgrade (before any of its bytes flow). */
  attach(upstream: Duplex): void {
    this.#upstream = upstream;
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(chunk));
    if (this.#closing) this.#beginClose();
  }

  /**
   * Ends the connection with a close frame after the replica's frame under way, if any (cut if that
   * takes longer than a second). Nothing more goes to the replica from now on.
   */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = { code, reason };
    if (this.#upstream) this.#beginClose();
    else setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  #beginClose(): void {
    const upstream = this.#upstream!;
    upstream.unpipe(this.socket);
    this.socket.unpipe(upstream);
    setTimeout(() => {
      this.socket.destroy();
      upstream.destroy();
    }, CLOSE_GRACE_MS).unref();
    if (this.#frames.atBoundary) this.#finish();
    else upstream.resume();
  }

  #fromUpstream(chunk: Buffer): void {
    if (!this.#closing || !this.#upstream) {
      this.#frames.advance(chunk);
      return;
    }
    if (this.#finished) return;
    const n = this.#frames.advance(chunk, true);
    if (n > 0) this.socket.write(chunk.subarray(0, n));
    if (this.#frames.atBoundary) this.#finish();
  }

  #finish(): void {
    if (this.#finished || !this.#closing) return;
    this.#finished = true;
    if (!this.socket.destroyed) this.socket.end(closeFrame(this.#closing.code, this.#closing.reason));
    this.#upstream?.destroy();
  }
}
