// The Node writer of test/mixedFleet.test.ts, beside a Python one in the same directory
// (PROM_MULTIPROC_DIR), under its pid, holding its identity's lock. Says "ready" once its
// counter's file is written; on each stdin line "inc <n>" increments the counter and answers
// "ok <total>" after the turn's write; exits (writing its last values) when stdin closes.
import { createInterface } from 'node:readline';
import { Counter } from '../../packages/prom-multiproc/src/index.js';
import { afterWritten } from './afterWritten.js';

const requests = new Counter({ name: 'mixed_requests', help: 'Requests served.' });
let total = 0;
afterWritten(() => process.stdout.write('ready\n'));
createInterface({ input: process.stdin }).on('line', (line) => {
  const amount = Number(line.split(' ')[1]);
  requests.inc(amount);
  total += amount;
  const recorded = total;
  afterWritten(() => process.stdout.write(`ok ${recorded}\n`));
});
