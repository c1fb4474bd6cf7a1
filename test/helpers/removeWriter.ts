// A process that keeps removing and re-adding label sets while test/removeReset.test.ts
// scrapes the directory, for `rounds` rounds: `steady` only ever goes up (never removed), the
// `churn` label sets of the counter and the histogram are removed and recreated, and the
// gauge is reset. Prints the final expected steady total. Run with PROM_MULTIPROC_DIR set.
import { Counter, Gauge, Histogram } from '../../packages/prom-multiproc/src/index.js';

const rounds = Number(process.argv[2] ?? 200);
const counter = new Counter({ name: 'churn_events_total', help: 'Events.', labelNames: ['series'] });
const histogram = new Histogram({ name: 'churn_sizes', help: 'Sizes.', labelNames: ['series'], buckets: [1, 10] });
const gauge = new Gauge({ name: 'churn_level', help: 'Level.', labelNames: ['series'], multiprocessMode: 'livesum' });

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    counter.inc({ series: 'steady' });
    histogram.observe({ series: 'steady' }, 2);
    for (let i = 0; i < 5; i++) {
      counter.inc({ series: `churn${i}` }, round);
      histogram.observe({ series: `churn${i}` }, round);
      gauge.set({ series: `churn${i}` }, round);
    }
    await nextTurn();
    for (let i = 0; i < 5; i += 2) {
      counter.remove(`churn${i}`);
      histogram.remove({ series: `churn${i}` });
    }
    if (round % 3 === 0) gauge.reset();
    await nextTurn();
  }
  process.stdout.write(`${rounds}\n`);
}

void main();
