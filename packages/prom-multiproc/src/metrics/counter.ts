import { MetricConfigurationError } from '../common/errors.js';
import type { Cell } from '../storage/cell.js';
import { invalidNumber } from './validation.js';
import type { MetricValue } from '../scrape/exposition.js';
import type { MetricFamily } from '../scrape/merge.js';
import { Metric, touch, type LabelText, type LabelValues, type MetricConfiguration } from './metric.js';

/** Whether `value` is a valid increment: a finite number, 0 or more. */
function isIncrement(value: unknown): value is number {
  // One comparison rejects negatives, NaN and most non-numbers (undefined >= 0 is false).
  return (value as number) >= 0 && (value as number) < Infinity && typeof value === 'number';
}

function rejectIncrement(metricName: string, value: unknown): never {
  if (typeof value !== 'number' || Number.isNaN(value) || value === Infinity) {
    throw invalidNumber(metricName, 'Value', value, "a counter's increment is a finite number of 0 or more");
  }
  throw new MetricConfigurationError(`${metricName}: It is not possible to decrease a counter (increment ${value}); use a Gauge for values that go down`);
}

export interface IncrementWithExemplar<T extends string = string> {
  labels?: LabelValues<T>;
  value?: number;
  exemplarLabels?: Record<string, string | number>;
}

export class CounterChild {
  constructor(
    /** The series' value (read by the registry in one process). */
    readonly cell: Cell,
    private readonly metricName: string,
  ) {}

  inc(value = 1): void {
    if (!isIncrement(value)) rejectIncrement(this.metricName, value);
    const cell = this.cell;
    cell.value += value;
    if (!cell.dirty) cell.owner.onDirty(cell);
  }

  /** Creates the series at 0 if it does not exist; a counter is never set back. */
  zero(): void {
    touch(this.cell);
  }
}

/**
 * A value that only goes up. Stored as `<name>_total` under the name without `_total`,
 * as Python does, so `http_requests_total` and `http_requests` are the same counter.
 */
export class Counter<T extends string = string> extends Metric<CounterChild, T> {
  readonly type = 'counter' as const;
  private readonly storedName: string;
  /** The sample name of its series, `<stored name>_total`. */
  private readonly totalName: string;

  constructor(config: MetricConfiguration<T>) {
    super(config, []);
    this.storedName = this.name.endsWith('_total') ? this.name.slice(0, -6) : this.name;
    this.totalName = `${this.storedName}_total`;
    this.initialize();
  }

  protected override storedMetricName(): string {
    return this.storedName;
  }

  protected override valuesOf(family: MetricFamily | undefined): MetricValue[] {
    const total = `${this.storedName}_total`;
    return (family?.samples ?? []).filter((sample) => sample.name === total).map((sample) => ({ value: sample.value, labels: this.inLabelOrder(sample.labels) }));
  }

  protected ownValues(): MetricValue[] {
    const { children, labels } = this.ownSeries();
    return children.map((child, i) => ({ value: child.cell.value, labels: labels[i]! }));
  }

  protected createChild(labelValues: readonly LabelText[]): CounterChild {
    const cell = this.cellFor(this.fileKind(), this.storedName, this.totalName, this.labelNames, labelValues);
    return new CounterChild(cell, this.name);
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  /** With `enableExemplars`: prom-client's options object. */
  inc(options: IncrementWithExemplar<T>): void;
  inc(labelsOrValue?: LabelValues<T> | number | IncrementWithExemplar<T>, value?: number): void {
    if (this.enableExemplars && (typeof labelsOrValue === 'object' || labelsOrValue === undefined)) {
      this.incWithExemplar((labelsOrValue ?? {}) as IncrementWithExemplar<T>);
      return;
    }
    // Checked before the label set is looked up: a rejected increment must not create its series.
    if (typeof labelsOrValue === 'object') {
      if (value !== undefined && !isIncrement(value)) rejectIncrement(this.name, value);
      this.childFromLabels(labelsOrValue as LabelValues<T>).inc(value);
    } else {
      this.childFromLabels(undefined).inc(labelsOrValue);
    }
  }

  /** prom-client's inc with an exemplar: the exemplar is kept when exemplarLabels are given. */
  private incWithExemplar({ labels, value = 1, exemplarLabels }: IncrementWithExemplar<T>): void {
    // The series itself: this.inc() would take the labels object for options again.
    if (!isIncrement(value)) rejectIncrement(this.name, value);
    this.childFromLabels((labels ?? {}) as LabelValues<T>).inc(value);
    if (exemplarLabels === undefined) return;
    this.recordExemplar(this.entryKeyOf(`${this.storedName}_total`, labels), exemplarLabels, value ? value : 1);
  }

  zero(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).zero();
  }
}
