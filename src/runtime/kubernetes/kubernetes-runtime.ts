/**
 * The Kubernetes adapter of the `ProtonRuntime` port (see the mapping table in
 * `../proton-runtime.ts`): a proton is a Deployment, a workload's route is a Service whose
 * selector is the traffic switch, importance is a label plus a PriorityClass, and pods come
 * from a self-healing informer. Every Kubernetes failure is mapped once by `toRuntimeError`;
 * writes that lose an optimistic-concurrency race (409) are re-read and retried.
 *
 * Importance and the pod template: a pod's priority is immutable, and changing the pod template
 * rolls every pod, so an importance change relabels the Deployment, its pods and the Service at
 * once and reaches the template (label and `priorityClassName`) with the next change of
 * revision (update, restart, replace). Pods created from then on run at the new priority.
 *
 * Reads come from informer caches (pods, Deployments, Services; ADR 0044): a controller pass
 * makes no request for an object the caches hold. Our own writes are read back at once (the
 * informers remember them until the watch brings them), a read-modify-write that lost to a stale
 * cache (409, or a create that met an object the cache did not have) retries from a fresh GET,
 * and `resync()` relists every cache (a new leader does, before its first pass).
 */
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  SchedulingV1Api,
  setHeaderOptions,
  type KubeConfig,
  type V1Deployment,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Importance } from '../../domain/model.js';
import { LABELS, protonObjectName, routeObjectName } from '../conventions.js';
import type {
  ObservedProton,
  PodEventHandler,
  ProtonRuntime,
  ProtonSpec,
  RuntimeFilter,
  Unsubscribe,
  WatchPodsOptions,
  WorkloadRoute,
} from '../proton-runtime.js';
import { RuntimeConflictError, RuntimeInvalidError, RuntimeNotFoundError, RuntimeUnavailableError } from '../proton-runtime.js';
import { assertValidProtonSpec, assertValidReplicas, protonRevision } from '../proton-spec.js';
import type { RouteResolution } from '../route-resolver.js';
import { isAlreadyExists, isNotFound, type ErrorContext } from './errors.js';
import { RetryableRace, ignoringNotFound, mappedCall, retryingConflicts } from './guarded-calls.js';
import {
  MANAGED_SELECTOR,
  ROUTE_PORT,
  isImportance,
  matches,
  matchesLabels,
  observeDeployment,
  protonDeployment,
  routeOf,
  routeSelector,
  routeService,
  sameMap,
  selectorOf,
} from './objects.js';
import type { Informer } from './informer.js';
import { PodInformer, deploymentInformer, serviceInformer, type PodInformerOptions } from './informers.js';
import { ensurePriorityClasses } from './priority-classes.js';

/** Options of the Kubernetes runtime. */
export interface KubernetesRuntimeOptions {
  readonly kubeConfig: KubeConfig;
  /** Where protons and routes live. It must exist. */
  readonly namespace: string;
  /** Tuning of the informers (back-off, watch timeout, dead-watch detection). */
  readonly informer?: Omit<PodInformerOptions, 'namespace' | 'labelSelector'>;
  /** How long `start()` (and `resync()`) waits for the lists. Default 60 s. */
  readonly syncTimeoutMs?: number;
  /** How many times a write that lost a race (409) is re-read and retried. Default 8. */
  readonly conflictRetries?: number;
  /** Where background failures are reported (watch restarts, handler errors). */
  readonly onError?: (error: unknown, context: string) => void;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A `ProtonRuntime` on a Kubernetes namespace. */
export class KubernetesProtonRuntime implements ProtonRuntime {
  readonly kind = 'kubernetes';
  readonly namespace: string;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #scheduling: SchedulingV1Api;
  readonly #informer: PodInformer;
  readonly #deployments: Informer<V1Deployment>;
  readonly #services: Informer<V1Service>;
  readonly #options: KubernetesRuntimeOptions;
  #state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  #starting: Promise<void> | undefined;

  constructor(options: KubernetesRuntimeOptions) {
    this.#options = options;
    this.namespace = options.namespace;
    this.#apps = options.kubeConfig.makeApiClient(AppsV1Api);
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#scheduling = options.kubeConfig.makeApiClient(SchedulingV1Api);
    const informerOptions = {
      ...options.informer,
      namespace: options.namespace,
      labelSelector: MANAGED_SELECTOR,
      onError: options.informer?.onError ?? options.onError,
    };
    this.#informer = new PodInformer(options.kubeConfig, informerOptions);
    this.#deployments = deploymentInformer(options.kubeConfig, informerOptions);
    this.#services = serviceInformer(options.kubeConfig, informerOptions);
  }

  /** The pod informer behind `watchPods` and `listPods` (tests of recovery reach into it). */
  get informer(): PodInformer {
    return this.#informer;
  }

  /** Every informer of the runtime (tests count their lists). */
  get informers(): { readonly pods: PodInformer; readonly deployments: Informer<V1Deployment>; readonly services: Informer<V1Service> } {
    return { pods: this.#informer, deployments: this.#deployments, services: this.#services };
  }

  /** Ensures the PriorityClasses, then fills the caches; resolves once all are synced. Idempotent. */
  async start(): Promise<void> {
    if (this.#state === 'stopped') throw new RuntimeUnavailableError('this runtime was stopped; create a new one');
    if (this.#state === 'started') return;
    this.#starting ??= (async () => {
      this.#state = 'starting';
      await ensurePriorityClasses(this.#scheduling);
      const timeoutMs = this.#options.syncTimeoutMs ?? 60_000;
      await Promise.all([this.#informer.start(timeoutMs), this.#deployments.start(timeoutMs), this.#services.start(timeoutMs)]);
      if (this.#state === 'starting') this.#state = 'started';
    })().finally(() => {
      this.#starting = undefined;
    });
    await this.#starting;
  }

  /** Stops the informers; handlers get no event afterwards. Idempotent. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#informer.stop();
    this.#deployments.stop();
    this.#services.stop();
  }

  /** Relists every cache; resolves once each holds a list made after the call. */
  async resync(): Promise<void> {
    await this.start();
    const timeoutMs = this.#options.syncTimeoutMs ?? 60_000;
    await Promise.all([this.#informer.resync(timeoutMs), this.#deployments.resync(timeoutMs), this.#services.resync(timeoutMs)]);
  }

  /** Whether the caches hold the truth: the readiness signal. */
  isSynced(): boolean {
    return this.#state === 'started' && this.#informer.isSynced() && this.#deployments.isSynced() && this.#services.isSynced();
  }

  /** Restarts of the pod informer's watch. */
  podWatchRestarts(): number {
    return this.#informer.stats.restarts;
  }

  /** Creates or updates a proton's Deployment; a changed revision rolls its pods, new before old. */
  async applyProton(spec: ProtonSpec): Promise<ObservedProton> {
    assertValidProtonSpec(spec);
    const name = protonObjectName(spec.protonId);
    const context: ErrorContext = { objectKind: 'proton', objectId: spec.protonId, action: 'apply' };
    return this.#retryingConflicts(context, async (fresh) => {
      const existing = await this.#readDeployment(name, fresh);
      if (!existing) {
        try {
          const created = await this.#apps.createNamespacedDeployment({ namespace: this.namespace, body: protonDeployment(spec, this.namespace) });
          this.#deployments.noteWritten(created);
          return this.#observe(created);
        } catch (error) {
          if (isAlreadyExists(error)) throw new RetryableRace();
          throw error;
        }
      }
      const labels = existing.metadata?.labels ?? {};
      if (labels[LABELS.workloadId] !== spec.workloadId) {
        throw new RuntimeConflictError(`proton ${spec.protonId} belongs to workload ${labels[LABELS.workloadId]}, not ${spec.workloadId}`);
      }
      if (existing.metadata?.deletionTimestamp) {
        throw new RuntimeConflictError(`proton ${spec.protonId} is being deleted; apply it again once it is gone`);
      }
      const revision = protonRevision(spec);
      const template = existing.spec?.template;
      const revisionChanged = template?.metadata?.labels?.[LABELS.revision] !== revision;
      const importanceChanged = labels[LABELS.importance] !== spec.importance;
      if (!revisionChanged && !importanceChanged && existing.spec?.replicas === spec.replicas) return this.#observe(existing);
      const templateImportance = template?.metadata?.labels?.[LABELS.importance];
      const desired = protonDeployment(
        spec,
        this.namespace,
        revisionChanged || !isImportance(templateImportance) ? spec.importance : templateImportance,
      );
      const updated: V1Deployment = {
        ...existing,
        metadata: { ...existing.metadata, labels: { ...labels, ...desired.metadata?.labels } },
        spec: {
          ...existing.spec!,
          replicas: spec.replicas,
          ...(revisionChanged && { template: desired.spec!.template }),
        },
      };
      const replaced = await this.#apps.replaceNamespacedDeployment({ name, namespace: this.namespace, body: updated });
      this.#deployments.noteWritten(replaced);
      if (importanceChanged) await this.#relabelPods({ protonId: spec.protonId }, spec.importance);
      return this.#observe(replaced);
    });
  }

  /** Sets a proton's desired pod count. */
  async scaleProton(protonId: string, replicas: number): Promise<ObservedProton> {
    assertValidReplicas(replicas);
    const name = protonObjectName(protonId);
    const context: ErrorContext = { objectKind: 'proton', objectId: protonId, action: 'scale' };
    // The deployment controller writes the object too (status, annotations): a 409 is re-read and retried.
    return this.#retryingConflicts(context, async (fresh) => {
      const existing = await this.#readDeployment(name, fresh);
      if (!existing) throw new RuntimeNotFoundError('proton', protonId);
      if (existing.metadata?.deletionTimestamp) throw new RuntimeConflictError(`proton ${protonId} is being deleted`);
      const patched = await this.#apps.patchNamespacedDeployment(
        {
          name,
          namespace: this.namespace,
          // The resourceVersion makes the patch conditional: the proton cannot have been replaced meanwhile.
          body: { metadata: { resourceVersion: existing.metadata?.resourceVersion }, spec: { replicas } },
        },
        MERGE_PATCH,
      );
      this.#deployments.noteWritten(patched);
      return this.#observe(patched);
    });
  }

  /** Deletes a proton in the foreground: its pods terminate gracefully, then the Deployment is gone. */
  async deleteProton(protonId: string): Promise<void> {
    const context: ErrorContext = { objectKind: 'proton', objectId: protonId, action: 'delete' };
    const name = protonObjectName(protonId);
    await this.#call(context, async () => {
      try {
        await this.#apps.deleteNamespacedDeployment({ name, namespace: this.namespace, propagationPolicy: 'Foreground' });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#deployments.noteDeleted(name);
        return;
      }
      // Foreground: the Deployment stays (being deleted) until its pods are gone.
      const cached = this.#deployments.get(name);
      if (cached) {
        this.#deployments.noteDeleted(name, { ...cached, metadata: { ...cached.metadata, deletionTimestamp: cached.metadata?.deletionTimestamp ?? new Date() } });
      }
    });
  }

  /** Relabels the workload's Deployments, pods and Service with the importance; restarts nothing. */
  async setImportance(workloadId: string, importance: Importance): Promise<void> {
    const context: ErrorContext = { objectKind: 'proton', objectId: `of workload ${workloadId}`, action: 'set importance of' };
    await this.#call(context, async () => {
      for (const d of await this.#deploymentsOf({ workloadId })) {
        if (d.metadata?.labels?.[LABELS.importance] === importance) continue;
        await ignoringNotFound(async () =>
          this.#deployments.noteWritten(
            await this.#apps.patchNamespacedDeployment(
              { name: d.metadata!.name!, namespace: this.namespace, body: { metadata: { labels: { [LABELS.importance]: importance } } } },
              MERGE_PATCH,
            ),
          ),
        );
      }
      await this.#relabelPods({ workloadId }, importance);
      await ignoringNotFound(async () =>
        this.#services.noteWritten(
          await this.#core.patchNamespacedService(
            { name: routeObjectName(workloadId), namespace: this.namespace, body: { metadata: { labels: { [LABELS.importance]: importance } } } },
            MERGE_PATCH,
          ),
        ),
      );
    });
  }

  /** The protons that exist, being deleted included (from the cache once synced). */
  async listProtons(filter: RuntimeFilter = {}): Promise<readonly ObservedProton[]> {
    const context: ErrorContext = { objectKind: 'proton', objectId: JSON.stringify(filter), action: 'list' };
    return this.#call(context, async () => {
      const deployments = await this.#deploymentsOf(filter);
      return deployments.filter((d) => !this.#goneButForTheGarbageCollector(d)).map((d) => this.#observe(d));
    });
  }

  /** One proton, or undefined (from the cache once synced). */
  async getProton(protonId: string): Promise<ObservedProton | undefined> {
    const context: ErrorContext = { objectKind: 'proton', objectId: protonId, action: 'read' };
    return this.#call(context, async () => {
      const d = await this.#readDeployment(protonObjectName(protonId), false);
      return d && !this.#goneButForTheGarbageCollector(d) ? this.#observe(d) : undefined;
    });
  }

  /** Points the workload's Service at a proton's pods (or none) with one change of its selector. */
  async routeWorkload(workloadId: string, protonId: string | null): Promise<WorkloadRoute> {
    if (workloadId.trim() === '' || protonId?.trim() === '') throw new RuntimeInvalidError('route ids must not be empty');
    const name = routeObjectName(workloadId);
    const context: ErrorContext = { objectKind: 'route', objectId: workloadId, action: 'route' };
    return this.#retryingConflicts(context, async (fresh) => {
      const existing = await this.#readService(name, fresh);
      if (!existing) {
        try {
          const created = await this.#core.createNamespacedService({ namespace: this.namespace, body: routeService(workloadId, protonId, this.namespace) });
          this.#services.noteWritten(created);
          return routeOf(created);
        } catch (error) {
          if (isAlreadyExists(error)) throw new RetryableRace();
          throw error;
        }
      }
      const selector = routeSelector(workloadId, protonId);
      if (sameMap(existing.spec?.selector ?? {}, selector)) return routeOf(existing);
      // A PUT with the read resourceVersion: the whole selector changes at once, or not at all.
      const replaced = await this.#core.replaceNamespacedService({
        name,
        namespace: this.namespace,
        body: { ...existing, spec: { ...existing.spec, selector } },
      });
      this.#services.noteWritten(replaced);
      return routeOf(replaced);
    });
  }

  /** Removes the workload's Service; a missing one is a no-op. */
  async deleteRoute(workloadId: string): Promise<void> {
    const context: ErrorContext = { objectKind: 'route', objectId: workloadId, action: 'delete' };
    const name = routeObjectName(workloadId);
    await this.#call(context, async () => {
      await ignoringNotFound(() => this.#core.deleteNamespacedService({ name, namespace: this.namespace }));
      this.#services.noteDeleted(name);
    });
  }

  /** The workload's route, or undefined (from the cache once synced). */
  async getRoute(workloadId: string): Promise<WorkloadRoute | undefined> {
    const context: ErrorContext = { objectKind: 'route', objectId: workloadId, action: 'read' };
    return this.#call(context, async () => {
      const service = await this.#readService(routeObjectName(workloadId), false);
      return service && routeOf(service);
    });
  }

  /**
   * Where a workload's traffic goes now: its Service (`http://workload-{id}.{namespace}.svc`,
   * which Kubernetes balances over the ready pods the selector names), or why nowhere. The
   * address resolves inside the cluster, where the API server runs in production.
   */
  async resolveRoute(workloadId: string): Promise<RouteResolution> {
    const route = await this.getRoute(workloadId);
    if (!route) return { kind: 'unroutable', protonId: null, reason: 'NoRoute' };
    if (route.protonId === null) return { kind: 'unroutable', protonId: null, reason: 'RoutedNowhere' };
    const protonId = route.protonId;
    const ready = this.#informer
      .list()
      .some((p) => matches(p, { protonId }) && !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (!ready) return { kind: 'unroutable', protonId, reason: 'NoReadyReplica' };
    return { kind: 'forward', protonId, target: new URL(`http://${routeObjectName(workloadId)}.${this.namespace}.svc:${ROUTE_PORT.port}`) };
  }

  /** Subscribes to pod events from the informer. */
  watchPods(handler: PodEventHandler, options: WatchPodsOptions = {}): Unsubscribe {
    if (this.#state === 'stopped') throw new RuntimeUnavailableError('this runtime was stopped');
    return this.#informer.subscribePods(handler, options.replay ?? false);
  }

  /** The cached pods (frozen), filtered by workload or proton. */
  async listPods(filter: RuntimeFilter = {}): Promise<readonly V1Pod[]> {
    if (!this.#informer.isSynced()) throw new RuntimeUnavailableError('the pod cache is not synced yet');
    return this.#informer.list().filter((p) => matches(p, filter));
  }

  // ------------------------------------------------------------------ internals

  /** A Deployment from the cache, or (`fresh`, or no synced cache) from the API server. */
  async #readDeployment(name: string, fresh: boolean): Promise<V1Deployment | undefined> {
    if (!fresh && this.#deployments.isSynced()) return this.#deployments.get(name);
    try {
      return await this.#apps.readNamespacedDeployment({ name, namespace: this.namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** A Service from the cache, or (`fresh`, or no synced cache) from the API server. */
  async #readService(name: string, fresh: boolean): Promise<V1Service | undefined> {
    if (!fresh && this.#services.isSynced()) return this.#services.get(name);
    try {
      return await this.#core.readNamespacedService({ name, namespace: this.namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The Deployments matching the filter, from the cache once synced. */
  async #deploymentsOf(filter: RuntimeFilter): Promise<readonly V1Deployment[]> {
    if (this.#deployments.isSynced()) return this.#deployments.list().filter((d) => matchesLabels(d.metadata?.labels, filter));
    return (await this.#apps.listNamespacedDeployment({ namespace: this.namespace, labelSelector: selectorOf(filter) })).items;
  }

  /** Sets the importance label on live pods matching the filter, read fresh from the API server. */
  async #relabelPods(filter: RuntimeFilter, importance: Importance): Promise<void> {
    const pods = await this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector: selectorOf(filter) });
    for (const pod of pods.items) {
      if (pod.metadata?.labels?.[LABELS.importance] === importance || pod.metadata?.deletionTimestamp) continue;
      await ignoringNotFound(() =>
        this.#core.patchNamespacedPod(
          { name: pod.metadata!.name!, namespace: this.namespace, body: { metadata: { labels: { [LABELS.importance]: importance } } } },
          MERGE_PATCH,
        ),
      );
    }
  }

  /**
   * A proton being deleted is listed until its last pod is gone (the port's rule). Kubernetes
   * removes the Deployment itself a little later, in the garbage collector's own time, with no
   * pod event to tell: from the last pod's `deleted` event on, it counts as gone.
   */
  #goneButForTheGarbageCollector(deployment: V1Deployment): boolean {
    if (!deployment.metadata?.deletionTimestamp || !this.#informer.isSynced()) return false;
    const protonId = deployment.metadata.labels?.[LABELS.protonId];
    return !this.#informer.list().some((p) => matches(p, { protonId }));
  }

  #observe(deployment: V1Deployment): ObservedProton {
    const protonId = deployment.metadata?.labels?.[LABELS.protonId];
    const pods = this.#informer.isSynced() && protonId ? this.#informer.list().filter((p) => matches(p, { protonId })) : [];
    return observeDeployment(deployment, pods);
  }

  /** Runs one call, mapping any failure onto the typed set. */
  async #call<T>(context: ErrorContext, call: () => Promise<T>): Promise<T> {
    if (this.#state === 'stopped') throw new RuntimeUnavailableError('this runtime was stopped');
    return mappedCall(context, call);
  }

  /** A read-modify-write, again from a fresh read whenever it lost a race (see `retryingConflicts`). */
  async #retryingConflicts<T>(context: ErrorContext, attempt: (fresh: boolean) => Promise<T>): Promise<T> {
    return this.#call(context, () => retryingConflicts(context, this.#options.conflictRetries ?? 8, attempt));
  }
}

