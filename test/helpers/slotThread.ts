// A pool thread that writes under a slot identity, as the README suggests for pools that
// refill slots: `configure({ identity: () => \`pool-${slot}\` })`. It reports how long its
// first metric took (the store, and the identity lock, are taken then), then idles until terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { Counter, configure } from '../../packages/prom-multiproc/src/index.js';

const { dir, slot } = workerData as { dir: string; slot: number };
configure({ dir, identity: () => `pool-${slot}` });
const startedAt = Date.now();
const tasks = new Counter({ name: 'pool_tasks_total', help: 'Tasks done by pool threads.' });
tasks.inc();
const firstMetricMs = Date.now() - startedAt;
// Posted in a later turn than the change: a thread's changes are written when the run that made them ends.
await new Promise((resolve) => setImmediate(resolve));
parentPort!.postMessage({ type: 'ready', firstMetricMs });
setInterval(() => tasks.inc(), 10);
