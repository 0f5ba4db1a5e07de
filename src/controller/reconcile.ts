/**
 * One pass over one workload, in ordered phases (Knative's reconciler shape):
 *   decide the runtime the stored state wants -> apply it -> read the runtime's facts (from the
 *   runtime's caches) -> observe them -> decide the next state and its events -> record (one
 *   transaction that reads nothing back, publish after commit).
 * A pass repeats (up to `MAX_ROUNDS`) while it records a change, so one pass moves a workload as
 * far as the runtime lets it. Call only from the workload's queue (see controller.ts).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { refuseReplacementStep, type OperationContext } from '../domain/lifecycle.js';
import type { LifecyclePolicy } from '../domain/policy.js';
import type { ProtonStatusReport } from '../domain/proton-status.js';
import type { ProtonRuntime } from '../runtime/proton-runtime.js';
import { inUseViolation } from '../store/artifact-use.js';
import { violatedUniqueConstraint } from '../store/errors.js';
import type { CommittedEvents } from '../store/events.js';
import type { Orm } from '../store/orm.js';
import type { RoundRows } from '../store/workload-rounds.js';
import { applyDesired } from './apply.js';
import { decideState, desiredRuntime, transitionEvents, type ProtonRecord } from './decide.js';
import { deserializeLifecycle, jsonEqual, serializeLifecycle } from './lifecycle-store.js';
import { observe, type Observation, type RuntimeFacts } from './observe.js';
import { liveRows, readPassView, recordFirstLifecycle, recordPass, recordRound, type PassView } from './record.js';

/** At most this many rounds per pass; each round moves at least one step. */
const MAX_ROUNDS = 6;

export interface ReconcilerDeps {
  orm: Orm;
  runtime: ProtonRuntime;
  clock: () => Date;
  policy: LifecyclePolicy;
  /** Told the sequence of the last event a round recorded (after its commit), with the events it wrote. */
  published: (workloadId: string, sequence: number, committed?: CommittedEvents) => void;
  /**
   * How long before what woke a pass the view the previous pass over the same workload left may
   * have been read, for the pass to go on from it instead of reading the workload again (0: always
   * read). Within it, only the controller's own rounds and the changes it is told of (`forget`)
   * change what the view holds. Measured to the wake, not to the pass's start: a pass that waited
   * in a deep queue does not pay a read for its wait (ADR 0005, decisions 24 and 26).
   */
  viewMaxAgeMs?: number;
}

/** A view kept between passes, and when it was read from the database. */
interface KeptView {
  readonly view: PassView;
  readonly readAt: number;
}

/**
 * Runs passes over workloads. All state is stored; what it remembers between passes is the view
 * each left (the workload row and its protons as last read or written), for a pass that follows
 * within `viewMaxAgeMs` and after no change it was told of: most passes are woken by pod events
 * and find nothing to record, and they then cost no database read (ADR 0005, decision 21).
 */
export class Reconciler {
  private readonly kept = new Map<string, KeptView>();
  /** The pass under way per workload; a `forget` during it keeps it from leaving its view behind. */
  private readonly reading = new Map<string, object>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * Drops what is kept of a workload: something other than this controller's passes changed it
   * (an operation, a change announced by another replica), so its next pass reads it again.
   */
  forget(workloadId: string): void {
    this.kept.delete(workloadId);
    this.reading.delete(workloadId);
  }

  /**
   * Announces that the rows of a new workload are about to be written here: `seed` may then keep
   * them as the first pass's view, unless the workload is forgotten in between (an operation or an
   * announced change got to it after the write). Returns the token `seed` and `abandon` take.
   */
  expect(workloadId: string): object {
    const token = {};
    this.reading.set(workloadId, token);
    return token;
  }

  /**
   * Keeps `rows` (what the create expected with `token` wrote, committed) as the view the
   * workload's next pass goes on from, as if a pass had just read them. False, keeping nothing,
   * when the workload was forgotten since `expect` or views are not kept.
   */
  seed(token: object, rows: RoundRows): boolean {
    const workloadId = rows.workload.id;
    if (this.reading.get(workloadId) !== token) return false;
    this.reading.delete(workloadId);
    if (!this.deps.viewMaxAgeMs) return false;
    this.kept.set(workloadId, { view: { orm: this.deps.orm, workload: rows.workload, rows: rows.protons }, readAt: performance.now() });
    return true;
  }

  /** The create expected with `token` wrote nothing. */
  abandon(workloadId: string, token: object): void {
    if (this.reading.get(workloadId) === token) this.reading.delete(workloadId);
  }

  /**
   * Drops the view kept of a workload whose newest event in the database (`sequence`, read by the
   * caller) is not the one the view holds: something this controller was not told of changed it
   * (every writer of a workload appends an event). A pass under way keeps its own view; the next
   * look catches it.
   */
  forgetIfBehind(workloadId: string, sequence: number): void {
    const kept = this.kept.get(workloadId);
    if (kept && kept.view.workload.lastEventSequence !== sequence) this.kept.delete(workloadId);
  }

  /** Drops every kept view (leadership lost or regained), or only those past their age. */
  forgetAll(onlyExpired = false): void {
    const oldest = performance.now() - (this.deps.viewMaxAgeMs ?? 0);
    for (const [id, kept] of this.kept) if (!onlyExpired || kept.readAt < oldest) this.kept.delete(id);
  }

  /**
   * One pass over one workload; true once the workload is deleted for good. The workload and its
   * protons are read once (or taken from the previous pass's view); each round that changes
   * something records it in one statement and publishes after it, then the next round goes on
   * from what it wrote.
   */
  async pass(workloadId: string, wokenAt = performance.now()): Promise<boolean> {
    const token = {};
    this.reading.set(workloadId, token);
    let kept = this.fresh(workloadId, wokenAt);
    this.kept.delete(workloadId);
    try {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        // The next round in a turn of the loop of its own: a round over the in-process runtime is
        // CPU work with no I/O, and a request's answer should not wait for a whole pass of them.
        if (round > 0) await yieldToLoop();
        if (!kept) {
          const readAt = performance.now();
          const view = await readPassView(this.deps.orm, workloadId);
          if (!view) return false;
          kept = { view, readAt };
        }
        const outcome = await this.round(kept.view);
        if (outcome === 'deleted') return true;
        if (outcome === 'quiet') break;
        if (outcome === 'reread') kept = undefined;
      }
      // Left for the next pass unless a change arrived meanwhile (it may be older than the view).
      if (kept && this.reading.get(workloadId) === token && this.deps.viewMaxAgeMs) this.kept.set(workloadId, kept);
      return false;
    } finally {
      if (this.reading.get(workloadId) === token) this.reading.delete(workloadId);
    }
  }

  /** The view the previous pass left, if it was read recently enough before the pass was woken. */
  private fresh(workloadId: string, wokenAt: number): KeptView | undefined {
    const kept = this.kept.get(workloadId);
    return kept && wokenAt - kept.readAt < (this.deps.viewMaxAgeMs ?? 0) ? kept : undefined;
  }

  /** The clock and policy a rule runs with. */
  context(now: Date): OperationContext {
    return { ...this.deps.policy, now };
  }

  private async round(view: PassView): Promise<'changed' | 'quiet' | 'deleted' | 'reread'> {
    const { orm, runtime } = this.deps;
    const now = this.deps.clock();
    const { workload } = view;
    const workloadId = workload.id;
    if (!workload.lifecycle) {
      // First sight: record the initial lifecycle (and its active proton) before touching the
      // runtime, and go on from what it wrote (or read again: an operation got there first).
      return (await recordFirstLifecycle(view, (at) => this.context(at), now)) ? 'changed' : 'reread';
    }
    const stored = deserializeLifecycle(workload.lifecycle);
    const rows = liveRows(view);
    const records = new Map<string, ProtonRecord>(
      rows.map((p) => [p.id, { id: p.id, spec: p.spec, runtime: p.runtime, ...(p.restartedAt && { restartedAt: p.restartedAt }) }]),
    );

    await applyDesired(runtime, workload, desiredRuntime(workload, stored.state, records, now));

    const facts = await readFacts(runtime, workloadId, stored.state.candidate !== undefined);
    const replicasOf = (id: string) => records.get(id)?.runtime.replicaCount ?? 0;
    const observation = observe(stored.state, facts, replicasOf);
    const decision = decideState(stored, observation, this.context(now), (id) => facts.protons.has(id));

    const stepped = !jsonEqual(serializeLifecycle(stored), serializeLifecycle(decision.next));
    // The protons' statuses are recorded as the step leaves them: the same facts seen under the
    // new state (a candidate that starts warming has warming replicas in the same commit), so a
    // read never shows a step beside its protons' statuses of the step before.
    const reports = stepped ? reportsAfterStep(observation, observe(decision.next.state, facts, replicasOf)) : observation.reports;
    const protonStatusChanged = rows.some((p) => {
      const report = reports.get(p.id);
      return report && (report.status !== p.status || (report.reason ?? null) !== p.statusReason);
    });
    if (!stepped && decision.events.length === 0 && !protonStatusChanged && !decision.finishedDeleting) return 'quiet';
    let sequence: number | null | 'stale';
    let committed: CommittedEvents | undefined;
    try {
      sequence = await recordRound(view, stored, decision, reports, now, (c) => (committed = c));
    } catch (err) {
      // A rule across objects refused the step (the switch onto a draft another workload holds, an
      // artifact deleted meanwhile): fail the replacement with a typed reason and an event within
      // this pass, rather than retry the same refused write forever. The view holds what the
      // refused transaction did not write: the refusal is recorded through a fresh one.
      const refused = refusedStepMessage(err);
      const failed = refused ? refuseReplacementStep(stored.state, this.context(now), refused) : undefined;
      if (!failed?.ok || failed.noop) throw err;
      const next = { ...stored, state: failed.next };
      let refusalCommitted: CommittedEvents | undefined;
      const decided = { next, events: transitionEvents(stored.state, failed.next, {}), finishedDeleting: false };
      const refusal = await recordPass(orm, workloadId, stored, decided, new Map(), now, (c) => (refusalCommitted = c));
      if (refusal !== null) this.deps.published(workloadId, refusal, refusalCommitted);
      return 'reread';
    }
    // Something changed the workload since the view was read: go on from what is stored now.
    if (sequence === 'stale') return 'reread';
    if (sequence !== null) this.deps.published(workloadId, sequence, committed);
    if (decision.finishedDeleting) return 'deleted';
    return stepped ? 'changed' : 'quiet';
  }
}

/**
 * The reports a step records: each proton as the new state sees it, and as the state before saw it
 * where the new state no longer names it (an old active that finished draining).
 */
function reportsAfterStep(before: Observation, after: Observation): ReadonlyMap<string, ProtonStatusReport> {
  return new Map([...before.reports, ...after.reports]);
}

/** What a refusal by one of the database's rules across objects says, if `err` is one. */
function refusedStepMessage(err: unknown): string | undefined {
  const violation = inUseViolation(err);
  if (violation?.rule === 'DraftTaken' || violatedUniqueConstraint(err) === 'workload_one_live_per_draft_artifact') {
    return 'the target draft artifact is taken by another workload';
  }
  if (violation) return violation.rule === 'ArtifactDeleted' ? 'the target artifact was deleted' : 'the artifact is in use elsewhere';
  return undefined;
}

/** Reads what the runtime holds of one workload (the route only when a candidate may have taken it). */
async function readFacts(runtime: ProtonRuntime, workloadId: string, withRoute: boolean): Promise<RuntimeFacts> {
  const pods = await runtime.listPods({ workloadId });
  const protons = new Map((await runtime.listProtons({ workloadId })).map((p) => [p.protonId, p]));
  const route = withRoute ? await runtime.getRoute(workloadId) : undefined;
  return { pods, protons, route };
}
