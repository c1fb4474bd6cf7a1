import { MetricConfigurationError } from '../common/errors.js';
import type { MetricValue } from '../scrape/exposition.js';
import { isGaugeMode, type FileKind, type GaugeMode } from '../format/fileNames.js';
import type { Cell } from '../storage/cell.js';
import { invalidNumber } from './validation.js';
import { Metric, startClock, touch, type Aggregator, type LabelText, type LabelValues, type MetricConfiguration } from './metric.js';

export interface GaugeConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /**
   * How the values of several processes merge: all (a series per process, with a pid label),
   * min, max, sum, mostrecent; each with a live variant that drops a process's values once it
   * is marked dead. Default: all, unless an `aggregator` is given (see MODE_OF_AGGREGATOR).
   */
  multiprocessMode?: GaugeMode;
}

/**
 * The gauge mode of each prom-client aggregator, for gauges given one and no multiprocessMode.
 * prom-client's cluster mode asked live workers only, hence the live modes; `first` (any one
 * worker's value, for values they all share) becomes the largest; `average` becomes a series
 * per live process, which PromQL's avg() turns into the average.
 */
export const MODE_OF_AGGREGATOR: Record<Exclude<Aggregator, 'omit'>, GaugeMode> = {
  sum: 'livesum', min: 'livemin', max: 'livemax', first: 'livemax', average: 'liveall',
};

interface GaugeSettings {
  name: string;
  mostRecent: boolean;
  now: () => number;
}

function checkValue(metricName: string, value: unknown): void {
  if (typeof value !== 'number') throw invalidNumber(metricName, 'Value', value, '');
}

/** Throws unless `delta` may be added: a number, on a gauge whose mode adds (not mostrecent). */
function checkDelta(gauge: GaugeSettings, delta: unknown): void {
  if (gauge.mostRecent) {
    throw new MetricConfigurationError(`${gauge.name}: inc() and dec() cannot be used with the mostrecent modes; use set()`);
  }
  if (typeof delta !== 'number') throw invalidNumber(gauge.name, 'Delta', delta, '');
}

export class GaugeChild {
  constructor(
    /** The series' value (read by the registry in one process). */
    readonly cell: Cell,
    private readonly gauge: GaugeSettings,
  ) {}

  inc(value = 1): void {
    if (typeof value !== 'number' || this.gauge.mostRecent) checkDelta(this.gauge, value);
    const cell = this.cell;
    cell.value += value;
    cell.timestamp = 0;
    if (!cell.dirty) cell.owner.onDirty(cell);
  }

  dec(value = 1): void {
    // Checked before it is negated: -"2" would be the number -2.
    if (typeof value !== 'number') checkDelta(this.gauge, value);
    this.inc(-value);
  }

  set(value: number): void {
    checkValue(this.gauge.name, value);
    const cell = this.cell;
    cell.value = value;
    // Only the mostrecent modes keep a timestamp; the merge picks the newest.
    cell.timestamp = this.gauge.mostRecent ? this.gauge.now() : 0;
    touch(cell);
  }

  setToCurrentTime(): void {
    this.set(this.gauge.now());
  }

  /** Returns a function that sets the gauge to the seconds elapsed since now, and returns them. */
  startTimer(): () => number {
    return startClock((seconds) => this.set(seconds));
  }

  zero(): void {
    this.set(0);
  }
}

/** A value that goes up and down; `multiprocessMode` says how processes' values merge. */
export class Gauge<T extends string = string> extends Metric<GaugeChild, T> {
  readonly type = 'gauge' as const;
  readonly multiprocessMode: GaugeMode;
  private readonly settings: GaugeSettings;
  /** The file kind of its mode, made once (a string built per series would be hashed anew each time). */
  private readonly kind: FileKind;

  constructor(config: GaugeConfiguration<T>) {
    super(config, ['pid']);
    const aggregator = config.aggregator;
    const mode = config.multiprocessMode ?? (aggregator === undefined || aggregator === 'omit' ? 'all' : MODE_OF_AGGREGATOR[aggregator] ?? 'all');
    if (!isGaugeMode(mode)) {
      throw new MetricConfigurationError(
        `${this.name}: unknown multiprocessMode ${JSON.stringify(mode)}; use one of all, liveall, min, livemin, max, livemax, sum, livesum, mostrecent, livemostrecent`,
      );
    }
    this.multiprocessMode = mode;
    this.kind = this.fileKind(mode);
    this.settings = { name: this.name, mostRecent: mode.endsWith('mostrecent'), now: () => this.store.now() };
    this.initialize();
  }

  protected override storageKind(): FileKind {
    return this.kind;
  }

  protected ownValues(): MetricValue[] {
    const { children, labels } = this.ownSeries();
    return children.map((child, i) => ({ value: child.cell.value, labels: labels[i]! }));
  }

  protected createChild(labelValues: readonly LabelText[]): GaugeChild {
    const cell = this.cellFor(this.kind, this.name, this.name, this.labelNames, labelValues);
    return new GaugeChild(cell, this.settings);
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  // With labels, the value is checked before the label set is looked up: a rejected value must not create its series.
  inc(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') {
      checkDelta(this.settings, value === undefined ? 1 : value);
      this.childFromLabels(labelsOrValue).inc(value);
    } else {
      this.childFromLabels(undefined).inc(labelsOrValue);
    }
  }

  dec(value?: number): void;
  dec(labels: LabelValues<T>, value?: number): void;
  dec(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') {
      checkDelta(this.settings, value === undefined ? 1 : value);
      this.childFromLabels(labelsOrValue).dec(value);
    } else {
      this.childFromLabels(undefined).dec(labelsOrValue);
    }
  }

  set(value: number): void;
  set(labels: LabelValues<T>, value: number): void;
  set(labelsOrValue: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') {
      checkValue(this.name, value);
      this.childFromLabels(labelsOrValue).set(value as number);
    } else {
      this.childFromLabels(undefined).set(labelsOrValue);
    }
  }

  setToCurrentTime(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).setToCurrentTime();
  }

  /** As prom-client: labels may be given at the start, the end, or both. */
  startTimer(labels?: LabelValues<T>): (endLabels?: LabelValues<T>) => number {
    return this.labelledClock(labels, (child, seconds) => child.set(seconds));
  }

  zero(labels?: LabelValues<T>): void {
    this.childFromLabels(labels).zero();
  }
}
