import { floatToGoString } from '../pythonFloat.js';
import type { Cell } from '../storage/cell.js';
import { checkBuckets, invalidNumber } from '../validation.js';
import { Metric, startClock, touch, type LabelValues, type MetricConfiguration } from './metric.js';

/** Python's defaults, which also suit request latencies in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export interface HistogramConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /** Upper bounds, increasing; +Inf is added when missing. */
  buckets?: readonly number[];
}

function rejectObservation(metricName: string, value: unknown): never {
  throw invalidNumber(metricName, 'Value', value, 'an observation is a number, not NaN');
}

export class HistogramChild {
  constructor(
    private readonly sum: Cell,
    /** Non-cumulative counts, one per bound, as the file stores them. */
    private readonly counts: readonly Cell[],
    private readonly bounds: Float64Array,
    private readonly metricName: string,
  ) {}

  observe(value: number): void {
    if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.metricName, value);
    const sum = this.sum;
    sum.value += value;
    if (!sum.dirty) sum.owner.onDirty(sum);
    // A linear scan beats a binary search for the usual dozen or so bounds.
    const bounds = this.bounds;
    let i = 0;
    while (value > bounds[i]!) i++;
    const count = this.counts[i]!;
    count.value += 1;
    if (!count.dirty) count.owner.onDirty(count);
  }

  /** Returns a function that observes the seconds elapsed since now, and returns them. */
  startTimer(): () => number {
    return startClock((seconds) => this.observe(seconds));
  }

  /** Creates the series (all buckets at 0) without observing anything. */
  zero(): void {
    touch(this.sum);
  }
}

/** Observations counted in buckets, with their sum; merged by summing buckets across processes. */
export class Histogram<T extends string = string> extends Metric<HistogramChild, T> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];
  private readonly bounds: Float64Array;
  private readonly boundTexts: readonly string[];
  private readonly bucketLabelNames: readonly string[];

  constructor(config: HistogramConfiguration<T>) {
    super(config, ['le']);
    this.buckets = checkBuckets(this.name, config.buckets ?? DEFAULT_BUCKETS);
    this.bounds = Float64Array.from(this.buckets);
    this.boundTexts = this.buckets.map(floatToGoString);
    this.bucketLabelNames = [...this.labelNames, 'le'];
    this.initialize();
  }

  protected createChild(labelValues: readonly string[]): HistogramChild {
    // The order of creation is the order in the file: _sum, then every bucket.
    const kind = this.fileKind();
    const sum = this.cellFor(kind, this.name, `${this.name}_sum`, this.labelNames, labelValues);
    const counts = this.boundTexts.map((bound) =>
      this.cellFor(kind, this.name, `${this.name}_bucket`, this.bucketLabelNames, [...labelValues, bound]),
    );
    return new HistogramChild(sum, counts, this.bounds, this.name);
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

  /** As prom-client: labels may be given at the start, the end, or both. */
  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return this.labelledClock(labels, (child, seconds) => child.observe(seconds));
  }

  zero(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).zero();
  }
}
