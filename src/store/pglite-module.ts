/**
 * The PGlite WebAssembly module with a smaller buffer pool.
 *
 * PGlite 0.3 starts PostgreSQL with `-c shared_buffers=128MB` built into its WASM binary (no
 * option sets it, and the data directory's postgresql.conf is not read); PostgreSQL touches the
 * whole pool at start-up, so every embedded database costs 128 MB of resident memory before it
 * holds a row. This module compiles pglite.wasm once per process with that argument rewritten in
 * the binary's data segment to EMBEDDED_SHARED_BUFFERS and hands PGlite the compiled module (its
 * `wasmModule` option). If the argument is not found exactly once (another PGlite version), the
 * unmodified binary is used and `sharedBuffersTuned` is false; a test checks the setting.
 * See docs/adr/0071-startup-and-memory.md.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The buffer pool of an embedded database: its data is a control plane's, a few MB to tens of MB. */
export const EMBEDDED_SHARED_BUFFERS = '16MB';

const BUILT_IN = 'shared_buffers=128MB';

export interface PGliteModule {
  readonly module: WebAssembly.Module;
  /** Whether the buffer pool is EMBEDDED_SHARED_BUFFERS (false: PGlite's own 128MB). */
  readonly sharedBuffersTuned: boolean;
}

/** Rewrites the built-in `shared_buffers=128MB` argument; null when it is not there exactly once. */
export function rewriteSharedBuffers(wasm: Uint8Array, value: string): Uint8Array<ArrayBuffer> | null {
  const from = Buffer.from(BUILT_IN, 'latin1');
  // The argument is a NUL-terminated C string: the new one must fit in the old one's bytes.
  const to = Buffer.alloc(from.length);
  const replacement = Buffer.from(`shared_buffers=${value}`, 'latin1');
  if (replacement.length > from.length) throw new RangeError(`shared_buffers=${value} is longer than ${BUILT_IN}`);
  replacement.copy(to);
  const bytes = Buffer.from(wasm);
  const at = bytes.indexOf(from);
  if (at < 0 || bytes.indexOf(from, at + 1) >= 0) return null;
  to.copy(bytes, at);
  return bytes;
}

let compiled: Promise<PGliteModule> | undefined;

/** The compiled module, once per process (every embedded database of the process shares it). */
export function pgliteModule(): Promise<PGliteModule> {
  compiled ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = path.join(path.dirname(require.resolve('@electric-sql/pglite')), 'pglite.wasm');
    const original = await readFile(wasmPath);
    const tuned = rewriteSharedBuffers(original, EMBEDDED_SHARED_BUFFERS);
    return { module: await WebAssembly.compile(tuned ?? original), sharedBuffersTuned: tuned !== null };
  })();
  compiled.catch(() => {
    compiled = undefined;
  });
  return compiled;
}
