// A long-lived writer process driven line by line on stdin, for the compaction race tests:
// each command opens, changes or closes a store of some identity, as a worker slot refilled
// by a process manager would, and is answered with "ok <command>" once its values are in the file.
//   open <identity>   a FileStore of that identity (waits, as a real worker would, for a compactor folding it)
//   inc <n>           jobs_total += n
//   set <v>           the `all` gauge slot_value = v
//   close             the store is closed (its lock released)
//   trial <identity> <n>   open, inc n, close: a whole short-lived worker
import { createInterface } from 'node:readline';
import { Counter, FileStore, Gauge } from '../../packages/prom-multiproc/src/index.js';

const dir = process.argv[2]!;
let store: FileStore | undefined;
let jobs: Counter<string> | undefined;
let value: Gauge<string> | undefined;

function open(identity: string): void {
  store = new FileStore({ dir, identity });
  jobs = new Counter({ name: 'jobs_total', help: 'Jobs done', store, registers: [] });
  value = new Gauge({ name: 'slot_value', help: 'A value per slot', store, registers: [] });
}

function close(): void {
  store?.close();
  store = undefined;
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument, amount] = line.trim().split(' ');
  if (command === 'open') open(argument!);
  else if (command === 'inc') jobs!.inc(Number(argument));
  else if (command === 'set') value!.set(Number(argument));
  else if (command === 'close') close();
  else if (command === 'trial') {
    open(argument!);
    jobs!.inc(Number(amount));
    close();
  } else if (command === 'exit') break;
  store?.flush();
  process.stdout.write(`ok ${line.trim()}\n`);
}
close();
