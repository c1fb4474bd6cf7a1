import { MetricConfigurationError } from '../errors.js';
import type { Cell } from '../storage/cell.js';
import { invalidNumber } from '../validation.js';
import type { MetricValue } from '../exposition.js';
import type { MetricFamily } from '../merge.js';
import { Metric, startClock, touch, type LabelText, type LabelValues, type MetricConfiguration } from './metric.js';

export interface SummaryConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /**
   * Not supported: quantiles cannot be merged across processes, so in multiprocess mode a
   * summary has `_count` and `_sum` only, as in Python's client. Passing them is an error,
   * so that nobody waits for quantiles that never come; use a Histogram.
   */
  percentiles?: never;
}

function rejectObservation(metricName: string, value: unknown): never {
  throw invalidNumber(metricName, 'Value', value, 'an observation is a number, not NaN');
}

export class SummaryChild {
  constructor(
    private readonly count: Cell,
    private readonly sum: Cell,
    private readonly metricName: string,
  ) {}

  observe(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.metricName, value);
    const count = this.count;
    count.value += 1;
    if (!count.dirty) count.owner.onDirty(count);
    const sum = this.sum;
    sum.value += value;
    if (!sum.dirty) sum.owner.onDirty(sum);
  }

  startTimer(): () => number {
    return startClock((seconds) => this.observe(seconds));
  }

  zero(): void {
    touch(this.count);
  }
}

/** Count and sum of observations, summed across processes. */
export class Summary<T extends string = string> extends Metric<SummaryChild, T> {
  readonly type = 'summary' as const;

  constructor(config: SummaryConfiguration<T>) {
    super(config, ['quantile']);
    if ((config as { percentiles?: unknown }).percentiles !== undefined) {
      throw new MetricConfigurationError(
        `${this.name}: percentiles cannot be merged across processes; a multiprocess Summary has _count and _sum only. Use a Histogram for quantiles.`,
      );
    }
    this.initialize();
  }

  /** prom-client's order: per series, _sum then _count. */
  protected override valuesOf(family: MetricFamily | undefined): MetricValue[] {
    const samples = family?.samples ?? [];
    const sums = samples.filter((sample) => sample.name === `${this.name}_sum`);
    const counts = new Map(samples.filter((sample) => sample.name === `${this.name}_count`).map((sample) => [JSON.stringify(sample.labels), sample]));
    const values: MetricValue[] = [];
    for (const sum of sums) {
      values.push({ value: sum.value, labels: sum.labels, metricName: `${this.name}_sum` });
      const count = counts.get(JSON.stringify(sum.labels));
      values.push({ value: count?.value ?? 0, labels: sum.labels, metricName: `${this.name}_count` });
    }
    return values;
  }

  protected createChild(labelValues: readonly LabelText[]): SummaryChild {
    const kind = this.fileKind();
    const count = this.cellFor(kind, this.name, `${this.name}_count`, this.labelNames, labelValues);
    const sum = this.cellFor(kind, this.name, `${this.name}_sum`, this.labelNames, labelValues);
    return new SummaryChild(count, sum, this.name);
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
