/**
 * `/readyz`: whether this replica should get traffic. It fails while a dependency does not answer
 * within the check timeout, and from the start of a shutdown on, for good.
 */

import type { Logger } from 'pino';

/** A failure whose message may be shown to anyone who probes (it names nothing internal). */
export class ReadinessFailure extends Error {}

/** One dependency check: resolves when healthy, rejects saying what is wrong. */
export interface ReadinessCheck {
  readonly name: string;
  run(): Promise<void>;
}

export interface ReadinessReport {
  ready: boolean;
  /** Names of the failing checks, in the order they are configured. */
  failing: string[];
  checks: Record<string, { ok: true } | { ok: false; error: string }>;
}

/** The checks of one app, and its shutdown flag. */
export class Readiness {
  readonly #checks: readonly ReadinessCheck[];
  readonly #timeoutMs: number;
  /** A check under way is shared by concurrent probes, so a flood of probes sends one query. */
  readonly #inflight = new Map<string, Promise<void>>();
  #shuttingDown = false;
  /** Checks that failed at their last run: a failure is logged when it starts, not at every probe. */
  readonly #failed = new Set<string>();

  constructor(
    checks: readonly ReadinessCheck[],
    timeoutMs: number,
    private readonly logger?: Logger,
  ) {
    this.#checks = checks;
    this.#timeoutMs = timeoutMs;
  }

  /** From now on every probe fails: load balancers take this replica out before it stops listening. */
  beginShutdown(): void {
    this.#shuttingDown = true;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Runs every check concurrently, each bounded by the timeout. */
  async evaluate(): Promise<ReadinessReport> {
    if (this.#shuttingDown) {
      return { ready: false, failing: ['shutdown'], checks: { shutdown: { ok: false, error: 'the server is shutting down' } } };
    }
    const results = await Promise.all(
      this.#checks.map(async (check) => {
        try {
          await this.#run(check);
          if (this.#failed.delete(check.name)) this.logger?.info({ check: check.name }, 'readiness check passes again');
          return [check.name, { ok: true }] as const;
        } catch (err) {
          if (!this.#failed.has(check.name)) {
            this.#failed.add(check.name);
            this.logger?.warn({ check: check.name, err }, 'readiness check failed');
          }
          // Probes need no credentials: a driver's message (hosts, users) stays in the log.
          const error = err instanceof ReadinessFailure ? err.message : 'failed (the reason is in the server log)';
          return [check.name, { ok: false, error }] as const;
        }
      }),
    );
    const failing = results.filter(([, r]) => !r.ok).map(([name]) => name);
    return { ready: failing.length === 0, failing, checks: Object.fromEntries(results) };
  }

  #run(check: ReadinessCheck): Promise<void> {
    let running = this.#inflight.get(check.name);
    if (!running) {
      const started: Promise<void> = check.run().finally(() => {
        if (this.#inflight.get(check.name) === started) this.#inflight.delete(check.name);
      });
      running = started;
      this.#inflight.set(check.name, running);
    }
    const shared = running;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // A check that hangs is not waited on by the next probe: that one tries afresh.
        if (this.#inflight.get(check.name) === shared) this.#inflight.delete(check.name);
        reject(new ReadinessFailure(`no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
    });
    return Promise.race([running, timeout]).finally(() => clearTimeout(timer));
  }
}

/** The checks of this app: the database always, Redis when configured, the pod cache on a Kubernetes leader. */
export function dependencyChecks(deps: {
  /** A cheap round trip to the database (`select 1`). */
  database: () => Promise<unknown>;
  /** Redis, when changes fan out through it. */
  redis?: () => Promise<void>;
  /** With the Kubernetes runtime: whether this replica leads, and whether its pod cache is synced. */
  kubernetes?: { isLeader(): boolean; isSynced(): boolean };
}): ReadinessCheck[] {
  const checks: ReadinessCheck[] = [{ name: 'database', run: async () => void (await deps.database()) }];
  if (deps.redis) checks.push({ name: 'redis', run: deps.redis });
  const kubernetes = deps.kubernetes;
  if (kubernetes) {
    checks.push({
      name: 'informer',
      // Only the leader acts on the cache; other replicas serve the API from the database.
      run: async () => {
        if (kubernetes.isLeader() && !kubernetes.isSynced()) throw new ReadinessFailure('this replica leads and its pod cache is not synced');
      },
    });
  }
  return checks;
}
