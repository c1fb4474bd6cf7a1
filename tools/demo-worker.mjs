// One demo worker: a small HTTP app whose request metrics go to the shared directory.
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { instrumentHandler, metricsEndpoint } from '../packages/prom-multiproc/dist/esm/index.js';

const app = instrumentHandler(
  (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (/^\/users\/\d+$/.test(pathname)) return void res.end('user\n');
    if (pathname === '/health') return void res.end('ok\n');
    if (pathname === '/error') throw new Error('a failing handler (on purpose)');
    res.statusCode = 404;
    res.end('not found\n');
  },
  // Route patterns, not paths, become labels; anything else is counted as <unmatched>.
  { routes: ['/users/:id', '/health', '/error'], onError: () => {} },
);
const metrics = metricsEndpoint();

const server = createServer((req, res) => (req.url === '/metrics' ? metrics.handle(req, res) : app(req, res)));
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  cluster.worker?.send({ listening: true, port: server.address().port });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
