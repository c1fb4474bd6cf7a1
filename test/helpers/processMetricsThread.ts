// The worker thread of processMetricsWorker.ts: samples what a thread has of its own.
import { parentPort } from 'node:worker_threads';
import { startProcessMetrics } from '../../packages/prom-multiproc/src/index.js';
import { defaultStore } from '../../packages/prom-multiproc/src/storage/defaultStore.js';

const stop = startProcessMetrics({ intervalMs: 50 });
setTimeout(() => {
  stop();
  parentPort!.postMessage({ type: 'sampled', identity: defaultStore().identity });
}, 150);
parentPort!.once('message', () => parentPort!.close());
