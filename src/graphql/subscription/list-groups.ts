import type { WorkloadListFilter } from '../../domain/workload-filter.js';
import type { WorkloadListChange } from '../../service/live.service.js';
import type { GroupKeys } from './group-key.js';
import { SubscriberGroup } from './group.js';
import type { SharedExecutions } from './shared-execution.js';
import type { GroupSubscriber } from './subscriber.js';

type ListGroup = SubscriberGroup<WorkloadListChange>;

/**
 * `workloadsChanged` subscriptions in groups (ADR 0033). A list stream reads with its caller's
 * visibility, so a group is one caller (user, groups, organization, platform roles) with one
 * document and variables (the filter): one stream, one read and one execution per change for all
 * of them (several tabs of one user). A subscriber joins at once, at the group's current position:
 * the list view starts from a query, and the changes are states to apply, not a log to replay,
 * so a change it may already have seen is harmless; one that leaves the list before it joined
 * may arrive as a removal it can ignore.
 */
export class ListGroups {
  readonly #groups = new Map<string, ListGroup>();

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

  /** Starts a subscriber on the changes of the list its filter selects. */
  join(member: GroupSubscriber, filter: WorkloadListFilter): void {
    const key = `list|${this.keys.of(member.args, true)}`;
    let group = this.#groups.get(key);
    if (group && !group.closed) {
      group.add(member, -1);
      return;
    }
    group = new SubscriberGroup<WorkloadListChange>(key, null, null, -1, this.executions, (g) => {
      if (this.#groups.get(g.key) === g) this.#groups.delete(g.key);
    });
    this.#groups.set(key, group);
    group.add(member, -1);
    const ctx = member.context;
    group.stream = ctx.live.workloadListChanges(ctx.viewer, filter);
    void group.run(() => Number.MAX_SAFE_INTEGER);
  }
}
