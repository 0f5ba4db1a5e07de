/** The simulated cluster passes the `ProtonRuntime` contract on real, accelerated timers. */
import { acceleratedTimings, createSimulatedRuntime } from '../../../src/runtime/simulated/index.js';
import { describeProtonRuntimeContract } from '../contract.js';

describeProtonRuntimeContract('simulated cluster', async () => {
  const runtime = createSimulatedRuntime({ timings: acceleratedTimings(200) });
  await runtime.start();
  return { runtime, dispose: () => runtime.stop() };
});
