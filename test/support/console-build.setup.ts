import { ensureConsoleBuilt } from '../../scripts/console-build.mjs';

/** Vitest global setup: the browser tests serve the built console; build it once, not per file. */
export default async function setup(): Promise<void> {
  await ensureConsoleBuilt();
}
