// The replica of the invoke benchmark, in a process of its own: a plain node:http server that
// answers every request after a service time (the `x-service-ms` request header, 0 by default)
// with a JSON echo of what it was sent (about 0.9 kB, like the simulated replica's answer).
// Prints {"url": "http://127.0.0.1:<port>"} on its first line of standard output.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    const answer = () => {
      const body = JSON.stringify({ replica: 'bench', method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const ms = Number(req.headers['x-service-ms'] ?? 0);
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('disconnect', () => process.exit(0));
