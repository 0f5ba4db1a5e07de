/**
 * What PostgreSQL's autovacuum does, for the embedded database; and, on a server, its analysis
 * soon after a table's size moves.
 *
 * PGlite runs PostgreSQL in single-user mode: no background workers, so no autovacuum. Its tables
 * are never analyzed (the planner estimates every table as if it had never been read: at 1,000
 * workloads a list page's visibility check became a nested loop over every grant, 16 ms on
 * PostgreSQL, 11 ms of the database's thread on PGlite, against 0.6 ms once analyzed) and never
 * vacuumed (every round of the controller leaves a dead row version and index entries behind). Its
 * statistics counters are not kept either (`n_mod_since_analyze` stays 0), so the trigger here is
 * size: a table is analyzed when its size in pages has moved by a fifth (and at least a few pages)
 * since its last analysis, checked every second with one catalog query, but only after a second in
 * which the API sent statements (a burst of creates grows the tables within seconds, and until the
 * next analysis every list plans for the tables' old sizes); every table of the schema is vacuumed
 * and analyzed every few minutes. See docs/adr/0071-startup-and-memory.md
 * (decision 10).
 *
 * On a PostgreSQL server, autovacuum analyzes a table once enough rows changed, but only at its
 * next round (a minute by default) and not at all where it is turned off; until then a burst of
 * creates leaves the planner with the empty tables' estimates, and a list's visibility check runs
 * as a nested loop over every grant per workload (75 ms a read at 1,000 workloads, growing with
 * the square). So the API analyzes there too, on the same size trigger, and leaves vacuum to the
 * server (decision 12).
 */

export interface MaintenanceSettings {
  /** How often table sizes are compared with their last analysis. */
  readonly checkMs: number;
  /** How often every table of the schema is vacuumed (and analyzed); null: never (a server's autovacuum does). */
  readonly vacuumMs: number | null;
  /** A table is analyzed when its pages moved by this fraction of its last analyzed size... */
  readonly growth: number;
  /** ...and by at least this many pages. */
  readonly minPages: number;
}

export const EMBEDDED_MAINTENANCE: MaintenanceSettings = { checkMs: 1_000, vacuumMs: 10 * 60_000, growth: 0.2, minPages: 4 };

/** On a PostgreSQL server: analysis on the same trigger, no vacuum. */
export const SERVER_MAINTENANCE: MaintenanceSettings = { ...EMBEDDED_MAINTENANCE, vacuumMs: null };

/** Opens every statement the maintenance sends, so that a log of what requests send can leave them out. */
export const MAINTENANCE_TAG = '/* maintenance */';

/** Runs one SQL statement on the database and returns its rows. */
export type RunSql = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The schema's tables whose size moved past the settings' threshold since their last analysis,
 * among those this role may analyze (it owns them, or is a member of their owner): on a server
 * the API may run as a role that does not (PostgreSQL would skip them with a warning each time).
 */
export async function tablesToAnalyze(run: RunSql, settings: MaintenanceSettings): Promise<string[]> {
  const rows = await run<{ name: string }>(
    `select c.relname as name from pg_class c
      where c.relnamespace = to_regnamespace(current_schema()) and c.relkind = 'r'
        and pg_has_role(c.relowner, 'USAGE')
        and abs(pg_relation_size(c.oid) / current_setting('block_size')::int - greatest(c.relpages, 0)) >= greatest(?::int, c.relpages * ?::float8)
      order by c.relname`,
    [settings.minPages, settings.growth],
  );
  return rows.map((r) => r.name);
}

/** Analyzes the tables that grew or shrank; returns their names. */
export async function analyzeChanged(run: RunSql, settings: MaintenanceSettings): Promise<string[]> {
  const tables = await tablesToAnalyze(run, settings);
  if (tables.length > 0) await run(`analyze ${tables.map(quoted).join(', ')}`);
  return tables;
}

/** Vacuums and analyzes every table of the schema. */
export async function vacuumAll(run: RunSql): Promise<void> {
  const tables = await run<{ name: string }>(
    `select c.relname as name from pg_class c where c.relnamespace = to_regnamespace(current_schema()) and c.relkind = 'r' order by c.relname`,
  );
  if (tables.length > 0) await run(`vacuum (analyze) ${tables.map((t) => quoted(t.name)).join(', ')}`);
}

/**
 * Runs `analyzeChanged` every `checkMs` and `vacuumAll` every `vacuumMs`, one at a time, until
 * stopped. With `activity` (a count of the statements the API sent, not the maintenance's own), a
 * check is skipped while the count has not moved since the last one: an idle API costs its
 * database nothing. A failed run is reported and the next one tries again (the database may be
 * restarting; requests report that themselves); while runs keep failing only the first is
 * reported, so an outage does not log every few seconds. The timers do not keep the process alive.
 */
export function startMaintenance(
  run: RunSql,
  settings: MaintenanceSettings,
  onError: (err: unknown) => void,
  activity?: () => number,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;
  let lastVacuum = Date.now();
  let checkedAt: number | undefined;
  const once = async () => {
    try {
      if (settings.vacuumMs !== null && Date.now() - lastVacuum >= settings.vacuumMs) {
        lastVacuum = Date.now();
        await vacuumAll(run);
      } else {
        const now = activity?.();
        // A check that failed is made again whatever the count.
        if (now === undefined || now !== checkedAt || failing) {
          await analyzeChanged(run, settings);
          checkedAt = now;
        }
      }
      failing = false;
    } catch (err) {
      if (!stopped && !failing) onError(err);
      failing = true;
    }
  };
  // A run that outlasts the interval is not queued behind: the next tick finds it running and waits.
  // (Cleared once it settles, never inside it: a skipped check settles without a turn in between.)
  const timer = setInterval(() => {
    if (!stopped && !running) running = once().finally(() => (running = undefined));
  }, settings.checkMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
