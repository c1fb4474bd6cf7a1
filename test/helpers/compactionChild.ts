// Runs one compaction of a directory and, when asked, dies by SIGKILL right after one step:
// the test then checks that the directory still merges to the same totals.
import { compactDirectory, type CompactionStep } from '../../packages/prom-multiproc/src/index.js';

const [dir, crashAt, ...dead] = process.argv.slice(2);
const result = await compactDirectory(dir!, {
  dead,
  detectDeadPids: false,
  onStep: (step: CompactionStep) => {
    if (step === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write(`${JSON.stringify(result)}\n`);
