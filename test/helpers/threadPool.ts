// A process running a pool of worker threads, for test/threads.test.ts. Threads end in every
// way a pool ends them (terminate() as soon as a result arrives, an uncaught error,
// process.exit() in the thread, a normal end) and are replaced; watchWorkerThread marks each
// one dead as it exits. Run with PROM_MULTIPROC_DIR set, under tsx, with an IPC channel.
import type { Worker } from 'node:worker_threads';
import { Counter, Gauge, watchWorkerThread } from '../../packages/prom-multiproc/src/index.js';
import { exitOf, nextFrom, startTsWorker } from './threadHarness.js';
import {
  POOL_SIZE, TASKS_PER_PROCESS, taskPlan, type Ending, type FromPool, type FromThread, type ToPool, type ToThread,
} from './threadProtocol.js';

const TASK_MODULE = new URL('./threadTask.ts', import.meta.url);

const dispatched = new Counter({ name: 'pool_tasks_dispatched_total', help: 'Tasks handed to the pool.' });
new Gauge({ name: 'pool_process_up', help: 'Pool processes alive.', multiprocessMode: 'liveall' }).set(1);

interface Slot {
  worker: Worker;
  identity: string;
}

function send(message: FromPool): void {
  process.send!(message);
}

async function spawn(): Promise<Slot> {
  const worker = startTsWorker(TASK_MODULE);
  // Registered first, so the thread is marked dead before anyone waiting for its exit goes on.
  watchWorkerThread(worker);
  // A planned crash is the thread's business; without a listener it would end this process.
  worker.on('error', () => {});
  const ready = await nextFrom<Extract<FromThread, { type: 'ready' }>>(worker, 'ready');
  return { worker, identity: ready.identity };
}

async function main(): Promise<void> {
  const ended: { identity: string; how: Ending }[] = [];
  let events = 0;
  let lastWords = 0;
  let next = 0;
  const runSlot = async (slot: Slot): Promise<Slot> => {
    while (next < TASKS_PER_PROCESS) {
      const id = next++;
      const plan = taskPlan(id);
      const exited = exitOf(slot.worker);
      const done = nextFrom<Extract<FromThread, { type: 'done' }>>(slot.worker, 'done');
      slot.worker.postMessage({ type: 'task', id, ...plan } satisfies ToThread);
      dispatched.inc();
      const result = await done;
      events += result.events;
      if (plan.then === undefined) continue;
      // terminate() right when the result arrives: the pool's usual way to retire a thread.
      if (plan.then === 'terminate') await slot.worker.terminate();
      else lastWords++;
      await exited;
      ended.push({ identity: slot.identity, how: plan.then });
      slot = await spawn();
    }
    return slot;
  };
  const first = await Promise.all(Array.from({ length: POOL_SIZE }, spawn));
  const slots = await Promise.all(first.map(runSlot));
  send({ type: 'paused', pid: process.pid, live: slots.map((slot) => slot.identity), ended });

  await new Promise<void>((resolve) => process.once('message', (message: ToPool) => message.type === 'finish' && resolve()));
  await Promise.all(slots.map(async (slot) => {
    const exited = exitOf(slot.worker);
    slot.worker.postMessage({ type: 'stop' } satisfies ToThread);
    lastWords++;
    await exited;
  }));
  send({ type: 'finished', pid: process.pid, tasks: TASKS_PER_PROCESS, events, lastWords });
  process.disconnect();
}

main().catch((error: unknown) => {
  send({ type: 'failed', error: String((error as Error).stack ?? error) });
  process.exitCode = 1;
  process.disconnect();
});
