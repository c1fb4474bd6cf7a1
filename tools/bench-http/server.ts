// One server process of the HTTP benchmark: a trivial handler for GET /users/:id, served by
// node:http or Express, in one of three variants:
//   plain           no metrics;
//   prom-multiproc  this package's middleware (instrumentHandler, expressMetrics), its metrics in
//                   files under PROM_MULTIPROC_DIR (the multiprocess mode a clustered service runs);
//   prom-client     prom-client hand-instrumented the usual way: a request counter, a duration
//                   histogram and an in-flight gauge, recorded in a 'finish' listener, with the
//                   same names, labels and buckets as the middleware's.
// The handler does nothing, so the difference to plain is the whole cost of the metrics: the
// worst case for their share of a request.
//
//   node --import tsx tools/bench-http/server.ts node|express plain|prom-multiproc|prom-client
//
// Prints {"port": N} once listening, and {"cpuMicros": N} (its CPU time so far) on each SIGUSR2,
// so the runner can tell the server's CPU per request apart from the load generator's and the
// machine's. SIGTERM closes the connections and exits normally, so the last values reach the
// files before the runner counts them. Each variant loads only what it uses.
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_HTTP_BUCKETS, UNMATCHED_ROUTE } from '../../packages/prom-multiproc/src/integrations/http/httpMetrics.js';
import { routeMatcher } from '../../packages/prom-multiproc/src/integrations/http/routes.js';

const FRAMEWORKS = ['node', 'express'] as const;
const VARIANTS = ['plain', 'prom-multiproc', 'prom-client'] as const;
type Framework = (typeof FRAMEWORKS)[number];
type Variant = (typeof VARIANTS)[number];

const ROUTES = ['/users/:id', '/health'];

function reply(_req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Content-Type', 'text/plain');
  res.end('ok');
}

/** prom-client's three metrics, as an application instruments its requests by hand. */
async function promClientMetrics() {
  const { Counter, Gauge, Histogram } = await import('prom-client');
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests',
    labelNames: ['method', 'route', 'status_code'],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds',
    labelNames: ['method', 'route'],
    buckets: [...DEFAULT_HTTP_BUCKETS],
  });
  const inFlight = new Gauge({ name: 'http_requests_in_flight', help: 'HTTP requests being served' });
  /** Starts one request; `routeOf` is asked for its route label once it has finished. */
  return (req: IncomingMessage, res: ServerResponse, routeOf: () => string): void => {
    inFlight.inc();
    const end = duration.startTimer();
    res.once('finish', () => {
      const labels = { method: req.method!, route: routeOf() };
      requests.inc({ ...labels, status_code: res.statusCode });
      end(labels);
      inFlight.dec();
    });
  };
}

async function nodeApp(variant: Variant): Promise<RequestListener> {
  if (variant === 'plain') return reply;
  if (variant === 'prom-multiproc') {
    const { instrumentHandler } = await import('../../packages/prom-multiproc/src/index.js');
    return instrumentHandler(reply, { routes: ROUTES });
  }
  // The same route matching as the middleware's, so that only the metrics differ.
  const match = routeMatcher(ROUTES);
  const begin = await promClientMetrics();
  return (req, res) => {
    const route = match(req.url ?? '/') ?? UNMATCHED_ROUTE;
    begin(req, res, () => route);
    reply(req, res);
  };
}

async function expressApp(variant: Variant): Promise<RequestListener> {
  const { default: express } = await import('express');
  const app = express();
  if (variant === 'prom-multiproc') {
    const { expressMetrics } = await import('../../packages/prom-multiproc/src/index.js');
    app.use(expressMetrics());
  } else if (variant === 'prom-client') {
    const begin = await promClientMetrics();
    // The route Express matched, read when the response has finished (the usual recipe).
    app.use((req, res, next) => {
      begin(req, res, () => (req.route === undefined ? UNMATCHED_ROUTE : `${req.baseUrl}${String(req.route.path)}`));
      next();
    });
  }
  app.get('/users/:id', reply);
  app.get('/health', reply);
  return app;
}

const [framework, variant] = process.argv.slice(2) as [Framework, Variant];
if (!FRAMEWORKS.includes(framework) || !VARIANTS.includes(variant)) {
  console.error(`usage: server.ts ${FRAMEWORKS.join('|')} ${VARIANTS.join('|')}`);
  process.exit(2);
}

const server = createServer(framework === 'express' ? await expressApp(variant) : await nodeApp(variant));
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
