// Runs one compaction of a directory and, when asked, dies by SIGKILL right after one step
// (argument 2): the test then checks that the directory still merges to the same totals.
// With STALL_AT=<step> and STALL_MS=<ms>, it instead blocks its event loop that long after
// that step, as a compactor stuck in a long synchronous run would, saying "stalled" first,
// then lets its timers run for a moment (the lock's refresh among them) before it goes on.
import { writeSync } from 'node:fs';
import { compactDirectory, type CompactionStep } from '../../packages/prom-multiproc/src/index.js';

const [dir, crashAt, ...dead] = process.argv.slice(2);
const stallAt = process.env.STALL_AT;
const stallMs = Number(process.env.STALL_MS ?? 0);
const result = await compactDirectory(dir!, {
  dead,
  detectDeadPids: false,
  onStep: async (step: CompactionStep) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
    if (step === stallAt) {
      writeSync(1, 'stalled\n');
      const until = Date.now() + stallMs;
      while (Date.now() < until) {
        // blocked, as a compactor in a long synchronous run is
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  },
});
process.stdout.write(`${JSON.stringify(result)}\n`);
