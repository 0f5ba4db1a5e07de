/** Whether dist-console/ is missing or older than a file under console/. */
export function consoleBuildIsStale(): Promise<boolean>;
/** Builds the console into dist-console/. */
export function buildConsole(): Promise<void>;
/** Builds the console unless its build is current. */
export function ensureConsoleBuilt(): Promise<void>;
/** Builds the console when stale; false when it cannot be built here (no dev dependencies). */
export function buildConsoleIfStale(): Promise<boolean>;
