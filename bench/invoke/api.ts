/**
 * The API process of the invoke benchmark, run as compiled JavaScript (`dist/bench/invoke/api.js`):
 * the whole app as `main.ts` builds it (production settings, the embedded database, the simulated
 * cluster), except that where the simulated cluster routes a workload's traffic to a replica it
 * serves itself, the address is replaced by the bench replica's (`BENCH_REPLICA_URL`), which runs
 * in a process of its own. The route is still resolved per request by the simulated cluster, so
 * its cost stays in the measurement. Prints {"url": ...} once listening; SIGTERM stops it.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { acceleratedTimings, createSimulatedRuntime } from '../../src/runtime/simulated/index.js';

const replica = new URL(process.env.BENCH_REPLICA_URL ?? '');
const config = loadConfig(process.env);
const runtime = createSimulatedRuntime({ timings: acceleratedTimings(config.simulatedSpeed) });
const resolve = runtime.resolveRoute.bind(runtime);
runtime.resolveRoute = async (workloadId) => {
  const route = await resolve(workloadId);
  return route.kind === 'forward' ? { ...route, target: replica } : route;
};
const app = await buildApp({ config, runtime });
const url = await app.start();
process.stdout.write(`${JSON.stringify({ url })}\n`);
const stop = () => void app.stop().then(() => process.exit(0), () => process.exit(1));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// With BENCH_PROFILE_FILE: SIGUSR2 starts the CPU profiler, the next SIGUSR2 writes the profile
// there and prints {"profiled": true}; so the profile holds the measured window only.
const profileFile = process.env.BENCH_PROFILE_FILE;
if (profileFile) {
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on('SIGUSR2', () => {
    profiling = !profiling;
    const done = profiling
      ? session.post('Profiler.enable').then(() => session.post('Profiler.start'))
      : session.post('Profiler.stop').then(({ profile }) => {
          writeFileSync(profileFile, JSON.stringify(profile));
          process.stdout.write(`${JSON.stringify({ profiled: true })}\n`);
        });
    void done.catch((err: unknown) => process.stderr.write(`profiling failed: ${String(err)}\n`));
  });
}
