import type { SharingRole } from '../../domain/model.js';
import { SubscriptionEnded } from '../../service/live.service.js';
import type { WorkloadEvent } from '../../store/entities/index.js';
import type { GroupKeys } from './group-key.js';
import { SubscriberGroup } from './group.js';
import type { SharedExecutions } from './shared-execution.js';
import type { GroupSubscriber } from './subscriber.js';

type EventGroup = SubscriberGroup<WorkloadEvent>;

/**
 * `workloadEvents` subscriptions in groups (ADR 0033): one event stream per workload, document,
 * variables and role (and caller, for documents that select the caller's own fields). A
 * subscriber joins with its own cursor (`after`): it first catches up with its group's cursor from
 * the event log (pages shared with the group), re-reading its role at every sharing change it
 * passes, then joins in one step. At every sharing change the group re-reads each member's role
 * before sending it: a member without one is ended with ACCESS_REVOKED and receives nothing
 * after; one whose role changed moves to the group of its new role.
 */
export class EventGroups {
  readonly #groups = new Map<string, EventGroup>();
  /**
   * Orders role reads: each join's read and each group's re-read takes the next number as it
   * starts. A member may join a group only if the group started no re-read after the member's own
   * read started (that re-read might have seen a change the member's read missed).
   */
  #clock = 0;
  /** When each member's role was last read (the clock as the read started). */
  readonly #roleReadAt = new WeakMap<GroupSubscriber, number>();
  /** When each group last started re-reading its members' roles. */
  readonly #admittedAt = new WeakMap<EventGroup, number>();

  constructor(
    private readonly executions: SharedExecutions,
    private readonly keys: GroupKeys,
  ) {}

  /** Open groups (for tests and the benchmark). */
  get size(): number {
    return this.#groups.size;
  }

  /** Subscribers in open groups (for tests and the benchmark). */
  get members(): number {
    let n = 0;
    for (const group of this.#groups.values()) n += group.members.size;
    return n;
  }

  /** Starts a subscriber on the event log of a workload after `after`. */
  async join(member: GroupSubscriber, workloadId: string, after: number): Promise<void> {
    const ctx = member.context;
    try {
      this.#roleReadAt.set(member, ++this.#clock);
      const role = await ctx.live.roleOf(ctx.viewer, workloadId, null, () => member.closed);
      if (member.closed) return;
      if (role === null) return this.#endAlone(member, new SubscriptionEnded('NOT_FOUND', `no workload with id "${workloadId}"`));
      await this.#attach(member, workloadId, role, after);
    } catch (err) {
      this.#endAlone(member, err);
    }
  }

  /** Brings a member from `at` up to its group's cursor, then makes it a member. */
  async #attach(member: GroupSubscriber, workloadId: string, role: SharingRole, at: number): Promise<void> {
    const live = member.context.live;
    const key = `events|${workloadId}|${role}|${this.keys.of(member.args)}`;
    for (;;) {
      const group = this.#groups.get(key);
      if (!group) {
        const opened = this.#open(key, workloadId, role, at);
        opened.add(member, at);
        this.#start(opened, member);
        return;
      }
      while (at < group.cursor && !group.closed) {
        const page = await live.eventsBetween(workloadId, at, group.cursor, () => member.closed);
        if (member.closed) return;
        if (page.length === 0) break;
        for (const event of page) {
          if (event.sequence <= at) continue;
          if (event.type === 'sharingChanged') {
            // A read shared with others may have started before any stamp this member could take:
            // it keeps its older stamp (a re-read before joining costs one read, a stale role a leak).
            const now = await live.roleOf(member.context.viewer, workloadId, event.sequence, () => member.closed);
            if (member.closed) return;
            if (now === null) return this.#endAlone(member, await live.ended(workloadId));
            if (now !== role) return this.#attach(member, workloadId, now, at);
          }
          const result = await group.resultFor(member, event);
          if (member.closed) return;
          member.deliver(result);
          this.executions.stats.deliveries += 1;
          at = event.sequence;
          await member.writable();
        }
      }
      if (member.closed) return;
      if (group.closed) continue;
      if ((this.#admittedAt.get(group) ?? 0) > (this.#roleReadAt.get(member) ?? 0)) {
        // The group re-read its members' roles after this member's role was read: read it again.
        this.#roleReadAt.set(member, ++this.#clock);
        const now = await live.roleOf(member.context.viewer, workloadId, null, () => member.closed);
        if (member.closed) return;
        if (now === null) return this.#endAlone(member, await live.ended(workloadId));
        if (now !== role) return this.#attach(member, workloadId, now, at);
        continue;
      }
      // No await since the loop's test: the group has written nothing past `at` that this member lacks.
      group.add(member, at);
      return;
    }
  }

  #open(key: string, workloadId: string, role: SharingRole, after: number): EventGroup {
    const group: EventGroup = new SubscriberGroup<WorkloadEvent>(key, workloadId, role, after, this.executions, (g) => {
      if (this.#groups.get(g.key) === g) this.#groups.delete(g.key);
    });
    this.#groups.set(key, group);
    return group;
  }

  /** Starts a group's stream once it has its first member (the stream's reads use its context). */
  #start(group: EventGroup, first: GroupSubscriber): void {
    group.stream = first.context.live.groupEvents(group.workloadId!, group.cursor, (_id, atSequence) => this.#admit(group, atSequence));
    void group.run((event) => event.sequence);
  }

  /**
   * Re-reads every member's role (once per distinct caller), including members that join while
   * it reads; takes out those who lost it (ACCESS_REVOKED) and moves those whose role changed.
   * Answers whether anyone is left.
   */
  async #admit(group: EventGroup, atSequence: number): Promise<boolean> {
    const workloadId = group.workloadId!;
    this.#admittedAt.set(group, ++this.#clock);
    const roles = new Map<GroupSubscriber, SharingRole | null>();
    for (;;) {
      const pending = [...group.members].filter((m) => !roles.has(m));
      if (pending.length === 0) break;
      const read = await Promise.all(
        // One read per distinct caller: LiveService shares reads for the same caller and sequence.
        pending.map((m) => m.context.live.roleOf(m.context.viewer, workloadId, atSequence)),
      );
      pending.forEach((m, i) => roles.set(m, read[i]!));
    }
    const revoked: GroupSubscriber[] = [];
    for (const member of [...group.members]) {
      const role = roles.get(member);
      if (role === group.role) continue;
      group.remove(member);
      if (role === null || role === undefined) {
        revoked.push(member);
      } else {
        // Read through a shared read that may predate this pass: it reads again before it joins.
        this.#roleReadAt.delete(member);
        void this.#attach(member, workloadId, role, group.cursor).catch((err: unknown) => this.#endAlone(member, err));
      }
    }
    if (revoked.length > 0) {
      const ended = await revoked[0]!.context.live.ended(workloadId);
      for (const member of revoked) this.#endAlone(member, ended);
    }
    return group.members.size > 0;
  }

  #endAlone(member: GroupSubscriber, end: unknown): void {
    member.onLeave?.();
    void this.executions.finalResult(member.args, end, member.context.live).then((final) => member.end(final));
  }
}
