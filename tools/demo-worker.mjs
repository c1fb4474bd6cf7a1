// One demo worker: a tiny HTTP app whose request metrics go to the shared directory.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { Counter, Gauge, Histogram, MultiprocessRegistry } from '../packages/prom-multiproc/dist/esm/index.js';

const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'] });
const duration = new Histogram({
  name: 'http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
});
const inFlight = new Gauge({ name: 'http_in_flight_requests', help: 'Requests being served', multiprocessMode: 'livesum' });
const registry = new MultiprocessRegistry();

const routes = [
  { pattern: /^\/users\/\d+$/, route: '/users/:id', handle: (res) => res.end('user') },
  { pattern: /^\/health$/, route: '/health', handle: (res) => res.end('ok') },
  { pattern: /^\/error$/, route: '/error', handle: () => { throw new Error('boom'); } },
];

const server = createServer(async (req, res) => {
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (pathname === '/metrics') {
    res.setHeader('Content-Type', registry.contentType);
    res.end(await registry.metrics());
    return;
  }
  const match = routes.find((candidate) => candidate.pattern.test(pathname));
  // Unknown paths fold into one series, so scanners cannot blow up the label cardinality.
  const route = match?.route ?? '<unmatched>';
  const end = duration.startTimer({ method: req.method, route });
  inFlight.inc();
  try {
    if (match === undefined) res.statusCode = 404;
    else match.handle(res);
  } catch {
    res.statusCode = 500;
  }
  if (!res.writableEnded) res.end();
  inFlight.dec();
  end();
  requests.labels(req.method ?? 'GET', route, String(res.statusCode)).inc();
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  cluster.worker?.send({ listening: true, port: server.address().port });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
