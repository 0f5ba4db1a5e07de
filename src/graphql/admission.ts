/**
 * Admission of mutations: at most `concurrency` mutation operations of this process execute at
 * once; the others wait in memory, in arrival order, holding no database connection. A burst of
 * writes (a thousand creates at once) then fills at most that many of the pool's connections, and
 * a query that arrives during it waits for a connection behind those few, not behind the whole
 * burst: the pool's queue is first come, first served (ADR 0060, decision 12). Queries and
 * subscriptions are never held here; they have their own budgets (./rate-limit.ts).
 *
 * An admitted mutation that waits on something holding no connection of its own (a create waiting
 * for the statement that writes several creates, ADR 0005 decision 27) gives its place back for
 * the wait (`AdmissionPlace.outside`) and takes one again, ahead of the mutations not yet admitted,
 * before it goes on.
 */
import type { Plugin } from 'graphql-yoga';
import { getOperationAST } from 'graphql';

/** The admission state, for tests. */
export interface MutationAdmission {
  readonly plugin: Plugin;
  /** Mutations executing now and holding a place. */
  readonly active: () => number;
  /** Mutations waiting for a place. */
  readonly waiting: () => number;
  /** When the last two mutations arrived (`performance.now()`; -Infinity before there were any). */
  readonly arrivals: () => { readonly last: number; readonly previous: number };
}

/** An admitted mutation's place, on its operation's context as `admission`. */
export interface AdmissionPlace {
  /** Runs `work` with the place given back, and takes a place again before answering. */
  outside<T>(work: () => Promise<T>): Promise<T>;
}

/** Places handed out first come, first served; mutations coming back from `outside` go before those not yet admitted. */
class Places {
  #free: number;
  readonly #perTurn: number;
  #active = 0;
  readonly #returning: (() => void)[] = [];
  readonly #arriving: (() => void)[] = [];
  /** Places given back while mutations wait, not yet handed over (`perTurn` a turn of the loop). */
  #handovers = 0;

  constructor(size: number, perTurn: number) {
    this.#free = size;
    this.#perTurn = perTurn;
  }

  take(returning = false): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      (returning ? this.#returning : this.#arriving).push(() => {
        this.#active++;
        resolve();
      });
    });
  }

  give(): void {
    this.#active--;
    if (this.waiting === 0) {
      this.#free++;
      return;
    }
    // Handed over a few to a turn of the loop (`perTurn`), in its check phase, never in this
    // microtask: mutations that give their places back at once (a statement's creates, answered
    // together) would otherwise admit as many waiting mutations in one turn, and their work would
    // run back to back with no timer or I/O between (a read's answer waited out 100-150 ms
    // stretches of it).
    this.#handovers++;
    if (this.#handovers === 1) setImmediate(() => this.#handOver());
  }

  #handOver(): void {
    for (let i = 0; i < this.#perTurn && this.#handovers > 0; i++) {
      this.#handovers--;
      const next = this.#returning.shift() ?? this.#arriving.shift();
      if (next) next();
      else this.#free++;
    }
    // Scheduled from the check phase, the next handovers run in the loop's next turn.
    if (this.#handovers > 0) setImmediate(() => this.#handOver());
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#returning.length + this.#arriving.length;
  }
}

/**
 * Admits at most `concurrency` (at least 1) mutations at once; places given back while mutations
 * wait are handed over at most `perTurn` (at least 1) to a turn of the loop.
 *
 * How many a turn (ADR 0060 decision 12): one a turn starved the creates' writer on PostgreSQL
 * while a burst arrived (its turns were long with the burst's own requests; a sampler of the
 * admission saw no mutation holding a place while 350-700 waited, and the writer idle), and two a
 * turn answered 1,000 creates sooner there (p50 1.8-2.0 -> 1.4-1.5 s, p99 2.6-2.8 -> 2.3-2.4 s,
 * alternated three times). On the embedded database, whose one connection reads share with the
 * creates' statements, two a turn made no create faster and the reads' p99 slower in three of
 * three pairs (43/63/61 -> 57/89/95 ms): it keeps one.
 */
export function mutationAdmission(concurrency: number, perTurn = 1): MutationAdmission {
  const places = new Places(Math.max(1, concurrency), Math.max(1, perTurn));
  const arrivals = { last: -Infinity, previous: -Infinity };
  const plugin: Plugin = {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'mutation') return;
      setExecuteFn(async (execution) => {
        arrivals.previous = arrivals.last;
        arrivals.last = performance.now();
        await places.take();
        let held = true;
        const place: AdmissionPlace = {
          async outside(work) {
            if (!held) return work();
            held = false;
            places.give();
            try {
              return await work();
            } finally {
              await places.take(true);
              held = true;
            }
          },
        };
        (execution.contextValue as { admission?: AdmissionPlace }).admission = place;
        try {
          return await executeFn(execution);
        } finally {
          if (held) places.give();
        }
      });
    },
  };
  return { plugin, active: () => places.active, waiting: () => places.waiting, arrivals: () => arrivals };
}

/**
 * How close two mutations' arrivals, and the last to now, must be for the controller to count a
 * burst (ms): longer than the gaps between a burst's requests on a busy loop, short enough that a
 * burst's end soon lets the backlog's passes run again (ADR 0005, decision 24).
 */
const BURST_GAP_MS = 50;

/**
 * Whether a burst of mutations is under way in this process, for the controller's passes to yield
 * to (ADR 0005 decision 24): some wait for admission, several run, several creates wait for their
 * statement (they gave back their places), or the last two arrived within BURST_GAP_MS of each
 * other and of now (a burst's requests arrive at the pace the loop accepts them, one after
 * another, so few wait). A lone mutation is no burst: its own pass is not held back.
 */
export function burstUnderWay(admission: Pick<MutationAdmission, 'waiting' | 'active' | 'arrivals'>, createsPending: number, now = performance.now()): boolean {
  if (admission.waiting() > 0 || admission.active() > 1 || createsPending > 1) return true;
  const { last, previous } = admission.arrivals();
  return now - last < BURST_GAP_MS && last - previous < BURST_GAP_MS;
}
