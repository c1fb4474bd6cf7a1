// A writer process for the stress, chaos and soak runs: records the workload of
// stressWorkload.ts into PROM_MULTIPROC_DIR, one batch per event-loop turn, and tells the
// parent on stdout where it is. The lines are written synchronously (fs.writeSync), so
// whatever reached the pipe before a SIGKILL is still read by the parent afterwards:
//
//   opening <ms>                        before its first metric opens the store (the identity's lock)
//   ready <ms>                          the store is open: it begins recording
//   started <batch> <events after it>   before the batch is recorded
//   flushed <events>                    after the turn that recorded them, i.e. they are on disk
//   done <events>                       the last batch is on disk; the process now exits
//                                       (after its last batch, or at the next batch after SIGTERM)
//
// Usage: node --import tsx stressWriter.ts <events> <batch> <pause-ms> [identity]
import { writeSync } from 'node:fs';
import { Counter, Gauge, Histogram, Summary, configure } from '../../packages/prom-multiproc/src/index.js';
import { BUCKETS, KINDS, NAMES, OBSERVATIONS, ROUTES, UNIT } from './stressWorkload.js';
import { afterWritten } from './afterWritten.js';

const [eventsText = '1000', batchText = '100', pauseText = '0', identity] = process.argv.slice(2);
const totalEvents = Number(eventsText);
const batchSize = Number(batchText);
const pauseMs = Number(pauseText);
if (identity !== undefined) configure({ identity });

function say(line: string): void {
  writeSync(1, `${line}\n`);
}

/** Wall-clock milliseconds, comparable with the parent's: when the store was opened, against a compaction's span. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

say(`opening ${now()}`);
const events = new Counter({ name: `${NAMES.events}_total`, help: 'Events, by kind.', labelNames: ['kind'] });
const units = new Counter({ name: NAMES.units, help: 'Half a unit per event.' });
const latency = new Histogram({ name: NAMES.latency, help: 'One observation per event.', labelNames: ['route'], buckets: BUCKETS });
const payload = new Summary({ name: NAMES.payload, help: '1 to 4 bytes per event.' });
const progressSum = new Gauge({ name: NAMES.progressSum, help: 'Events so far, summed.', multiprocessMode: 'sum' });
const progressMax = new Gauge({ name: NAMES.progressMax, help: 'Events so far, the largest.', multiprocessMode: 'max' });
const progressMin = new Gauge({ name: NAMES.progressMin, help: 'Events so far, the smallest.', multiprocessMode: 'min' });
const progressLatest = new Gauge({ name: NAMES.progressLatest, help: 'Events so far, set last.', multiprocessMode: 'mostrecent' });
const progressAll = new Gauge({ name: NAMES.progressAll, help: 'Events so far, per process.', multiprocessMode: 'all' });
const level = new Gauge({ name: NAMES.level, help: 'Raised once per event.', multiprocessMode: 'livesum' });
const byKind = KINDS.map((kind) => events.labels(kind));
const byRoute = ROUTES.map((route) => latency.labels(route));

function record(i: number): void {
  byKind[i % KINDS.length]!.inc();
  units.inc(UNIT);
  byRoute[i % ROUTES.length]!.observe(OBSERVATIONS[i % OBSERVATIONS.length]!);
  payload.observe((i % 4) + 1);
  const progress = i + 1;
  progressSum.set(progress);
  progressMax.set(progress);
  progressMin.set(progress);
  progressLatest.set(progress);
  progressAll.set(progress);
  level.inc();
}

let done = 0;
let batch = 0;
// SIGTERM ends the run between two batches, normally: what was recorded is all on disk.
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

function runBatch(): void {
  if (stopping) {
    say(`done ${done}`);
    process.exit(0);
  }
  const size = Math.min(batchSize, totalEvents - done);
  batch += 1;
  say(`started ${batch} ${done + size}`);
  for (let i = 0; i < size; i++) record(done + i);
  done += size;
  // Runs once the batch is on disk (the store writes within WRITE_INTERVAL_MS).
  afterWritten(() => {
    if (done >= totalEvents) {
      say(`done ${done}`);
      return; // nothing else keeps the loop alive: the process exits
    }
    say(`flushed ${done}`);
    if (pauseMs > 0) setTimeout(runBatch, pauseMs);
    else setImmediate(runBatch);
  });
}

say(`ready ${now()}`);
runBatch();
