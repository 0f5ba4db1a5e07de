// The API's event-loop turns, measured from inside for `bench/controller/run.ts --turns` (loaded
// with `node --import`): a 1 ms interval timer notes every gap between two of its callbacks over
// 12 ms (a turn of the loop that long, or the thread waiting for a CPU), with what the main thread
// did meanwhile: its time on a CPU and waiting for one (/proc/self/task/PID/schedstat, read at each
// callback), the garbage collections that overlapped the gap (perf_hooks), and how many HTTP
// connections and requests arrived in it. Written as JSON to TURNS_OUT when the process exits.
// The timer and the reads cost the process about a thousand wake-ups and file reads a second: a
// diagnosis, not part of the measured runs.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const out = process.env.TURNS_OUT;
if (out) {
  const file = `/proc/self/task/${process.pid}/schedstat`;
  const schedule = () => readFileSync(file, 'utf8').split(' ').map(Number);
  const wall = () => performance.timeOrigin + performance.now();
  let connections = 0;
  let requests = 0;
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, ...args) {
    if (event === 'connection') connections++;
    else if (event === 'request') requests++;
    return emit.call(this, event, ...args);
  };
  const collections = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) collections.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ entryTypes: ['gc'] });
  const gaps = [];
  let last = { at: wall(), schedule: schedule(), connections, requests };
  setInterval(() => {
    const now = { at: wall(), schedule: schedule(), connections, requests };
    const ms = now.at - last.at;
    if (ms > 12) {
      const gc = collections.filter(([s, d]) => s + d > last.at && s < now.at).reduce((sum, [, d]) => sum + d, 0);
      gaps.push({
        at: last.at,
        ms,
        runMs: (now.schedule[0] - last.schedule[0]) / 1e6,
        waitMs: (now.schedule[1] - last.schedule[1]) / 1e6,
        gcMs: gc,
        connections: now.connections - last.connections,
        requests: now.requests - last.requests,
      });
    }
    last = now;
  }, 1).unref();
  process.on('exit', () => writeFileSync(out, JSON.stringify(gaps)));
}
