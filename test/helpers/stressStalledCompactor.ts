// A compactor whose event loop stalls, for the chaos and soak runs (helpers/stressChaos.ts):
// it folds the identities it is given, but once it holds them and has read their files it
// blocks for <stall-ms>, as one stuck in a long synchronous run (or descheduled) would, and
// then goes straight on, as such a compactor does. Past the directory lock's stale time (10 s)
// another compactor may take the directory over meanwhile, and past the identity lock's (5 s)
// a writer of a held identity may take that identity.
//
// Usage: node stressStalledCompactor.js <dir> <stall-ms> <identity>...
// Prints "stalled" when the block begins, then the CompactionResult as JSON.
import { writeSync } from 'node:fs';
import { compactDirectory, type CompactionStep } from '../../packages/prom-multiproc/src/index.js';

const [dir, stallText, ...dead] = process.argv.slice(2);
const stallMs = Number(stallText);
let stalled = false;

function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the event loop is blocked: no timer runs, no lock is refreshed
  }
}

const result = await compactDirectory(dir!, {
  dead,
  detectDeadPids: false,
  onStep: (step: CompactionStep) => {
    if (step !== 'read' || stalled) return;
    stalled = true;
    writeSync(1, 'stalled\n');
    blockFor(stallMs);
  },
});
writeSync(1, `${JSON.stringify(result)}\n`);
