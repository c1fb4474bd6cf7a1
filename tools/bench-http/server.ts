// One server process of the HTTP benchmark: `plain` serves a trivial handler with node:http,
// `instrumented` serves the same handler through instrumentHandler, its metrics in files under
// PROM_MULTIPROC_DIR (the multiprocess mode a clustered service runs). The handler does
// nothing, so the difference between the two is the whole cost of the middleware: the worst
// case for its share of a request.
//
//   node --import tsx tools/bench-http/server.ts plain|instrumented
//
// Prints {"port": N} once listening, and {"cpuMicros": N} (its CPU time so far) on each SIGUSR2,
// so the runner can tell the server's CPU per request apart from the load generator's and the
// machine's. SIGTERM closes the connections and exits normally, so the last values reach the
// files before the runner counts them.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { instrumentHandler, type NodeHandler } from '../../packages/prom-multiproc/src/index.js';

const variant = process.argv[2];
if (variant !== 'plain' && variant !== 'instrumented') {
  console.error('usage: server.ts plain|instrumented');
  process.exit(2);
}

const handler: NodeHandler = (_req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('ok');
};
const app = variant === 'instrumented' ? instrumentHandler(handler, { routes: ['/users/:id', '/health'] }) : handler;

const server = createServer(app);
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
process.on('SIGUSR2', () => {
  const { user, system } = process.cpuUsage();
  console.log(JSON.stringify({ cpuMicros: user + system }));
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
