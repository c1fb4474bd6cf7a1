// A worker process for test/cli.test.ts: records metrics into PROM_MULTIPROC_DIR through the
// library's default store (identity = this pid) and exits, leaving its files behind.
// Usage: node --import tsx cliWorker.ts <jobs increment> <live gauge value> [observation ...]
// Prints its pid, which is its identity in the file names.
import { Counter, Gauge, Histogram } from '../../packages/prom-multiproc/src/index.js';

const [increment = '1', live = '0', ...observations] = process.argv.slice(2);

const jobs = new Counter({ name: 'cli_jobs_total', help: 'Jobs done.', labelNames: ['queue'] });
const duration = new Histogram({ name: 'cli_job_seconds', help: 'Job duration.', buckets: [0.1, 1] });
const inFlight = new Gauge({ name: 'cli_in_flight', help: 'Jobs in flight.', multiprocessMode: 'livesum' });
const lastIncrement = new Gauge({ name: 'cli_last_increment', help: 'Size of the last increment.' });

jobs.labels('mail').inc(Number(increment));
inFlight.set(Number(live));
lastIncrement.set(Number(increment));
for (const observation of observations) duration.observe(Number(observation));
process.stdout.write(`${process.pid}\n`);
// Writes reach the files at the end of this turn and again on 'exit'; nothing else to wait for.
