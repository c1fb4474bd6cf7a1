// A writer for test/badFiles.test.ts whose files keep growing and disappearing while they are
// scraped: each cycle a new identity adds label sets until its counter file has doubled from
// 64 KiB to several MiB, then closes, and the files of the cycle before last are deleted.
// Usage: node --import tsx stressGrower.ts <dir> <milliseconds>; prints "cycles <n> growths <m>".
import { rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Counter, FileStore } from '../../packages/prom-multiproc/src/index.js';

const [dir = '', durationText = '5000'] = process.argv.slice(2);
const deadline = Date.now() + Number(durationText);
const TARGET_BYTES = 4 * 1024 * 1024;
const PADDING = 'x'.repeat(120);

let cycles = 0;
let growths = 0;

function counterFile(identity: string): string {
  return path.join(dir, `counter_${identity}.db`);
}

function cycle(): void {
  if (Date.now() > deadline) {
    process.stdout.write(`cycles ${cycles} growths ${growths}\n`);
    return;
  }
  const identity = `grow${cycles}`;
  const store = new FileStore({ dir, identity });
  const counter = new Counter({ name: 'grow_series_total', help: 'One per label set.', labelNames: ['i'], store, registers: [] });
  let next = 0;
  let size = 0;
  const step = (): void => {
    for (let k = 0; k < 400; k++) counter.labels(`${next++}${PADDING}`).inc();
    store.flush();
    const grown = statSync(counterFile(identity)).size;
    if (grown > size && size > 0) growths++;
    size = grown;
    if (size < TARGET_BYTES) {
      setImmediate(step);
      return;
    }
    store.close();
    if (cycles >= 2) rmSync(counterFile(`grow${cycles - 2}`), { force: true });
    cycles++;
    setImmediate(cycle);
  };
  step();
}

cycle();
