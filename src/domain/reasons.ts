/**
 * Named reasons. Kubernetes reasons are carried up verbatim (users search for them); the
 * reasons below are ours, for facts Kubernetes has no word for. Like Knative's reason constants,
 * they are stable strings that tests, events and clients can rely on.
 */

/** Our reasons (PascalCase like Kubernetes' own, so both kinds read alike in one list). */
export const REASONS = {
  /** A transitional state outlived its configured deadline. */
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  /** A service's containers all exited (pod phase Succeeded): a service must keep running. */
  ServiceExited: 'ServiceExited',
  /** The node running the pod stopped reporting (set on the pod by older node controllers). */
  NodeLost: 'NodeLost',
  /**
   * The node controller marked the pod unready while the kubelet's last word was "all containers
   * ready": the node stopped reporting, so the pod's real state is not known.
   */
  NodeNotReady: 'NodeNotReady',
  /** The proton has fewer pods than desired and the missing ones are not created yet. */
  ReplicasMissing: 'ReplicasMissing',
  /** The draft's time to live ran out; the workload reached its end of life. */
  TTLExpired: 'TTLExpired',
  /** A replacement was cancelled by its user before the traffic switch. */
  ReplacementCancelled: 'ReplacementCancelled',
  /** A replacement was superseded by a stop, delete or TTL expiry of its workload. */
  ReplacementSuperseded: 'ReplacementSuperseded',
  /** An in-place update or restart is still replacing the proton's pods. */
  RolloutInProgress: 'RolloutInProgress',
  /** The candidate proton of a replacement failed. */
  CandidateFailed: 'CandidateFailed',
  /** The database refused a replacement's step (a rule across objects, e.g. its target draft is taken). */
  StepRefused: 'StepRefused',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/**
 * Container waiting reasons that mean the container will not start without someone changing
 * something: reported as `errored` on the first pod event that shows them (SPEC.md section 2).
 * `ErrImageNeverPull` and `RunContainerError` are of the same kind as the spec's list.
 */
export const FATAL_WAITING_REASONS: ReadonlySet<string> = new Set([
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'ErrImageNeverPull',
  'RunContainerError',
]);

/**
 * Waiting reasons that may clear by themselves (a registry hiccup): the replica stays
 * `provisioning` with the reason shown; if the pull keeps failing, the kubelet's back-off
 * (`ImagePullBackOff`, fatal) follows within seconds.
 */
export const TRANSIENT_WAITING_REASONS: ReadonlySet<string> = new Set(['ErrImagePull']);

/**
 * Pod `status.reason` values that mean the cluster took the pod away (not the workload's fault),
 * also without a `DisruptionTarget` condition (clusters before 1.26, or a condition not written).
 * Kubelet's node-pressure eviction says `Evicted`, its critical-pod preemption `Preempting`, its
 * graceful node shutdown `Terminated` (and `NodeShutdown` for a pod refused while the node shuts
 * down; `Shutdown` before 1.21); `Preempted` and `NodeLost` are set by some schedulers and by
 * the node controller for a node that stopped reporting.
 */
export const DISRUPTION_POD_REASONS: ReadonlySet<string> = new Set([
  'Evicted',
  'Preempted',
  'Preempting',
  'Terminated',
  'NodeShutdown',
  'Shutdown',
  'NodeLost',
]);
