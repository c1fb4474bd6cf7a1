// Starts a worker thread from a TypeScript module. Node 20 does not apply the `--import tsx`
// hooks of the process to a Worker's entry, so the thread first registers tsx itself (from a
// small JavaScript bootstrap), then imports the module.
import { Worker, type WorkerOptions } from 'node:worker_threads';

const TSX_API = import.meta.resolve('tsx/esm/api');

export function startTsWorker(moduleUrl: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const bootstrap =
    `import(${JSON.stringify(TSX_API)})` +
    `.then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** Resolves with the exit code once `worker` has ended (listen before ending it). */
export function exitOf(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

/** The next message of `type` from `worker`. */
export function nextFrom<T extends { type: string }>(worker: Worker, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T): void => {
      if (message.type !== type) return;
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number): void => {
      worker.off('message', onMessage);
      reject(new Error(`worker ${worker.threadId} exited (code ${code}) before sending "${type}"`));
    };
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}
