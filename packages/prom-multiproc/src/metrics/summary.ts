import type { Cell } from '../storage/cell.js';
import { invalidNumber } from './validation.js';
import type { MetricValue } from '../scrape/exposition.js';
import { checkPercentiles, DEFAULT_PERCENTILES, quantileKey, SummaryQuantiles } from '../storage/summaryQuantiles.js';
import type { SeriesQuantiles } from '../sketch/mergeSketches.js';
import type { StoreView } from '../scrape/snapshot.js';
import type { MetricFamily } from '../scrape/merge.js';
import { Metric, startClock, touch, type LabelText, type LabelValues, type MetricConfiguration } from './metric.js';

export interface SummaryConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /** The quantiles to show, each from 0 to 1; prom-client's defaults (0.01 … 0.999) otherwise. */
  percentiles?: readonly number[];
  /** prom-client's sliding window: with ageBuckets, quantiles over the last maxAgeSeconds only. */
  maxAgeSeconds?: number;
  ageBuckets?: number;
  /** prom-client's options for its own quantile structure; accepted and not needed here. */
  compressCount?: number;
  pruneAgedBuckets?: boolean;
}

function rejectObservation(metricName: string, value: unknown): never {
  throw invalidNumber(metricName, 'Value', value, 'an observation is a number, not NaN');
}

export class SummaryChild {
  constructor(
    readonly count: Cell,
    readonly sum: Cell,
    private readonly metricName: string,
    /** Undefined only while remove() learns the entry keys. */
    readonly quantiles: SummaryQuantiles | undefined,
  ) {}

  observe(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.metricName, value);
    const count = this.count;
    count.value += 1;
    if (!count.dirty) count.owner.onDirty(count);
    const sum = this.sum;
    sum.value += value;
    if (!sum.dirty) sum.owner.onDirty(sum);
    // An infinite value counts and sums (as Python's); a quantile sketch cannot hold it.
    if (Number.isFinite(value)) this.quantiles?.observe(value);
  }

  startTimer(): () => number {
    return startClock((seconds) => this.observe(seconds));
  }

  zero(): void {
    touch(this.count);
  }
}

/**
 * Count and sum of observations, summed across processes, and quantiles over prom-client's
 * sliding window merged across processes: each process keeps a mergeable sketch per series
 * (within 1% of the exact quantile of every process's observations; see
 * storage/summaryQuantiles.ts) in a side file that Python's collector does not read.
 */
export class Summary<T extends string = string> extends Metric<SummaryChild, T> {
  readonly type = 'summary' as const;
  readonly percentiles: readonly number[];
  private readonly window: { maxAgeSeconds?: number; ageBuckets?: number };
  private readonly countName: string;
  private readonly sumName: string;

  constructor(config: SummaryConfiguration<T>) {
    super(config, ['quantile']);
    this.percentiles = checkPercentiles(config.percentiles ?? DEFAULT_PERCENTILES);
    this.window = { maxAgeSeconds: config.maxAgeSeconds, ageBuckets: config.ageBuckets };
    this.countName = `${this.name}_count`;
    this.sumName = `${this.name}_sum`;
    this.initialize();
  }

  /** prom-client's order: per series, its quantiles, then _sum and _count. */
  protected override async valuesOf(family: MetricFamily | undefined, view?: StoreView): Promise<MetricValue[]> {
    const samples = family?.samples ?? [];
    const counts = new Map(samples.filter((sample) => sample.name === `${this.name}_count`).map((sample) => [this.keyOfSeries(sample.labels), sample]));
    const merged = this.percentiles.length > 0 && view?.quantiles !== undefined ? await view.quantiles() : undefined;
    const values: MetricValue[] = [];
    for (const sum of samples.filter((sample) => sample.name === `${this.name}_sum`)) {
      const key = this.keyOfSeries(sum.labels);
      const count = counts.get(key);
      const labels = this.inLabelOrder(sum.labels);
      for (const [quantile, value] of this.mergedQuantiles(merged?.get(key))) {
        values.push({ labels: { quantile, ...labels }, value: value || 0 });
      }
      values.push({ value: sum.value, labels, metricName: `${this.name}_sum` });
      values.push({ value: count?.value ?? 0, labels, metricName: `${this.name}_count` });
    }
    return values;
  }

  /** The key quantiles are filed under for the series with these (merged) labels. */
  private keyOfSeries(labels: Record<string, string>): string {
    return quantileKey(this.name, Object.keys(labels), Object.values(labels), this.help);
  }

  /**
   * This summary's percentiles with the merged values of one series: found by percentile, since
   * the processes that wrote them may list theirs in another order. A percentile no writer
   * computes is left out rather than shown as a number nobody measured; a series whose window
   * holds nothing shows 0, as prom-client does.
   */
  private mergedQuantiles(series: SeriesQuantiles | undefined): [number, number][] {
    if (series === undefined) return this.percentiles.map((quantile) => [quantile, 0]);
    const shown: [number, number][] = [];
    for (const quantile of this.percentiles) {
      const at = series.percentiles.indexOf(quantile);
      if (at >= 0) shown.push([quantile, series.values[at]!]);
    }
    return shown;
  }

  protected ownValues(): MetricValue[] {
    const values: MetricValue[] = [];
    const series = this.ownSeries();
    series.children.forEach((child, index) => {
      const labels = series.labels[index]!;
      const quantiles = child.quantiles?.values() ?? [];
      this.percentiles.forEach((quantile, i) => values.push({ labels: { quantile, ...labels }, value: quantiles[i] || 0 }));
      values.push({ value: child.sum.value, labels, metricName: `${this.name}_sum` });
      values.push({ value: child.count.value, labels, metricName: `${this.name}_count` });
    });
    return values;
  }

  protected override childRemoved(child: SummaryChild): void {
    child.quantiles?.reset();
    child.quantiles?.remove();
  }

  protected createChild(labelValues: readonly LabelText[]): SummaryChild {
    const kind = this.fileKind();
    const count = this.cellFor(kind, this.name, this.countName, this.labelNames, labelValues);
    const sum = this.cellFor(kind, this.name, this.sumName, this.labelNames, labelValues);
    let quantiles: SummaryQuantiles | undefined;
    if (!this.onlyCapturingKeys && this.percentiles.length > 0) {
      const names = this.labelNames.filter((_, i) => labelValues[i] !== undefined);
      const values = labelValues.filter((value): value is string => value !== undefined);
      const store = this.store;
      quantiles = new SummaryQuantiles(
        store.dir === undefined ? undefined : { dir: store.dir, identity: store.identity },
        quantileKey(this.name, names, values, this.help),
        { percentiles: this.percentiles, ...this.window },
      );
    }
    return new SummaryChild(count, sum, this.name, quantiles);
  }
  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  observe(labelsOrValue: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') {
      // Checked before the label set is looked up: a rejected value must not create its series.
      if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.name, value);
      this.childFromLabels(labelsOrValue).observe(value);
    } else {
      this.childFromLabels(undefined).observe(labelsOrValue);
    }
  }

  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return this.labelledClock(labels, (child, seconds) => child.observe(seconds));
  }

  zero(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).zero();
  }
}
