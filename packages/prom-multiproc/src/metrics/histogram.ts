import { floatToGoString, parsePythonFloat } from '../format/pythonFloat.js';
import type { Cell } from '../storage/cell.js';
import { checkBuckets, invalidNumber } from './validation.js';
import type { MetricValue } from '../scrape/exposition.js';
import type { MetricFamily } from '../scrape/merge.js';
import { Metric, startClock, touch, type LabelText, type LabelValues, type MetricConfiguration } from './metric.js';

/** prom-client's default bounds, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Python prometheus_client's default bounds (three more than prom-client's: 0.075, 0.75, 7.5). */
export const PYTHON_DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export interface HistogramConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /** Upper bounds, increasing; +Inf is added when missing. */
  buckets?: readonly number[];
}

function rejectObservation(metricName: string, value: unknown): never {
  throw invalidNumber(metricName, 'Value', value, 'an observation is a number, not NaN');
}

export interface ObserveWithExemplar<T extends string = string> {
  labels?: LabelValues<T>;
  value: number;
  exemplarLabels?: Record<string, string | number>;
}

export class HistogramChild {
  constructor(
    readonly sum: Cell,
    /** Non-cumulative counts, one per bound, as the file stores them. */
    readonly counts: readonly Cell[],
    readonly bounds: Float64Array,
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
  private readonly sumName: string;
  private readonly bucketName: string;

  constructor(config: HistogramConfiguration<T>) {
    super(config, ['le']);
    this.buckets = checkBuckets(this.name, config.buckets ?? DEFAULT_BUCKETS);
    this.bounds = Float64Array.from(this.buckets);
    this.boundTexts = this.buckets.map(floatToGoString);
    this.bucketLabelNames = [...this.labelNames, 'le'];
    this.sumName = `${this.name}_sum`;
    this.bucketName = `${this.name}_bucket`;
    this.initialize();
  }

  /** prom-client's order: per series, its buckets by bound (le as a number, +Inf as text), _sum, _count. */
  protected override valuesOf(family: MetricFamily | undefined): MetricValue[] {
    const bucketName = `${this.name}_bucket`;
    const sumName = `${this.name}_sum`;
    const series = new Map<string, { labels: Record<string, string>; buckets: { bound: number; value: number }[]; sum: number; count: number }>();
    for (const sample of family?.samples ?? []) {
      const sampleLabels = sample.labels;
      // A merged series' labels come in one order (its key's), so they identify it as they are.
      let id = '';
      for (const name in sampleLabels) if (name !== 'le') id += `${name}\u0001${sampleLabels[name]}\u0000`;
      let entry = series.get(id);
      if (entry === undefined) {
        const { le: _le, ...labels } = sampleLabels;
        entry = { labels: this.inLabelOrder(labels), buckets: [], sum: 0, count: 0 };
        series.set(id, entry);
      }
      const le = sampleLabels.le;
      if (le !== undefined && sample.name === bucketName) entry.buckets.push({ bound: boundOf(le), value: sample.value });
      else if (sample.name === sumName) entry.sum = sample.value;
      else if (le === undefined) entry.count = sample.value;
    }
    const values: MetricValue[] = [];
    for (const { labels, buckets, sum, count } of series.values()) {
      buckets.sort((a, b) => a.bound - b.bound);
      for (const { bound, value } of buckets) {
        // prom-client's shape: `exemplar: null` on each bucket, none on +Inf when exemplars are on.
        const exemplar = bound === Infinity && this.enableExemplars ? undefined : null;
        values.push({ value, labels: { le: bound === Infinity ? '+Inf' : bound, ...labels }, metricName: bucketName, exemplar });
      }
      values.push({ value: sum, labels: { ...labels }, metricName: sumName });
      values.push({ value: count, labels: { ...labels }, metricName: `${this.name}_count` });
    }
    return values;
  }

  protected ownValues(): MetricValue[] {
    const values: MetricValue[] = [];
    const series = this.ownSeries();
    series.children.forEach((child, index) => {
      const labels = series.labels[index]!;
      let cumulative = 0;
      child.counts.forEach((count, i) => {
        cumulative += count.value;
        const bound = child.bounds[i]!;
        const exemplar = bound === Infinity && this.enableExemplars ? undefined : null;
        values.push({ value: cumulative, labels: { le: bound === Infinity ? '+Inf' : bound, ...labels }, metricName: `${this.name}_bucket`, exemplar });
      });
      values.push({ value: child.sum.value, labels: { ...labels }, metricName: `${this.name}_sum` });
      values.push({ value: cumulative, labels: { ...labels }, metricName: `${this.name}_count` });
    });
    return values;
  }

  protected createChild(labelValues: readonly LabelText[]): HistogramChild {
    // The order of creation is the order in the file: _sum, then every bucket.
    const kind = this.fileKind();
    const sum = this.cellFor(kind, this.name, this.sumName, this.labelNames, labelValues);
    const counts = this.boundTexts.map((bound) => this.cellFor(kind, this.name, this.bucketName, this.bucketLabelNames, labelValues, bound));
    return new HistogramChild(sum, counts, this.bounds, this.name);
  }

  observe(value: number): void;
  observe(labels: LabelValues<T>, value: number): void;
  /** With `enableExemplars`: prom-client's options object. */
  observe(options: ObserveWithExemplar<T>): void;
  observe(labelsOrValue: LabelValues<T> | number | ObserveWithExemplar<T>, value?: number): void {
    if (this.enableExemplars && typeof labelsOrValue === 'object') {
      this.observeWithExemplar(labelsOrValue as ObserveWithExemplar<T>);
      return;
    }
    if (typeof labelsOrValue === 'object') {
      // Checked before the label set is looked up: a rejected value must not create its series.
      if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.name, value);
      this.childFromLabels(labelsOrValue as LabelValues<T>).observe(value);
    } else {
      this.childFromLabels(undefined).observe(labelsOrValue);
    }
  }

  /** prom-client's observe with an exemplar, kept on the bucket the value was counted in. */
  private observeWithExemplar({ labels, value, exemplarLabels }: ObserveWithExemplar<T>): void {
    // The series itself: this.observe() would take the labels object for options again.
    if (typeof value !== 'number' || Number.isNaN(value)) rejectObservation(this.name, value);
    this.childFromLabels((labels ?? {}) as LabelValues<T>).observe(value);
    if (exemplarLabels === undefined || Object.keys(exemplarLabels).length === 0) return;
    let i = 0;
    while (value > this.bounds[i]!) i++;
    this.recordExemplar(this.entryKeyOf(`${this.name}_bucket`, labels, 'le', this.boundTexts[i]), exemplarLabels, value);
  }

  /** As prom-client: labels may be given at the start, the end, or both (and exemplar labels, with enableExemplars). */
  startTimer(labels?: LabelValues<T>, exemplarLabels?: Record<string, string | number>): (endLabels?: LabelValues<T>, endExemplarLabels?: Record<string, string | number>) => number {
    if (!this.enableExemplars) return this.labelledClock(labels, (child, seconds) => child.observe(seconds));
    const end = startClock(() => undefined);
    return (endLabels, endExemplarLabels) => {
      const seconds = end();
      this.observeWithExemplar({ labels: { ...labels, ...endLabels } as LabelValues<T>, value: seconds, exemplarLabels: { ...exemplarLabels, ...endExemplarLabels } });
      return seconds;
    };
  }

  zero(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).zero();
  }
}

// Bucket bounds as text in the merged labels, parsed once per distinct text.
const bounds = new Map<string, number>();

function boundOf(le: string): number {
  let bound = bounds.get(le);
  if (bound === undefined) {
    bound = parsePythonFloat(le);
    if (bounds.size < 10_000) bounds.set(le, bound);
  }
  return bound;
}
