/**
 * How long each stage of a simulated pod takes. The defaults feel like a small real cluster
 * with a warm image cache, so a demo shows every status for a moment; tests pass accelerated
 * or zero timings, or drive `ManualTimers`.
 */

/** Durations in milliseconds of simulated time. */
export interface TimingProfile {
  /** Pod created -> bound to a node (PodScheduled). */
  readonly scheduleMs: number;
  /** Bound -> the kubelet reports the containers as `ContainerCreating`. */
  readonly kubeletSyncMs: number;
  /** `ContainerCreating` (image pull, sandbox) -> containers running, not ready yet. */
  readonly containerCreatingMs: number;
  /** Container running -> its readiness probe passes (also for containers without a probe). */
  readonly readinessMs: number;
  /** `slow-start` fault: running -> ready, unless the fault names its own duration. */
  readonly slowStartMs: number;
  /** Deletion requested -> the pod is gone (the app's shutdown time, within its grace period). */
  readonly terminationMs: number;
  /** `ErrImagePull` -> `ImagePullBackOff`; the kubelet then retries, doubling up to the cap. */
  readonly imagePullBackOffMs: number;
  /** Cap of the image pull back-off. */
  readonly imagePullBackOffMaxMs: number;
  /** Crash faults: container running -> it exits, unless the fault names its own duration. */
  readonly crashAfterMs: number;
  /** A container exited -> the kubelet notices (restarts it, or shows `CrashLoopBackOff`). */
  readonly restartDelayMs: number;
  /** First `CrashLoopBackOff` wait; doubles with every crash up to the cap (kubelet: 10 s, 5 min). */
  readonly crashBackOffMs: number;
  /** Cap of the crash back-off. */
  readonly crashBackOffMaxMs: number;
  /** `evicted`, `restart-after-ready`, `crash-loop-after-ready` faults: ready -> the fault strikes, unless it names its own duration. */
  readonly faultAfterReadyMs: number;
  /** A failed (evicted) pod -> garbage collected. A real cluster keeps them longer; the controller must not rely on either. */
  readonly failedPodGcMs: number;
}

/** Demo timings: every status visible for about a second, a crash loop visible within seconds. */
export const DEFAULT_TIMINGS: TimingProfile = {
  scheduleMs: 300,
  kubeletSyncMs: 200,
  containerCreatingMs: 1500,
  readinessMs: 2000,
  slowStartMs: 30_000,
  terminationMs: 2000,
  imagePullBackOffMs: 2000,
  imagePullBackOffMaxMs: 60_000,
  crashAfterMs: 1000,
  restartDelayMs: 200,
  crashBackOffMs: 2000,
  crashBackOffMaxMs: 60_000,
  faultAfterReadyMs: 10_000,
  failedPodGcMs: 60_000,
};

/** Every duration of `profile` divided by `factor` (e.g. 100 for tests on real timers). */
export function acceleratedTimings(factor: number, profile: TimingProfile = DEFAULT_TIMINGS): TimingProfile {
  return Object.fromEntries(
    Object.entries(profile).map(([k, v]) => [k, Math.round((v as number) / factor)]),
  ) as unknown as TimingProfile;
}
