// One series in every kind of file (counter, histogram, summary, a gauge of each mode), for
// test/killDuringCreate.test.ts: the killed creator makes them without values, the writer
// that follows under the same identity records RECORDED into them, and the merged scrape must
// show exactly that.
import { Counter, GAUGE_MODES, Gauge, Histogram, Summary, type SeriesStore } from '../../packages/prom-multiproc/src/index.js';

export const RECORDED = { counter: 7, observation: 0.25, gauge: 3 };

/** The samples RECORDED makes in the merge, by `name{labels}` (gauges of modes all and liveall carry the pid label). */
export function expectedSamples(identity: string): Map<string, number> {
  const expected = new Map<string, number>([
    ['kinds_counter_total{}', RECORDED.counter],
    ['kinds_histogram_count{}', 1],
    ['kinds_histogram_sum{}', RECORDED.observation],
    ['kinds_histogram_bucket{le="1"}', 1],
    ['kinds_histogram_bucket{le="+Inf"}', 1],
    ['kinds_summary_count{}', 1],
    ['kinds_summary_sum{}', RECORDED.observation],
  ]);
  for (const mode of GAUGE_MODES) {
    const labels = mode === 'all' || mode === 'liveall' ? `{pid="${identity}"}` : '{}';
    expected.set(`kinds_gauge_${mode}${labels}`, RECORDED.gauge);
  }
  return expected;
}

/** Creates the series (and with them one file of each kind); with `record`, records RECORDED. */
export function touchEveryKind(store: SeriesStore, record: boolean): void {
  const counter = new Counter({ name: 'kinds_counter', help: 'Every kind.', store, registers: [] });
  const histogram = new Histogram({ name: 'kinds_histogram', help: 'Every kind.', buckets: [1], store, registers: [] });
  const summary = new Summary({ name: 'kinds_summary', help: 'Every kind.', store, registers: [] });
  const gauges = GAUGE_MODES.map((mode) => new Gauge({ name: `kinds_gauge_${mode}`, help: 'Every kind.', multiprocessMode: mode, store, registers: [] }));
  if (!record) return;
  counter.inc(RECORDED.counter);
  histogram.observe(RECORDED.observation);
  summary.observe(RECORDED.observation);
  for (const gauge of gauges) gauge.set(RECORDED.gauge);
}
