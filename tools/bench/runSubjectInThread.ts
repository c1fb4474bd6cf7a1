// Thread side of `tools/bench-hot-path.ts --thread`: runs runSubject.ts, unchanged, inside a
// worker thread of a fresh process, so the hot path is timed where a thread pool would run
// it (files named by the thread's identity, writes scheduled as in worker threads).
//   node --import tsx tools/bench/runSubjectInThread.ts <subject> <ops> <perTurn>
// Node 20 does not apply the process's `--import tsx` to a Worker's entry, so the thread
// registers tsx itself before importing the subject runner.
import { Worker, isMainThread } from 'node:worker_threads';

if (!isMainThread) throw new Error('runSubjectInThread.ts starts the thread itself; run it as a process');
const tsxApi = import.meta.resolve('tsx/esm/api');
const runner = new URL('./runSubject.ts', import.meta.url).href;
const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(runner)}); })`;
// The thread's process.argv is [execPath, '[worker eval]', ...argv]: runSubject reads argv[2..].
const worker = new Worker(bootstrap, { eval: true, argv: process.argv.slice(2) });
worker.on('error', (error) => {
  console.error(error);
  process.exitCode = 1;
});
worker.on('exit', (code) => {
  if (code !== 0) process.exitCode = code;
});
