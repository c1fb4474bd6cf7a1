// A worker for test/writeFaults.test.ts: increments a counter every few milliseconds in
// PROM_MULTIPROC_DIR (identity "faulty") while the parent breaks the directory under it, and
// says on stdout (synchronously) what it holds in memory and what the library reported:
//
//   tick <n> total <events in memory>   after the turn that recorded them (so written, if writable)
//   threw <message>                     an inc() threw (it must not)
//   warning <json message>              a problem the library reported (setProblemReporter)
//   final <events in memory>            on SIGTERM, just before the exit that writes them
//
// With "growing", every tick also adds a new 200-byte label set, so the file keeps needing
// new pages (what a full disk refuses). With "late-gauge", a gauge is first used at tick 50,
// so its file is created then. SIGTERM ends it normally (its last turn is written on 'exit').
// Usage: node --import tsx stressFaultWorker.ts [growing] [late-gauge]
import { writeSync } from 'node:fs';
import { Counter, Gauge, configure, setProblemReporter } from '../../packages/prom-multiproc/src/index.js';
import { afterWritten } from './afterWritten.js';

const options = new Set(process.argv.slice(2));
const say = (line: string) => writeSync(1, `${line}\n`);
setProblemReporter((problem) => say(`warning ${JSON.stringify(problem.message)}`));
configure({ identity: 'faulty' });

const events = new Counter({ name: 'fault_events_total', help: 'Events.', labelNames: ['series'] });
let gauge: Gauge | undefined;
let tick = 0;
let total = 0;

function record(): void {
  tick++;
  try {
    events.labels(options.has('growing') ? `${tick}-${'x'.repeat(200)}` : 'one').inc();
    total++;
    if (options.has('late-gauge') && tick >= 50) {
      gauge ??= new Gauge({ name: 'fault_level', help: 'Level.', multiprocessMode: 'livesum' });
      gauge.set(tick);
    }
  } catch (error) {
    say(`threw ${(error as Error).message}`);
  }
  const recorded = total;
  afterWritten(() => say(`tick ${tick} total ${recorded}`));
}

setInterval(record, 5);
process.on('SIGTERM', () => {
  // The signal can come between a tick's recording and its report: say the last total here.
  say(`final ${total}`);
  process.exit(0);
});
say('ready');
