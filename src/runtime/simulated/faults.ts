/**
 * Faults the simulated cluster can play, chosen by an environment variable of a container in the
 * artifact spec (`SIMULATE_FAULT=crash-loop`), so a user of the embedded mode can demo every
 * failure through the public API; tests may also inject them per proton. See README.md here.
 */

/** The environment variable that selects a fault for the container that carries it. */
export const FAULT_ENV_VAR = 'SIMULATE_FAULT';

/** Every fault the simulated cluster can play. */
export const SIMULATED_FAULTS = [
  /** The image cannot be pulled: `ErrImagePull`, then `ImagePullBackOff`, alternating with growing back-off. */
  'image-pull-failure',
  /** The container exits with code 1 shortly after each start: rising restarts, then `CrashLoopBackOff`. */
  'crash-loop',
  /** Like `crash-loop`, but the container is killed for exceeding its memory limit (exit 137, `OOMKilled`). */
  'oom-killed',
  /** The container runs but its readiness probe never passes. */
  'never-ready',
  /** The container becomes ready only after a long time (`slowStartMs`, or the fault's duration). */
  'slow-start',
  /** After being ready, the pod is evicted for node memory pressure (phase Failed, `Evicted`, DisruptionTarget). */
  'evicted',
  /** After being ready, the container dies once, is restarted, and becomes ready again. */
  'restart-after-ready',
  /** After being ready, the container dies and then crash-loops. */
  'crash-loop-after-ready',
  /** No node fits the pod: it stays Pending with PodScheduled False, reason `Unschedulable`. */
  'unschedulable',
] as const;
export type SimulatedFaultName = (typeof SIMULATED_FAULTS)[number];

/** A fault with its optional duration (`crash-loop:5s`: the container runs 5 s before each crash). */
export interface SimulatedFault {
  readonly name: SimulatedFaultName;
  /** Overrides the fault's timing from the profile: how long until the fault strikes, or, for `slow-start`, until ready. */
  readonly afterMs?: number;
}

/** The outcome of reading a `SIMULATE_FAULT` value. */
export type FaultParseResult =
  | { readonly ok: true; readonly fault: SimulatedFault }
  | { readonly ok: false; readonly message: string };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** Parses `name[:duration]` (durations like `500ms`, `5s`, `2m`), case-insensitively. */
export function parseFault(value: string): FaultParseResult {
  const [rawName = '', rawDuration, ...extra] = value.trim().toLowerCase().split(':');
  const valid = `valid values: ${SIMULATED_FAULTS.join(', ')}, optionally with ":<duration>" such as "crash-loop:5s"`;
  if (!(SIMULATED_FAULTS as readonly string[]).includes(rawName) || extra.length > 0) {
    return { ok: false, message: `${FAULT_ENV_VAR}="${value}" is not a simulated fault; ${valid}` };
  }
  const name = rawName as SimulatedFaultName;
  if (rawDuration === undefined || rawDuration === '') return { ok: true, fault: { name } };
  const match = DURATION.exec(rawDuration);
  if (!match) {
    return { ok: false, message: `${FAULT_ENV_VAR}="${value}": "${rawDuration}" is not a duration such as 500ms, 5s or 2m` };
  }
  const afterMs = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
  return { ok: true, fault: { name, afterMs } };
}

/** The fault a container's environment selects: none, a fault, or a parse error to show on the pod. */
export function faultFromEnv(env: readonly { readonly name: string; readonly value: string }[]): FaultParseResult | undefined {
  const entry = env.find((e) => e.name === FAULT_ENV_VAR);
  return entry === undefined || entry.value.trim() === '' ? undefined : parseFault(entry.value);
}
