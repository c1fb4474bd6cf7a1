import { MetricConfigurationError } from '../errors.js';
import { fileKindOf, type FileKind, type GaugeMode, type MetricType } from '../fileNames.js';
import { entryKey, metricKeyPrefix } from '../pythonJson.js';
import { Cell, type CellOwner } from '../storage/cell.js';
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
  /** While keysOf() runs: the entry keys cellFor() is asked for, instead of cells. */
  private capturing: string[] | undefined;

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
    const key = entryKey(metricName, sampleName, labelNames, labelValues, this.help);
    if (this.capturing !== undefined) {
      this.capturing.push(key);
      return new Cell(scratchOwner, 0);
    }
    return this.store.cell(kind, key);
  }

  protected fileKind(mode?: GaugeMode): FileKind {
    return fileKindOf(this.type, mode);
  }

  /** The file kind all of this metric's series are stored in. */
  protected storageKind(): FileKind {
    return this.fileKind();
  }

  /** The metric name in the entry keys (a counter's has no `_total`). */
  protected storedMetricName(): string {
    return this.name;
  }

  /**
   * Removes one label set's series from this process: from its values and its files, so they
   * leave the merge as far as this process contributed them. A counter's merged value then
   * drops by this process's share if other processes still have the label set (the README's
   * "remove() and reset()" says when that is what you want). A child object obtained before
   * keeps counting in memory only; labels() gives a new one, from 0.
   */
  remove(...values: LabelValue[]): void;
  remove(values: LabelValues<T>): void;
  remove(...args: unknown[]): void {
    if (this.labelNames.length === 0) {
      throw new MetricConfigurationError(`${this.name} has no labels, so there is no label set to remove; reset() sets it back to 0`);
    }
    const first = args[0];
    const values = args.length === 1 && typeof first === 'object' && first !== null
      ? this.valuesFromObject(first as Record<string, unknown>)
      : args;
    this.checkCount(values);
    const texts = values.map((value, i) => this.textOf(i, value));
    const keys = new Set(this.keysOf(texts));
    this.store.removeEntries(this.storageKind(), (key) => keys.has(key));
    this.forgetChild(texts);
  }

  /**
   * Removes every series of this metric from this process, including those a previous run of
   * the same identity left in its files; a metric without labels starts again at 0.
   */
  reset(): void {
    const prefix = metricKeyPrefix(this.storedMetricName());
    this.store.removeEntries(this.storageKind(), (key) => key.startsWith(prefix));
    this.children.clear();
    this.unlabelled = undefined;
    this.initialize();
  }

  /** Python's name for reset(): every label set goes. */
  clear(): void {
    this.reset();
  }

  /** The entry keys of one label set's series, as createChild would ask for them, without creating any. */
  private keysOf(labelValues: readonly string[]): string[] {
    const keys: string[] = [];
    this.capturing = keys;
    try {
      this.createChild(labelValues);
    } finally {
      this.capturing = undefined;
    }
    return keys;
  }

  private forgetChild(texts: readonly string[]): void {
    let level: ChildMap<Child> | undefined = this.children;
    for (let i = 0; i < texts.length - 1 && level !== undefined; i++) level = level.get(texts[i]!) as ChildMap<Child> | undefined;
    level?.delete(texts[texts.length - 1]!);
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

  private checkCount(values: readonly unknown[]): void {
    const count = this.labelNames.length;
    if (values.length !== count) {
      throw new MetricConfigurationError(
        count === 0
          ? `${this.name} has no labels, but ${values.length} label value(s) were given`
          : `${this.name} takes ${count} label value(s) [${this.labelNames.join(', ')}], but ${values.length} were given`,
      );
    }
  }

  private childOf(values: readonly unknown[]): Child {
    this.checkCount(values);
    const count = this.labelNames.length;
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

/** The owner of the throwaway cells keysOf() hands out: nothing is ever written for them. */
const scratchOwner: CellOwner = {
  onDirty(cell) {
    cell.dirty = true;
  },
};

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
