// Summary quantiles as samples of the merged families, for the scrapes that serve a whole
// directory (MultiprocessRegistry, the CLI, the global register's families no metric of the
// process claims): each summary series gets a `quantile` sample per percentile its writers
// computed, before its _sum and _count, as prom-client and Python's single-process client show.

import type { MetricFamily, Sample } from './merge.js';
import { floatToGoString } from '../format/pythonFloat.js';
import type { SeriesQuantiles } from '../sketch/mergeSketches.js';
import { quantileKey } from '../storage/summaryQuantiles.js';

/** The families with each summary series' quantiles added (other families unchanged). */
export function withQuantileSamples(families: MetricFamily[], quantiles: ReadonlyMap<string, SeriesQuantiles>): MetricFamily[] {
  if (quantiles.size === 0) return families;
  return families.map((family) => {
    if (family.type !== 'summary') return family;
    const samples: Sample[] = [];
    for (const sample of family.samples) {
      if (sample.name === `${family.name}_sum`) {
        const series = quantiles.get(quantileKey(family.name, Object.keys(sample.labels), Object.values(sample.labels), family.help));
        series?.percentiles.forEach((quantile, i) => {
          samples.push({ name: family.name, labels: { ...sample.labels, quantile: floatToGoString(quantile) }, value: series.values[i] || 0 });
        });
      }
      samples.push(sample);
    }
    return { ...family, samples };
  });
}

/** Whether any family is a summary (only then are the quantile files worth reading). */
export function hasSummaries(families: readonly MetricFamily[]): boolean {
  return families.some((family) => family.type === 'summary');
}
