// A node:cluster primary for the HTTP cluster test: sets up the metrics directory, forks the
// workers, replaces any that exit, and prints one JSON line when all are listening.
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { setupClusterMetrics } from '../../packages/prom-multiproc/src/index.js';

const workers = Number(process.env.WORKERS ?? 4);
setupClusterMetrics({ dir: process.env.METRICS_DIR! });
cluster.setupPrimary({
  exec: fileURLToPath(new URL('./httpClusterWorker.ts', import.meta.url)),
  execArgv: ['--import', 'tsx'],
});


let ready = 0;
function fork(): void {
  // Port 0 in every worker: the primary shares one listening socket for the same (address, 0) key.
  const worker = cluster.fork({ PORT: "0" });
  worker.on('message', (message: { port?: number }) => {
    if (message.port === undefined) return;
    const port = message.port;
    ready++;
    console.log(JSON.stringify({ event: 'listening', pid: worker.process.pid, port, ready }));
  });
}
cluster.on('exit', (worker, code, signal) => {
  console.log(JSON.stringify({ event: 'exit', pid: worker.process.pid, code, signal }));
  if (process.env.REPLACE !== '0') fork();
});
for (let i = 0; i < workers; i++) fork();
process.on('SIGTERM', () => {
  cluster.removeAllListeners('exit');
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
  process.exit(0);
});
