// One thread of the pool in threadPool.ts. It handles tasks the way pool libraries run a
// handler: the result is posted after the handler's promise settles, so in a later microtask
// than the handler's own changes. It may end after a task by throwing, by process.exit(), or
// (on 'stop') by letting its event loop drain; each of these records one "last" event in the
// turn it ends in, which only the thread's 'exit' write can save.
import { parentPort, threadId } from 'node:worker_threads';
import { Counter, Gauge, Histogram } from '../../packages/prom-multiproc/src/index.js';
import { defaultStore } from '../../packages/prom-multiproc/src/storage/defaultStore.js';
import { TASK_BUCKETS, type FromThread, type ToThread } from './threadProtocol.js';

const port = parentPort!;
const events = new Counter({ name: 'pool_events_total', help: 'Events handled by pool threads.', labelNames: ['kind'] });
const sizes = new Histogram({ name: 'pool_task_events', help: 'Events per task.', buckets: TASK_BUCKETS });
const up = new Gauge({ name: 'pool_thread_up', help: 'Pool threads alive.', multiprocessMode: 'liveall' });
const busy = new Gauge({ name: 'pool_threads_busy', help: 'Pool threads busy.', multiprocessMode: 'livesum' });
up.set(1);

function send(message: FromThread): void {
  port.postMessage(message);
}

async function handle(task: Extract<ToThread, { type: 'task' }>): Promise<number> {
  busy.inc();
  for (let i = 0; i < task.events; i++) events.inc({ kind: i % 2 === 0 ? 'even' : 'odd' });
  sizes.observe(task.events);
  busy.dec();
  return task.events;
}

function lastWords(): void {
  events.inc({ kind: 'last' });
}

port.on('message', async (message: ToThread) => {
  if (message.type === 'stop') {
    lastWords();
    port.close();
    return;
  }
  const done = await handle(message);
  send({ type: 'done', id: message.id, events: done });
  if (message.then === 'throw') {
    setTimeout(() => {
      lastWords();
      throw new Error(`thread ${threadId} crashes after task ${message.id}, as planned`);
    }, 1);
  } else if (message.then === 'exit') {
    setTimeout(() => {
      lastWords();
      process.exit(0);
    }, 1);
  }
});

send({ type: 'ready', identity: defaultStore().identity, threadId });
