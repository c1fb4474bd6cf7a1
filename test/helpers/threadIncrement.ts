// A worker thread that counts `workerData` and ends (for test/threads.test.ts). With
// USE_FUNCTION in its environment it names its files with an identity function instead.
import { workerData } from 'node:worker_threads';
import { Counter, Gauge, configure } from '../../packages/prom-multiproc/src/index.js';

const fixed = process.env.USE_FUNCTION;
if (fixed !== undefined) configure({ identity: () => fixed });
new Counter({ name: 'c', help: 'h' }).inc(workerData as number);
if (fixed === undefined) new Gauge({ name: 'thread_up', help: 'h', multiprocessMode: 'liveall' }).set(1);
