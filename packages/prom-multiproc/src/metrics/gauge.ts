import { MetricConfigurationError } from '../errors.js';
import { isGaugeMode, type FileKind, type GaugeMode } from '../fileNames.js';
import type { Cell } from '../storage/cell.js';
import { Metric, startClock, touch, type LabelValues, type MetricConfiguration } from './metric.js';

export interface GaugeConfiguration<T extends string = string> extends MetricConfiguration<T> {
  /**
   * How the values of several processes merge: all (a series per process, with a pid label),
   * min, max, sum, mostrecent; each with a live variant that drops a process's values once it
   * is marked dead. Default: all.
   */
  multiprocessMode?: GaugeMode;
}

function checkNumber(metricName: string, value: unknown): void {
  if (typeof value !== 'number') {
    throw new MetricConfigurationError(`${metricName}: gauge value must be a number, got ${typeof value}`);
  }
}

export class GaugeChild {
  constructor(
    private readonly cell: Cell,
    private readonly gauge: { name: string; mostRecent: boolean; now: () => number },
  ) {}

  inc(value = 1): void {
    if (typeof value !== 'number' || this.gauge.mostRecent) this.rejectIncrement(value);
    const cell = this.cell;
    cell.value += value;
    cell.timestamp = 0;
    if (!cell.dirty) cell.owner.onDirty(cell);
  }

  dec(value = 1): void {
    this.inc(-value);
  }

  set(value: number): void {
    checkNumber(this.gauge.name, value);
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

  private rejectIncrement(value: unknown): never {
    if (this.gauge.mostRecent) {
      throw new MetricConfigurationError(`${this.gauge.name}: inc() and dec() cannot be used with the mostrecent modes; use set()`);
    }
    throw new MetricConfigurationError(`${this.gauge.name}: increment must be a number, got ${typeof value}`);
  }
}

/** A value that goes up and down; `multiprocessMode` says how processes' values merge. */
export class Gauge<T extends string = string> extends Metric<GaugeChild, T> {
  readonly type = 'gauge' as const;
  readonly multiprocessMode: GaugeMode;
  private readonly settings: { name: string; mostRecent: boolean; now: () => number };

  constructor(config: GaugeConfiguration<T>) {
    super(config, ['pid']);
    const mode = config.multiprocessMode ?? 'all';
    if (!isGaugeMode(mode)) {
      throw new MetricConfigurationError(
        `${this.name}: unknown multiprocessMode ${JSON.stringify(mode)}; use one of all, liveall, min, livemin, max, livemax, sum, livesum, mostrecent, livemostrecent`,
      );
    }
    this.multiprocessMode = mode;
    this.settings = { name: this.name, mostRecent: mode.endsWith('mostrecent'), now: this.store.now };
    this.initialize();
  }

  protected override storageKind(): FileKind {
    return this.fileKind(this.multiprocessMode);
  }

  protected createChild(labelValues: readonly string[]): GaugeChild {
    const cell = this.cellFor(this.fileKind(this.multiprocessMode), this.name, this.name, this.labelNames, labelValues);
    return new GaugeChild(cell, this.settings);
  }

  inc(value?: number): void;
  inc(labels: LabelValues<T>, value?: number): void;
  inc(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') this.childFromLabels(labelsOrValue).inc(value);
    else this.childFromLabels(undefined).inc(labelsOrValue);
  }

  dec(value?: number): void;
  dec(labels: LabelValues<T>, value?: number): void;
  dec(labelsOrValue?: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') this.childFromLabels(labelsOrValue).dec(value);
    else this.childFromLabels(undefined).dec(labelsOrValue);
  }

  set(value: number): void;
  set(labels: LabelValues<T>, value: number): void;
  set(labelsOrValue: LabelValues<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') this.childFromLabels(labelsOrValue).set(value as number);
    else this.childFromLabels(undefined).set(labelsOrValue);
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
