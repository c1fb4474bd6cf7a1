// The node:cluster primary for test/cluster.test.ts, run as a child of the test so that the
// test runner is never a cluster primary. It plays the process manager: cleans the metrics
// directory, forks the workers with PROM_MULTIPROC_DIR, has them set the mostrecent gauge one
// after another, and marks a worker dead when it exits.
// Usage (forked with an IPC channel): node --import tsx clusterPrimary.ts <metrics dir>
import cluster, { type Worker } from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cleanDirectory, markProcessDead } from '../../packages/prom-multiproc/src/index.js';
import {
  WORKER_COUNT, type MostRecentSet, type PrimaryMessage, type PrimaryToWorkerMessage, type TestMessage, type WorkerMessage,
  type WorkerReport,
} from './clusterProtocol.js';

const dir = process.argv[2];
if (dir === undefined || process.send === undefined) throw new Error('usage: fork clusterPrimary.ts <metrics dir> with an IPC channel');

// Stop waiting well before the test gives up, so that it gets a reason instead of a timeout.
const STEP_TIMEOUT_MS = 25_000;
// Date.now() has millisecond resolution; this gap makes each mostrecent timestamp strictly newer.
const MOSTRECENT_GAP_MS = 5;

let shuttingDown = false;

function tell(message: PrimaryMessage): void {
  process.send!(message);
}

function stopWorkers(): void {
  shuttingDown = true;
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
}

function nextMessage<T extends WorkerMessage['type']>(worker: Worker, type: T): Promise<Extract<WorkerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${worker.id} sent no ${type} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`worker ${worker.id} exited (code ${code}, signal ${signal}) before sending ${type}`));
    };
    const onMessage = (message: WorkerMessage): void => {
      if (message.type !== type) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(message as Extract<WorkerMessage, { type: T }>);
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

async function run(): Promise<void> {
  cleanDirectory(dir!);
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./clusterWorker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] });
  cluster.on('exit', (worker, _code, signal) => {
    if (shuttingDown) return;
    // What a process manager does when a worker dies: its live gauges leave the merge.
    const pid = worker.process.pid!;
    const removed = markProcessDead(pid, dir);
    tell({ type: 'dead', pid, signal, removed });
  });

  const workers = Array.from({ length: WORKER_COUNT }, () => cluster.fork({ PROM_MULTIPROC_DIR: dir }));
  const reports: WorkerReport[] = (await Promise.all(workers.map((worker) => nextMessage(worker, 'report')))).map((m) => m.report);

  // Not in worker order, so that neither the first nor the last file read holds the newest value.
  const mostRecent: MostRecentSet[] = [];
  for (const index of [1, 3, 0, 2]) {
    const worker = workers[index]!;
    const command: PrimaryToWorkerMessage = { type: 'set-mostrecent', value: 5000 + worker.id };
    worker.send(command);
    mostRecent.push((await nextMessage(worker, 'mostrecent-set')).set);
    await sleep(MOSTRECENT_GAP_MS);
  }
  tell({ type: 'ready', workers: reports, mostRecent });
}

process.on('message', (message: TestMessage) => {
  if (message.type !== 'shutdown') return;
  stopWorkers();
  process.disconnect();
});
// The test went away (finished or killed): take the workers down with this process.
process.on('disconnect', () => {
  stopWorkers();
  setTimeout(() => process.exit(0), 200).unref();
});

run().catch((error: unknown) => {
  stopWorkers();
  tell({ type: 'failed', error: String((error as Error).stack ?? error) });
});
