// The web app of the PM2 test, run by PM2 in cluster mode: an instrumented node:http server
// on the port PM2's cluster shares among the instances. Every response names the worker's pid
// (body, and the X-Pid header sent at once), so the test knows which worker served it.
// /hold/:id answers only its headers and keeps the request in flight until the client leaves.
// The metrics directory and identity are the library's defaults: PROM_MULTIPROC_DIR from the
// environment, and the pid; with IDENTITY=instance, the identity is PM2's NODE_APP_INSTANCE.
import { createServer } from 'node:http';
import { configure, instrumentHandler } from '../../packages/prom-multiproc/src/index.js';

if (process.env.IDENTITY === 'instance') configure({ identity: process.env.NODE_APP_INSTANCE });
const pid = String(process.pid);
const app = instrumentHandler(
  (req, res) => {
    res.setHeader('X-Pid', pid);
    if (req.url?.startsWith('/hold/')) {
      res.flushHeaders();
      return;
    }
    res.end(pid);
  },
  { routes: ['/job/:id', '/hold/:id'] },
);
const server = createServer(app);
server.listen(Number(process.env.PORT), '127.0.0.1');

// PM2 stops a worker with SIGINT (on reload, once its replacement listens). Finishing the
// requests in flight and exiting normally, rather than dying of the signal, also writes the
// values of the last event-loop turn.
process.on('SIGINT', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
