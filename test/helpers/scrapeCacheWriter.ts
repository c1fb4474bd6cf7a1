// A writer for test/scrapeCache.test.ts, driven one command at a time so the test knows every
// value it wrote: a counter `req_total{route}` in <dir> under identity "writer". Each command
// on stdin is answered on stdout once its change is written (flushed) to the file:
//
//   inc <route> <n>   adds n to the route's counter        → ok
//   remove <route>    removes the route's series: the file  → ok
//                     is written anew and renamed over the old one
//
// Problems the library reports are printed as `warning <json message>` lines, before the `ok`.
// Run as: node --import tsx scrapeCacheWriter.ts <dir>
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Counter, FileStore, setProblemReporter } from '../../packages/prom-multiproc/src/index.js';

const say = (line: string) => writeSync(1, `${line}\n`);
setProblemReporter((problem) => say(`warning ${JSON.stringify(problem.message)}`));

const store = new FileStore({ dir: process.argv[2]!, identity: 'writer' });
const requests = new Counter({ name: 'req_total', help: 'Requests.', labelNames: ['route'], store, registers: [] });

function run(command: string): void {
  const [verb, route, amount] = command.split(' ');
  if (verb === 'inc') requests.labels(route!).inc(Number(amount));
  else if (verb === 'remove') requests.remove(route!);
  else throw new Error(`unknown command: ${command}`);
  // Written now rather than at the next turn; a flush a second after the last also checks
  // that the file's path still names it, and writes it anew if not.
  store.flush();
}

createInterface({ input: process.stdin })
  .on('line', (command) => {
    run(command);
    say('ok');
  })
  .on('close', () => {
    store.close();
    process.exit(0);
  });
say('ready');
