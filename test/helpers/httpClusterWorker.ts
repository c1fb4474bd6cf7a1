// A cluster worker for the HTTP cluster test: an instrumented node:http app on the shared port,
// with /metrics served (uninstrumented, so scrapes do not change what they read).
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { instrumentHandler, metricsEndpoint } from '../../packages/prom-multiproc/src/index.js';

const app = instrumentHandler(
  (req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]!;
    if (/^\/users\/\d+$/.test(pathname) || pathname === '/health') {
      res.end('ok');
    } else if (pathname === '/error') {
      throw new Error('expected failure');
    } else {
      res.statusCode = 404;
      res.end();
    }
  },
  { routes: ['/users/:id', '/health', '/error'], onError: () => {} },
);
const endpoint = metricsEndpoint();
const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    res.setHeader('X-Worker-Pid', String(process.pid));
    void endpoint.handle(req, res);
  } else {
    app(req, res);
  }
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  cluster.worker?.send({ port: (server.address() as AddressInfo).port });
});
