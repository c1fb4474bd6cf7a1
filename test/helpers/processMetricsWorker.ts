// A worker for test/processMetrics.test.ts: samples its process metrics, burns some CPU and
// memory, takes a last sample, and reports its own figures. With THREAD=1 it also runs a
// worker thread that samples its own runtime metrics. Stays alive until told to exit, so the
// test can scrape it while it lives. Run with PROM_MULTIPROC_DIR set and an IPC channel.
import { startProcessMetrics } from '../../packages/prom-multiproc/src/index.js';
import { defaultStore } from '../../packages/prom-multiproc/src/storage/defaultStore.js';
import { exitOf, nextFrom, startTsWorker } from './threadHarness.js';
import { written } from './afterWritten.js';

const stop = startProcessMetrics({ intervalMs: 50 });
const garbage: object[][] = [];
const until = Date.now() + 300;
while (Date.now() < until) garbage.push(Array.from({ length: 1000 }, (_, i) => ({ i })));
garbage.length = 0;

let threadIdentity: string | undefined;
if (process.env.THREAD === '1') {
  const thread = startTsWorker(new URL('./processMetricsThread.ts', import.meta.url));
  threadIdentity = (await nextFrom<{ type: 'sampled'; identity: string }>(thread, 'sampled')).identity;
  thread.postMessage('exit');
  await exitOf(thread);
}

await new Promise((resolve) => setTimeout(resolve, 120));
stop();
const cpu = process.cpuUsage();
// Reported once the last sample's values are written.
await written();
process.send!({ type: 'sampled', identity: defaultStore().identity, cpuSeconds: (cpu.user + cpu.system) / 1e6, threadIdentity });
process.once('message', () => process.disconnect());
