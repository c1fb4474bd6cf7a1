import { MetricConfigurationError } from '../errors.js';
import { fileKindOf, type FileKind, type GaugeMode, type MetricType } from '../fileNames.js';
import { entryKey } from '../pythonJson.js';
import type { Cell } from '../storage/cell.js';
import { defaultStore } from '../storage/defaultStore.js';
import type { SeriesStore } from '../storage/store.js';
import { checkHelp, checkLabelNames, checkMetricName, labelValue } from '../validation.js';

export type LabelValue = string | number;
export type LabelValues<T extends string = string> = Partial<Record<T, LabelValue>>;

export interface MetricConfiguration<T extends string = string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  /** Where the values go; by default the process's store (the shared directory, or memory). */
  store?: SeriesStore;
}

type ChildMap<C> = Map<string, C | ChildMap<C>>;

/**
 * What every metric type shares: validation of the configuration, and the children (one per
 * label set), each created once with its cells, so that `labels(...)` is a map lookup.
 */
export abstract class Metric<Child, T extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricType;
  protected readonly store: SeriesStore;
  private unlabelled: Child | undefined;
  private readonly children: ChildMap<Child> = new Map();

  protected constructor(config: MetricConfiguration<T>, reservedLabels: readonly string[]) {
    if (config === null || typeof config !== 'object') {
      throw new MetricConfigurationError('a metric takes a configuration object: { name, help, labelNames }');
    }
    this.name = checkMetricName(config.name);
    this.help = checkHelp(this.name, config.help);
    this.labelNames = checkLabelNames(this.name, config.labelNames, reservedLabels);
    this.store = config.store ?? defaultStore();
  }

  /** Called at the end of each subclass constructor: a metric without labels has its series at once. */
  protected initialize(): void {
    if (this.labelNames.length === 0) this.unlabelled = this.createChild([]);
  }

  protected abstract createChild(labelValues: readonly string[]): Child;

  /** The cell of one stored sample of this metric. */
  protected cellFor(kind: FileKind, metricName: string, sampleName: string, labelNames: readonly string[], labelValues: readonly string[]): Cell {
    return this.store.cell(kind, entryKey(metricName, sampleName, labelNames, labelValues, this.help));
  }

  protected fileKind(mode?: GaugeMode): FileKind {
    return fileKindOf(this.type, mode);
  }

  /** The series of one label set, by position (in labelNames order) or by name. */
  labels(...values: LabelValue[]): Child;
  labels(values: LabelValues<T>): Child;
  labels(...args: unknown[]): Child {
    const first = args[0];
    if (args.length === 1 && typeof first === 'object' && first !== null) {
      return this.childOf(this.valuesFromObject(first as Record<string, unknown>));
    }
    return this.childOf(args);
  }

  /** The series for the optional labels argument of inc/set/observe/startTimer. */
  protected childFromLabels(labels: LabelValues<T> | undefined): Child {
    if (labels === undefined) return this.childOf([]);
    return this.childOf(this.valuesFromObject(labels as Record<string, unknown>));
  }

  /** prom-client's timer: labels may be given when it starts, when it ends, or both. */
  protected labelledClock(labels: LabelValues<T> | undefined, record: (child: Child, seconds: number) => void) {
    let endLabels: LabelValues<T> | undefined;
    const end = startClock((seconds) => record(this.childFromLabels(endLabels === undefined ? labels : { ...labels, ...endLabels }), seconds));
    return (labelsAtEnd?: LabelValues<T>): number => {
      endLabels = labelsAtEnd;
      return end();
    };
  }

  private valuesFromObject(labels: Record<string, unknown>): unknown[] {
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name)) {
        throw new MetricConfigurationError(
          `${this.name} has no label ${JSON.stringify(name)}; its labels are [${this.labelNames.join(', ')}]`,
        );
      }
    }
    return this.labelNames.map((name) => labels[name]);
  }

  private childOf(values: readonly unknown[]): Child {
    const count = this.labelNames.length;
    if (values.length !== count) {
      throw new MetricConfigurationError(
        count === 0
          ? `${this.name} has no labels, but ${values.length} label value(s) were given`
          : `${this.name} takes ${count} label value(s) [${this.labelNames.join(', ')}], but ${values.length} were given`,
      );
    }
    if (count === 0) return this.unlabelled!;
    // Nested maps, one level per label, compare values exactly (no joined-string collisions).
    let level = this.children;
    for (let i = 0; i < count - 1; i++) {
      const key = this.textOf(i, values[i]);
      let next = level.get(key) as ChildMap<Child> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
    }
    const lastKey = this.textOf(count - 1, values[count - 1]);
    let child = level.get(lastKey) as Child | undefined;
    if (child === undefined) {
      child = this.createChild(values.map((value, i) => this.textOf(i, value)));
      level.set(lastKey, child);
    }
    return child;
  }

  private textOf(index: number, value: unknown): string {
    return typeof value === 'string' ? value : labelValue(this.name, this.labelNames[index]!, value);
  }
}

/** Starts a clock; the returned function records the seconds elapsed and returns them. */
export function startClock(record: (seconds: number) => void): () => number {
  const start = process.hrtime.bigint();
  return () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    record(seconds);
    return seconds;
  };
}

/** The cell update every metric type makes: schedule a write on the first change since the last. */
export function touch(cell: Cell): void {
  if (!cell.dirty) cell.owner.onDirty(cell);
}
