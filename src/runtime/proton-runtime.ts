/**
 * The `ProtonRuntime` port: everything the controller asks of a cluster, and everything it sees
 * of one. Two adapters implement it: the simulated cluster (`./simulated/`, the embedded
 * default) and Kubernetes (`./kubernetes/`). The port speaks the cluster's own vocabulary where
 * that is the truth the domain needs (pods are real `V1Pod` objects, so `observePod` reads the
 * same facts from both adapters) and the product's vocabulary everywhere else (protons, routes,
 * importance), so the Kubernetes adapter maps one call onto its objects without changing it:
 *
 * | Port                      | Kubernetes                                                           |
 * | ------------------------- | -------------------------------------------------------------------- |
 * | proton (`applyProton`)    | a Deployment `proton-{protonId}`, labelled (see `LABELS`), strategy RollingUpdate maxSurge 25% / maxUnavailable 0 |
 * | template revision         | the pod template's `workload-api/revision` label (`protonRevision`)  |
 * | restart (`restartedAt`)   | the pod template's `kubectl.kubernetes.io/restartedAt` annotation    |
 * | importance                | labels on the Deployment and its pods; `priorityClassName` of pods created from then on |
 * | route (`routeWorkload`)   | a Service `workload-{workloadId}` whose selector names the proton    |
 * | `deleteProton`            | delete with `propagationPolicy: Foreground`                          |
 * | `watchPods` / `listPods`  | a pod informer on the `app.kubernetes.io/managed-by` label           |
 * | `getProton`, `getRoute`   | Deployment and Service informers on the same label (reads never reach the API server) |
 *
 * Every mutation is idempotent: the controller may repeat any call after a crash.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Importance } from '../domain/model.js';
import type { ProbeSpec } from '../domain/artifact-spec.js';
import type { RouteResolver } from './route-resolver.js';

/** One container of a proton, resolved from the artifact spec with the runtime's overrides applied. */
export interface ProtonContainer {
  /** DNS label, unique within the proton. */
  readonly name: string;
  /** OCI image reference. */
  readonly image: string;
  /** The container that serves the workload's traffic; exactly one per proton. */
  readonly primary: boolean;
  /** The port the primary container listens on (only the primary has one). */
  readonly port?: number;
  /** Overrides the image's entrypoint (Kubernetes `command`). */
  readonly entrypoint?: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly readinessProbe?: ProbeSpec;
  readonly livenessProbe?: ProbeSpec;
  readonly startupProbe?: ProbeSpec;
  /** Requests (and, for memory, the limit), as Kubernetes quantities. */
  readonly resources?: { readonly cpu?: string; readonly memory?: string };
}

/** The desired state of one proton: what `applyProton` converges the cluster to. */
export interface ProtonSpec {
  readonly workloadId: string;
  /** DNS-label-safe id (a UUID is fine), unique across the cluster. */
  readonly protonId: string;
  readonly containers: readonly ProtonContainer[];
  /** Desired pod count; 0 keeps the proton with no pods (a stopped workload). */
  readonly replicas: number;
  readonly importance: Importance;
  /** A restart request: changing it rolls every pod, like `kubectl rollout restart`. */
  readonly restartedAt?: Date;
}

/** A proton as the cluster holds it: the facts needed for crash recovery and orphan cleanup. */
export interface ObservedProton {
  readonly workloadId: string;
  readonly protonId: string;
  readonly importance: Importance;
  /** Desired pod count. */
  readonly replicas: number;
  /** The template revision pods are being rolled to (`protonRevision` of the applied spec). */
  readonly revision: string;
  readonly restartedAt?: Date;
  /** Bumped by every change of the template (like a Deployment's `metadata.generation`). */
  readonly generation: number;
  readonly creationTimestamp: Date;
  /** Set once `deleteProton` was called; the proton is listed until its last pod is gone. */
  readonly deletionTimestamp?: Date;
  /** Pod counts as the cluster last reported them (Deployment `status`). */
  readonly status: {
    /** Pods not being deleted, any revision. */
    readonly replicas: number;
    /** Pods of the current revision not being deleted. */
    readonly updatedReplicas: number;
    /** Ready pods, any revision. */
    readonly readyReplicas: number;
  };
}

/** A workload's stable route: which proton its traffic goes to. */
export interface WorkloadRoute {
  readonly workloadId: string;
  /** The proton that receives the traffic; `null` routes nowhere (requests fail fast). */
  readonly protonId: string | null;
}

/** One change of a pod, as an informer delivers it. Pods are frozen: never mutate them. */
export type PodEvent =
  | { readonly type: 'added'; readonly pod: V1Pod }
  | { readonly type: 'modified'; readonly pod: V1Pod; readonly previous: V1Pod }
  | { readonly type: 'deleted'; readonly pod: V1Pod }
  /** The watch failed and is being restarted; events may have been missed: resync with `listPods`. */
  | { readonly type: 'error'; readonly error: RuntimeError };

/** Receives pod events in the order the cluster produced them. */
export type PodEventHandler = (event: PodEvent) => void;

/** Options of `watchPods`. */
export interface WatchPodsOptions {
  /** Deliver an `added` event for every pod that exists when the handler is registered. */
  readonly replay?: boolean;
}

/** Narrows `listPods` / `listProtons`. */
export interface RuntimeFilter {
  readonly workloadId?: string;
  readonly protonId?: string;
}

/** Stops a watch. Calling it twice is harmless. */
export type Unsubscribe = () => void;

/** The cluster the controller drives, and that the invoke endpoint routes requests into (`resolveRoute`). */
export interface ProtonRuntime extends RouteResolver {
  /** Which adapter this is: metrics and readiness say so; nothing else branches on it. */
  readonly kind: 'simulated' | 'kubernetes';
  /** Connects and fills the pod cache; resolves once synced. Idempotent. */
  start(): Promise<void>;
  /** Stops watching and releases every resource; handlers get no event afterwards. Idempotent. */
  stop(): Promise<void>;
  /**
   * Relists whatever the runtime caches, and resolves once its reads are no older than the call
   * (a replica that becomes the leader calls it before its first pass; ADR 0044).
   */
  resync(): Promise<void>;
  /** Whether the pod cache is synced (`listPods` tells the truth): the readiness signal. */
  isSynced(): boolean;
  /** How often the pod watch had to be restarted (a metric; 0 for a runtime whose watch cannot fail). */
  podWatchRestarts(): number;

  /** Creates or updates a proton idempotently; a changed template (containers, `restartedAt`) rolls its pods, new before old. */
  applyProton(spec: ProtonSpec): Promise<ObservedProton>;
  /** Sets a proton's desired pod count; throws `RuntimeNotFoundError` for an unknown proton. */
  scaleProton(protonId: string, replicas: number): Promise<ObservedProton>;
  /** Deletes a proton gracefully: its pods get a deletion timestamp, then vanish. A missing proton is a no-op. */
  deleteProton(protonId: string): Promise<void>;
  /** Patches the importance label on every object of the workload at once; restarts nothing. */
  setImportance(workloadId: string, importance: Importance): Promise<void>;
  /** The protons that exist (being deleted included), for crash recovery and orphan cleanup. */
  listProtons(filter?: RuntimeFilter): Promise<readonly ObservedProton[]>;
  /** One proton, or undefined if it does not exist. */
  getProton(protonId: string): Promise<ObservedProton | undefined>;

  /** Points the workload's stable route at a proton (or nowhere) in one atomic change; creates the route if needed. */
  routeWorkload(workloadId: string, protonId: string | null): Promise<WorkloadRoute>;
  /** Removes the workload's route; a missing route is a no-op. */
  deleteRoute(workloadId: string): Promise<void>;
  /** The workload's route, or undefined if it has none. */
  getRoute(workloadId: string): Promise<WorkloadRoute | undefined>;

  /** Subscribes to pod events of every proton; subscribe before `listPods` so nothing falls in between. */
  watchPods(handler: PodEventHandler, options?: WatchPodsOptions): Unsubscribe;
  /** The pods in the cache now (frozen objects): for resync, and the replica detail of the API. */
  listPods(filter?: RuntimeFilter): Promise<readonly V1Pod[]>;
}

/** The kinds of runtime failure; adapters map their own errors (HTTP statuses) onto these once. */
export type RuntimeErrorKind = 'NotFound' | 'Conflict' | 'Unavailable' | 'Invalid';

/** The base of every failure a runtime reports. */
export abstract class RuntimeError extends Error {
  abstract readonly kind: RuntimeErrorKind;
  /** Whether repeating the same call later may succeed. */
  abstract readonly retryable: boolean;
}

/** The object does not exist (HTTP 404). */
export class RuntimeNotFoundError extends RuntimeError {
  readonly kind = 'NotFound';
  readonly retryable = false;
  constructor(
    readonly objectKind: 'proton' | 'route' | 'pod',
    readonly objectId: string,
    options?: ErrorOptions,
  ) {
    super(`${objectKind} ${objectId} was not found`, options);
    this.name = 'RuntimeNotFoundError';
  }
}

/** The change collides with the object's current state (HTTP 409, or an object being deleted); may clear after a re-read. */
export class RuntimeConflictError extends RuntimeError {
  readonly kind = 'Conflict';
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuntimeConflictError';
  }
}

/** The cluster cannot be reached or is not ready (network, HTTP 429/5xx, not synced yet); retry with back-off. */
export class RuntimeUnavailableError extends RuntimeError {
  readonly kind = 'Unavailable';
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuntimeUnavailableError';
  }
}

/** The cluster refuses the request as malformed (HTTP 400/422); repeating it cannot help. */
export class RuntimeInvalidError extends RuntimeError {
  readonly kind = 'Invalid';
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RuntimeInvalidError';
  }
}

/** Whether `error` is a runtime failure that a later retry may clear. */
export function isRetryableRuntimeError(error: unknown): boolean {
  return error instanceof RuntimeError && error.retryable;
}
