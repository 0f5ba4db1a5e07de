/** The simulated cluster runtime: the embedded default adapter of the `ProtonRuntime` port. */
export { FAULT_ENV_VAR, SIMULATED_FAULTS, faultFromEnv, parseFault } from './faults.js';
export type { FaultParseResult, SimulatedFault, SimulatedFaultName } from './faults.js';
export { SimulatedCluster } from './simulated-cluster.js';
export type { InjectFaultOptions, SimulatedClusterOptions } from './simulated-cluster.js';
export { SimulatedProtonRuntime, createSimulatedRuntime } from './simulated-runtime.js';
export type { SimulatedRuntimeOptions } from './simulated-runtime.js';
export { ManualTimers, realTimers } from './timers.js';
export type { TimerHandle, Timers } from './timers.js';
export { DEFAULT_TIMINGS, acceleratedTimings } from './timings.js';
export type { TimingProfile } from './timings.js';
export { SimulatedReplicaServers } from './replica-server.js';
export type { ReplicaServerOptions } from './replica-server.js';
export { SimulatedRouteResolver } from './route-resolver.js';
