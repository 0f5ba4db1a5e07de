import type { ExecutionResult } from 'graphql';
import type { SharingRole } from '../../domain/model.js';
import { SubscriptionEnded } from '../../service/live.service.js';
import type { SharedExecutions } from './shared-execution.js';
import type { GroupSubscriber } from './subscriber.js';

/**
 * Subscribers that share one source stream and one execution per payload (ADR 0033): same
 * document, operation, variables, role (and caller, where the document or the stream's reads are
 * the caller's own). The group reads, executes and serializes each payload once and writes it to
 * every member; a member that leaves is taken out at once, and the group stops its stream when
 * the last one has left.
 */
export class SubscriberGroup<T extends object> {
  readonly members = new Set<GroupSubscriber>();
  /** The sequence of the last payload written to the members (event groups). */
  cursor: number;
  /** Set once the group stopped: a subscriber joining it must find (or open) another. */
  closed = false;
  stream: AsyncIterableIterator<T | SubscriptionEnded> | undefined;

  constructor(
    readonly key: string,
    readonly workloadId: string | null,
    readonly role: SharingRole | null,
    cursor: number,
    private readonly executions: SharedExecutions,
    private readonly onClosed: (group: SubscriberGroup<T>) => void,
  ) {
    this.cursor = cursor;
  }

  /** Adds a member that has received everything up to `at`. */
  add(member: GroupSubscriber, at: number): void {
    member.skipThrough = at;
    member.onLeave = () => this.remove(member);
    member.onOverflow = () =>
      this.end(
        member,
        new SubscriptionEnded(
          'SLOW_CONSUMER',
          `the subscriber let too many payloads wait unread; ${this.workloadId === null ? 're-read the list and subscribe again' : 'subscribe again with "after" set to the last sequence received'}`,
        ),
      );
    this.members.add(member);
  }

  /** Takes a member out (it receives nothing more from this group); the last one out stops it. */
  remove(member: GroupSubscriber): void {
    if (!this.members.delete(member)) return;
    member.onLeave = undefined;
    member.onOverflow = undefined;
    if (this.members.size === 0) this.close();
  }

  /** Takes a member out and sends it its own end. */
  end(member: GroupSubscriber, end: SubscriptionEnded | unknown): void {
    this.remove(member);
    void this.executions.finalResult(member.args, end, member.context.live).then((final) => member.end(final));
  }

  /** The result of a payload for this group. */
  resultFor(member: GroupSubscriber, payload: object): ExecutionResult | Promise<ExecutionResult> {
    return this.executions.resultFor(member.args, payload, this.key, this.workloadId && this.role ? { workloadId: this.workloadId, role: this.role } : undefined);
  }

  /** Reads the stream to its end, writing each payload's result to every member. */
  async run(sequenceOf: (item: T) => number): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    try {
      for await (const item of stream) {
        if (item instanceof SubscriptionEnded) return this.endAll(item);
        const first = this.members.values().next();
        if (first.done) continue;
        const result = await this.resultFor(first.value, item);
        // Written and the cursor moved in one step, with no await between: a subscriber that joins
        // after it has everything up to the cursor, and nothing of it twice.
        const sequence = sequenceOf(item);
        let delivered = 0;
        for (const member of this.members) {
          if (sequence > member.skipThrough) {
            member.deliver(result);
            delivered += 1;
          }
        }
        this.executions.stats.deliveries += delivered;
        this.cursor = sequence;
      }
      this.endAll(null);
    } catch (err) {
      this.endAll(err);
    }
  }

  /** Ends every member: with the stream's end, or (null) as completed. */
  private endAll(end: SubscriptionEnded | unknown): void {
    for (const member of [...this.members]) {
      if (end === null) {
        this.remove(member);
        member.end();
      } else {
        this.end(member, end);
      }
    }
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClosed(this);
    void this.stream?.return?.()?.catch(() => undefined);
  }
}
