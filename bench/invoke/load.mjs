// The load generator of the invoke benchmark, in a process of its own (forked with IPC): for each
// message {url, headers, concurrency, seconds} it runs C closed-loop callers over keep-alive
// connections (each sends its next request when the previous answer has arrived) and answers
// {latencies, errors, statuses, elapsed}.
import http from 'node:http';

async function run({ url, headers, concurrency, seconds }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const options = { host: target.hostname, port: target.port, path: target.pathname + target.search, agent, headers };
  const latencies = [];
  const statuses = {};
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const one = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = http.request(options, (res) => {
        res.resume();
        res.on('end', () => {
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode !== 200) errors++;
          latencies.push(performance.now() - started);
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const caller = async () => {
    while (performance.now() < end) await one();
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, errors, statuses, elapsed };
}

process.on('message', (m) => {
  void run(m).then((result) => process.send(result));
});
process.on('disconnect', () => process.exit(0));
