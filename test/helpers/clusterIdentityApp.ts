// A node:cluster app whose workers write under their worker id (`w<id>`), not their pid, for
// test/clusterIdentity.test.ts. The primary hooks setupClusterMetrics with the same rule
// (and compaction when COMPACT=1), forks two workers, SIGKILLs the first once both have
// recorded, and prints one JSON line when the exit has been handled; the test then reads the
// directory. Run as: METRICS_DIR=<dir> [COMPACT=1] node --import tsx clusterIdentityApp.ts
import cluster from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, configure, setupClusterMetrics } from '../../packages/prom-multiproc/src/index.js';
import { afterWritten } from './afterWritten.js';

const identityOf = (id: number): string => `w${id}`;

if (cluster.isPrimary) {
  setupClusterMetrics({ dir: process.env.METRICS_DIR!, identityOf: (worker) => identityOf(worker.id), compact: process.env.COMPACT === '1' });
  let ready = 0;
  const workers = [cluster.fork(), cluster.fork()];
  for (const worker of workers) {
    worker.on('message', (message: string) => {
      if (message !== 'recorded' || ++ready < workers.length) return;
      workers[0]!.process.kill('SIGKILL');
    });
  }
  cluster.on('exit', (worker) => {
    // setupClusterMetrics' listener ran first (it was added first); compaction, if asked for, runs on.
    void sleep(process.env.COMPACT === '1' ? 1500 : 100).then(() => {
      console.log(JSON.stringify({ exited: identityOf(worker.id) }));
      workers[1]!.process.kill('SIGKILL');
      process.exit(0);
    });
  });
} else {
  const id = cluster.worker!.id;
  configure({ identity: identityOf(id) });
  new Counter({ name: 'jobs_total', help: 'Jobs done.' }).inc(id * 10);
  new Gauge({ name: 'busy', help: 'Busy workers.', multiprocessMode: 'livesum' }).set(1);
  // Tell the primary once it is written.
  afterWritten(() => process.send!('recorded'));
  setInterval(() => {}, 1000);
}
