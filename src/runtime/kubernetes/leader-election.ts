/**
 * Leader election on a `coordination.k8s.io/v1` Lease, the way client-go's leaderelection does
 * it: a candidate takes the lease when nobody holds it or its holder has not renewed it for a
 * whole lease duration (measured on the candidate's own clock, from when it last saw the lease
 * change, so clock skew between replicas does not matter); the leader renews every retry period
 * and gives up leadership if it could not renew within the renew deadline, which is shorter than
 * the lease duration, so two replicas never both believe they lead. Every write carries the
 * resourceVersion it read: a lost race is a 409, never two holders.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CoordinationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { isAlreadyExists, isNotFound, isResourceVersionConflict, toRuntimeError } from './errors.js';

/** Timings and identity of an election; see the module comment. */
export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The Lease's name: every replica of one deployment uses the same. */
  readonly leaseName: string;
  /** This replica's identity in the lease; default hostname, pid and a random suffix. */
  readonly identity?: string;
  /** How long a lease is valid without renewal. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** The leader steps down if it could not renew for this long. Default 10 s. */
  readonly renewDeadlineMs?: number;
  /** How often candidates try and the leader renews. Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Called when this replica becomes the leader; leadership is not reported lost before it settles. */
  readonly onStartedLeading: () => Promise<void> | void;
  /** Called when this replica stops leading (lost the lease, or stopped). */
  readonly onStoppedLeading: () => Promise<void> | void;
  /** Where failed attempts are reported. */
  readonly onError?: (error: unknown, context: string) => void;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A default identity: unique per process, readable in `kubectl get lease -o yaml`. */
export function defaultIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * A Lease timestamp (`MicroTime`): the API server parses exactly six fractional digits, and the
 * client has no serializer for the type, so it is written as a string.
 */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** One replica's participation in a Lease election. */
export class LeaseLeaderElector {
  readonly identity: string;
  readonly #api: CoordinationV1Api;
  readonly #options: LeaderElectionOptions;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  #running = false;
  #leader = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** The lease as last seen, and when (our clock) it last changed. */
  #observed: { resourceVersion: string; at: number } | undefined;
  #lastRenewal = 0;
  /** The `onStartedLeading` callback under way, if any. */
  #starting: Promise<void> | undefined;
  /** Counters for tests and metrics. */
  readonly stats = { acquired: 0, renewed: 0, lost: 0 };

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (!(this.#retryPeriodMs < this.#renewDeadlineMs && this.#renewDeadlineMs < this.#leaseDurationMs)) {
      throw new Error('leader election needs retry period < renew deadline < lease duration');
    }
  }

  /** Whether this replica holds the lease now. */
  isLeader(): boolean {
    return this.#leader;
  }

  /** Starts campaigning in the background. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops campaigning; a leader steps down first (its callback settles), then releases the lease so another takes over at once. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    if (this.#leader) {
      await this.#stepDown();
      await this.#release().catch((error: unknown) => this.#options.onError?.(error, 'release lease'));
    }
  }

  /**
   * Stops campaigning and steps down without releasing the lease: what a crashed replica leaves
   * behind. The others take over only once the lease expires (tests of failover use it).
   */
  async abandon(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    if (this.#leader) await this.#stepDown();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const acquired = await this.#tryAcquireOrRenew().catch((error: unknown) => {
        this.#options.onError?.(toRuntimeError(error, { objectKind: 'route', objectId: `lease ${this.#options.leaseName}`, action: 'elect on' }), 'leader election');
        return false;
      });
      if (!this.#running) return;
      const now = Date.now();
      if (acquired) {
        this.#lastRenewal = now;
        if (!this.#leader) {
          this.#leader = true;
          this.stats.acquired += 1;
          // Not awaited: starting the controller (a full resync) must not delay the renewals.
          this.#starting = this.#callback(this.#options.onStartedLeading, 'onStartedLeading');
        } else {
          this.stats.renewed += 1;
        }
      } else if (this.#leader && now - this.#lastRenewal > this.#renewDeadlineMs) {
        this.stats.lost += 1;
        await this.#stepDown();
      }
      await this.#sleep(this.#retryPeriodMs * (this.#leader ? 1 : 1 + Math.random() * 0.2));
    }
  }

  /** One attempt: create the lease, renew ours, or take an expired or released one. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const leaseSeconds = Math.max(1, Math.ceil(this.#leaseDurationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name: this.#options.leaseName, namespace: this.#options.namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        const created = await this.#api.createNamespacedLease({
          namespace: this.#options.namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.#options.leaseName, namespace: this.#options.namespace },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: leaseSeconds,
              leaseTransitions: 0,
              // MicroTime strings: see `microTime`.
              acquireTime: microTime(now) as unknown as Date,
              renewTime: microTime(now) as unknown as Date,
            },
          },
        });
        this.#observe(created, Date.now());
        return true;
      } catch (createError) {
        if (isAlreadyExists(createError)) return false;
        throw createError;
      }
    }
    const seenAt = Date.now();
    this.#observe(lease, seenAt);
    const holder = lease.spec?.holderIdentity ?? '';
    const mine = holder === this.identity;
    const expired = this.#observed !== undefined && seenAt - this.#observed.at > this.#leaseDurationMs;
    if (holder !== '' && !mine && !expired) return false;
    try {
      const updated = await this.#api.patchNamespacedLease(
        {
          name: this.#options.leaseName,
          namespace: this.#options.namespace,
          body: {
            metadata: { resourceVersion: lease.metadata?.resourceVersion },
            spec: {
              holderIdentity: this.identity,
              leaseDurationSeconds: leaseSeconds,
              renewTime: microTime(now),
              ...(!mine && { acquireTime: microTime(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 }),
            },
          },
        },
        MERGE_PATCH,
      );
      this.#observe(updated, Date.now());
      return true;
    } catch (error) {
      if (isResourceVersionConflict(error)) return false;
      throw error;
    }
  }

  #observe(lease: V1Lease, at: number): void {
    const resourceVersion = lease.metadata?.resourceVersion ?? '';
    if (this.#observed?.resourceVersion !== resourceVersion) this.#observed = { resourceVersion, at };
  }

  /** Gives the lease up: no holder, so the next candidate takes it without waiting. */
  async #release(): Promise<void> {
    const lease = await this.#api.readNamespacedLease({ name: this.#options.leaseName, namespace: this.#options.namespace });
    if (lease.spec?.holderIdentity !== this.identity) return;
    await this.#api.patchNamespacedLease(
      {
        name: this.#options.leaseName,
        namespace: this.#options.namespace,
        body: { metadata: { resourceVersion: lease.metadata?.resourceVersion }, spec: { holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) } },
      },
      MERGE_PATCH,
    );
  }

  async #stepDown(): Promise<void> {
    this.#leader = false;
    await this.#starting;
    this.#starting = undefined;
    await this.#callback(this.#options.onStoppedLeading, 'onStoppedLeading');
  }

  async #callback(callback: () => Promise<void> | void, name: string): Promise<void> {
    try {
      await callback();
    } catch (error) {
      this.#options.onError?.(error, name);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}
