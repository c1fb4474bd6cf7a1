import { MetricConfigurationError } from '../common/errors.js';
import { OPENMETRICS_CONTENT_TYPE as OPENMETRICS, type MetricObject, type MetricValue } from '../scrape/exposition.js';
import { fileKindOf, type FileKind, type GaugeMode, type MetricType } from '../format/fileNames.js';
import type { MetricFamily } from '../scrape/merge.js';
import { entryKey, metricKeyPrefix } from '../format/pythonJson.js';
import { reportOnce } from '../common/report.js';
import type { SnapshotCaches, StoreView } from '../scrape/snapshot.js';
import type { ExemplarsBySample } from '../scrape/mergeExemplars.js';
import { exemplarSink } from '../storage/exemplarFile.js';
import { checkExemplarLabels } from './exemplarRules.js';
import { EntryKeyTemplate, flatString } from './entryKeyTemplate.js';
import { Cell, type CellOwner } from '../storage/cell.js';
import { checkLateDirectory, collectIntervalMs, configuredDirectory, defaultStore, existingDefaultStore, whenDefaultStoreCreated } from '../storage/defaultStore.js';
import { MemoryStore } from '../storage/memoryStore.js';
import type { SeriesStore } from '../storage/store.js';
import { checkHelp, checkLabelNames, checkMetricName, labelValue } from './validation.js';
import { globalRegister } from '../scrape/promRegistry.js';
import { SCRAPE_PARTICIPANT, type RegistryLike, type ScrapeParticipant } from '../scrape/participant.js';

export type LabelValue = string | number;
export type LabelValues<T extends string = string> = Partial<Record<T, LabelValue>>;

/** prom-client's aggregators: how cluster mode merged a metric's values across workers. */
export type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

export interface MetricConfiguration<T extends string = string> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  /** Where the values go; by default the process's store (the shared directory, or memory). */
  store?: SeriesStore;
  /** The registries the metric is served by: the global `register` by default; `[]` for none. */
  registers?: readonly RegistryLike[];
  /**
   * prom-client's cluster aggregation. Counters, histograms and summaries are always summed;
   * `omit` keeps a metric out of the directory (this process's own registries serve it). A
   * gauge's aggregator picks its multiprocessMode (see GaugeConfiguration).
   */
  aggregator?: Aggregator;
  /**
   * Called (with the metric as `this`) before the metric's values are read: in the process
   * that serves a scrape, at scrape time; in every other process, periodically (see
   * configure's collectIntervalMs), so that what it sets is in the process's files.
   */
  collect?: (this: any) => void | Promise<void>; // eslint-disable-line @typescript-eslint/no-explicit-any
  enableExemplars?: boolean;
}

/** Puts each sample's latest exemplar on its value (the values are in the family's sample order, per type). */
function attachExemplars(type: string, storedName: string, values: MetricValue[], exemplars: ExemplarsBySample): void {
  if (exemplars.size === 0) return;
  for (const value of values) {
    const sampleName = value.metricName ?? (type === 'counter' ? `${storedName}_total` : storedName);
    const labels: Record<string, string> = {};
    for (const [name, label] of Object.entries(value.labels ?? {})) labels[name] = String(label);
    const exemplar = exemplars.get(sampleName, labels);
    if (exemplar !== undefined) value.exemplar = { labelSet: exemplar.labels, value: exemplar.value, timestamp: exemplar.timestamp };
  }
}

// The metric object that last took each name in each store (see claimSeries).
const ownersByStore = new WeakMap<SeriesStore, Map<string, WeakRef<{ name: string; type: string; registers: readonly RegistryLike[] }>>>();

/** Whether a metric created in registries is in none of them any more (a metric created in none shares its series). */
function leftItsRegistries(metric: { name: string; registers: readonly RegistryLike[] }): boolean {
  return metric.registers.length > 0 && !metric.registers.some((registry) => registry.getSingleMetric?.(metric.name) === metric);
}

// get() reads a directory for one metric; it keeps no files open between calls. The reading
// code is loaded by the first get(), not by every process that only records values.
let getCaches: SnapshotCaches | undefined;

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
  readonly registers: readonly RegistryLike[];
  readonly aggregator: Aggregator;
  readonly enableExemplars: boolean;
  collect: ((this: this) => void | Promise<void>) | undefined;
  private readonly configuredStore: SeriesStore | undefined;
  private boundStore: SeriesStore | undefined;
  private stopWaiting: (() => void) | undefined;
  private unlabelled: Child | undefined;
  private readonly children: ChildMap<Child> = new Map();
  private readonly keyTemplates = new Map<string, EntryKeyTemplate>();
  /** While keysOf() runs: the entry keys cellFor() is asked for, instead of cells. */
  private capturing: string[] | undefined;

  protected constructor(config: MetricConfiguration<T>, reservedLabels: readonly string[]) {
    if (config === null || typeof config !== 'object') {
      throw new MetricConfigurationError('a metric takes a configuration object: { name, help, labelNames }');
    }
    this.name = checkMetricName(config.name);
    this.help = checkHelp(this.name, config.help);
    this.labelNames = checkLabelNames(this.name, config.labelNames, reservedLabels);
    this.aggregator = checkAggregator(this.name, config.aggregator);
    if (config.collect !== undefined && typeof config.collect !== 'function') {
      throw new MetricConfigurationError(`${this.name}: the "collect" option must be a function`);
    }
    this.collect = config.collect;
    this.enableExemplars = config.enableExemplars === true;
    // omit: this process's own, whatever store it was given.
    this.configuredStore = this.aggregator === 'omit' ? new MemoryStore() : config.store;
    this.registers = config.registers ?? [globalRegister()];
  }

  /**
   * Called at the end of each subclass constructor: a metric without labels has its series at
   * once, and the metric joins its registries. The store is taken now if the directory is
   * known (or none will be); else when the first value is recorded or read, so that a metric
   * created by an import that runs before PROM_MULTIPROC_DIR is set still writes there.
   */
  protected initialize(): void {
    // Registries first: a metric they refuse (a name taken) must leave no series behind.
    for (const registry of this.registers) {
      if (this.enableExemplars && registry.contentType !== OPENMETRICS) {
        throw new TypeError('Exemplars are supported only on OpenMetrics registries');
      }
      registry.registerMetric(this);
    }
    if (this.configuredStore !== undefined || existingDefaultStore() !== undefined || configuredDirectory() !== undefined) {
      this.bindStore();
    } else if (this.stopWaiting === undefined) {
      this.stopWaiting = whenDefaultStoreCreated(() => this.bindStore());
    }
  }

  /** The store this metric's values are in, taken on first use. */
  protected get store(): SeriesStore {
    return this.boundStore ?? this.bindStore();
  }

  private bindStore(): SeriesStore {
    if (this.boundStore !== undefined) return this.boundStore;
    this.stopWaiting?.();
    this.stopWaiting = undefined;
    const store = this.configuredStore ?? defaultStore();
    this.boundStore = store;
    this.claimSeries(store);
    if (this.labelNames.length === 0 && this.unlabelled === undefined) this.unlabelled = this.makeChild([]);
    if (this.collect !== undefined && store.dir !== undefined) collectPeriodically(this);
    return store;
  }

  /**
   * A metric of a name an earlier metric object of this process had: prom-client's new metric
   * starts from nothing when the earlier one left its registries (clear(), removeSingleMetric),
   * so its series are taken out of the store first. While the earlier one is still registered,
   * or was created in none (`registers: []`), the two share the series (the same name writes
   * the same entries of the same file).
   * Series a previous run of this identity left in the files are kept: totals do not go back.
   */
  private claimSeries(store: SeriesStore): void {
    let owners = ownersByStore.get(store);
    if (owners === undefined) {
      owners = new Map();
      ownersByStore.set(store, owners);
    }
    const name = this.storedMetricName();
    const previous = owners.get(name)?.deref();
    if (previous !== undefined && previous !== this && previous.type !== this.type && !leftItsRegistries(previous)) {
      // Both would be one family in the files (a counter x_total and a gauge x, say): refuse.
      throw new MetricConfigurationError(
        `${this.name}: a ${previous.type} ${previous.name} of this process is stored under the same name (${name}), so their series would mix; give one of them another name`,
      );
    }
    owners.set(name, new WeakRef(this));
    if (previous === undefined || previous === this || !leftItsRegistries(previous)) return;
    const prefix = metricKeyPrefix(name);
    store.removeEntries(this.storageKind(), (key) => key.startsWith(prefix));
    exemplarSink(store).remove((key) => key.startsWith(prefix));
  }

  /** prom-client's metric object, with the values of every process writing the directory (or this process's). */
  async get(): Promise<MetricObject> {
    checkLateDirectory();
    const participant = this[SCRAPE_PARTICIPANT];
    await participant.runCollect();
    const store = participant.store();
    const { readStores, SnapshotCaches } = await import('../scrape/snapshot.js');
    getCaches ??= new SnapshotCaches(false);
    const snapshot = await readStores([store], getCaches);
    return participant.objectFrom(snapshot.byStore.get(store)!);
  }

  readonly [SCRAPE_PARTICIPANT]: ScrapeParticipant = {
    familyName: () => this.storedMetricName(),
    store: () => this.store,
    runCollect: async () => {
      if (this.collect !== undefined) await this.collect();
    },
    objectFrom: async (view) => {
      // One process (no directory): this metric's own series, read from its cells as prom-client
      // reads its own map; the merge of the store is for the directory's many processes.
      const values = view.dir === undefined ? this.ownValues() : await this.valuesOf(view.families.get(this.storedMetricName()), view);
      if (this.enableExemplars) attachExemplars(this.type, this.storedMetricName(), values, view.exemplars());
      return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
    },
  };

  /**
   * Each series this object made and its label values, at the same index, in the order it
   * made them (prom-client's order). Two arrays cost a third of a Map's entries, and only
   * remove() has to find a child in them. The values are kept only where ownValues() reads
   * them: a store without a directory (with one, the values are merged from the files, labels
   * included); they are the array the store keeps to make the series' keys, so they cost one
   * slot here, and the label objects are made when the values are read.
   */
  private readonly seriesChildren: Child[] = [];
  private readonly seriesTexts: (readonly LabelText[])[] = [];

  /** This process's values of this metric's own series, shaped as prom-client's get() shapes them. */
  protected abstract ownValues(): MetricValue[];

  /** Each series this object made, and its labels at the same index, in the order it made them. */
  protected ownSeries(): { readonly children: readonly Child[]; readonly labels: readonly Record<string, string>[] } {
    const names = this.labelNames;
    const labels = this.seriesTexts.map((texts) => {
      // The label objects' names with a value, in labelNames order.
      const record: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) if (texts[i] !== undefined) record[names[i]!] = texts[i]!;
      return record;
    });
    return { children: this.seriesChildren, labels };
  }

  /** Makes a child and remembers its label values. */
  private makeChild(texts: readonly LabelText[]): Child {
    const child = this.createChild(texts);
    this.seriesChildren.push(child);
    if (this.store.dir === undefined) this.seriesTexts.push(texts);
    return child;
  }

  /** The entry key of one of this metric's samples, for the labels of a label object (or none). */
  protected entryKeyOf(sampleName: string, labels: LabelValues<T> | undefined, extraName?: string, extraValue?: string): string {
    const values = labels === undefined ? [] : this.valuesFromObject(labels as Record<string, unknown>).map((value, i) => this.textOf(i, value));
    const names = labels === undefined ? [] : [...this.labelNames];
    if (labels !== undefined) this.checkCount(values);
    const kept = names.map((name, i) => [name, values[i]] as const).filter(([, value]) => value !== undefined) as [string, string][];
    if (extraName !== undefined) kept.push([extraName, extraValue!]);
    return entryKey(this.storedMetricName(), sampleName, kept.map(([name]) => name), kept.map(([, value]) => value), this.help);
  }

  /** Keeps an exemplar of this metric's sample (see the exemplar side files). */
  protected recordExemplar(entryKeyOfSample: string, exemplarLabels: Record<string, string | number>, value: number): void {
    checkExemplarLabels(exemplarLabels);
    exemplarSink(this.store).record(entryKeyOfSample, exemplarLabels, value, Date.now() / 1000);
  }

  /** The merged samples of this metric's family, shaped as prom-client's get() shapes them. */
  protected valuesOf(family: MetricFamily | undefined, _view?: StoreView): MetricValue[] | Promise<MetricValue[]> {
    if (family === undefined) return [];
    return family.samples.map((sample) => ({ value: sample.value, labels: this.inLabelOrder(sample.labels) }));
  }

  /**
   * A merged sample's labels in labelNames order, then any other (a gauge's pid): the files keep
   * them sorted by name, and prom-client writes them in the order the metric names them.
   */
  protected inLabelOrder(labels: Record<string, string>): Record<string, string> {
    const ordered: Record<string, string> = {};
    for (const name of this.labelNames) if (labels[name] !== undefined) ordered[name] = labels[name];
    for (const name of Object.keys(labels)) if (ordered[name] === undefined) ordered[name] = labels[name]!;
    return ordered;
  }

  /** `labelValues` in labelNames order; undefined for a label a label object left out. */
  protected abstract createChild(labelValues: readonly LabelText[]): Child;

  /**
   * The cell of one stored sample of this metric. `extraValue` is the value of a last label
   * of `labelNames` that `labelValues` does not hold (a histogram bucket's le). The store is
   * given what makes the key again (the template, and the child's own `labelValues`), so a
   * memory store keeps no key text per series.
   */
  protected cellFor(
    kind: FileKind, metricName: string, sampleName: string, labelNames: readonly string[], labelValues: readonly LabelText[], extraValue?: string,
  ): Cell {
    // A label left out of a label object (prom-client allows it) is left out of the series.
    let names = labelNames;
    let values = (extraValue === undefined ? labelValues : [...labelValues, extraValue]) as readonly string[];
    const leftOut = labelValues.includes(undefined);
    if (leftOut) {
      names = labelNames.filter((_, i) => values[i] !== undefined);
      values = values.filter((value): value is string => value !== undefined);
    }
    const template = leftOut ? undefined : this.keyTemplate(metricName, sampleName, labelNames);
    const key = template === undefined ? flatString(entryKey(metricName, sampleName, names, values, this.help)) : template.keyOf(values);
    if (this.capturing !== undefined) {
      this.capturing.push(key);
      return new Cell(scratchOwner, 0);
    }
    if (template === undefined) return this.store.cell(kind, key);
    const source = extraValue === undefined ? template : template.withLastValue(extraValue);
    return this.store.cell(kind, key, source, labelValues as readonly string[]);
  }

  /** The template of a sample's keys, made on its first series (see EntryKeyTemplate). */
  private keyTemplate(metricName: string, sampleName: string, labelNames: readonly string[]): EntryKeyTemplate {
    let template = this.keyTemplates.get(sampleName);
    if (template === undefined || template.labelNames !== labelNames) {
      template = new EntryKeyTemplate(metricName, sampleName, labelNames, this.help);
      this.keyTemplates.set(sampleName, template);
    }
    return template;
  }

  /** Whether createChild runs only to learn the entry keys (remove()): it must make nothing then. */
  protected get onlyCapturingKeys(): boolean {
    return this.capturing !== undefined;
  }

  /** Called for a child remove() takes away, before it goes. */
  protected childRemoved(_child: Child): void {}

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
    if (this.enableExemplars) exemplarSink(this.store).remove((key) => keys.has(key));
    this.forgetChild(texts);
  }

  /**
   * Removes every series of this metric from this process, including those a previous run of
   * the same identity left in its files; a metric without labels starts again at 0.
   */
  reset(): void {
    const prefix = metricKeyPrefix(this.storedMetricName());
    this.store.removeEntries(this.storageKind(), (key) => key.startsWith(prefix));
    if (this.enableExemplars) exemplarSink(this.store).remove((key) => key.startsWith(prefix));
    for (const child of this.seriesChildren) this.childRemoved(child);
    this.children.clear();
    this.seriesChildren.length = 0;
    this.seriesTexts.length = 0;
    this.unlabelled = this.labelNames.length === 0 ? this.makeChild([]) : undefined;
  }

  /** Python's name for reset(): every label set goes. */
  clear(): void {
    this.reset();
  }

  /** The entry keys of one label set's series, as createChild would ask for them, without creating any. */
  private keysOf(labelValues: readonly LabelText[]): string[] {
    const keys: string[] = [];
    this.capturing = keys;
    try {
      this.createChild(labelValues);
    } finally {
      this.capturing = undefined;
    }
    return keys;
  }

  private forgetChild(texts: readonly LabelText[]): void {
    let level: ChildMap<Child> | undefined = this.children;
    for (let i = 0; i < texts.length - 1 && level !== undefined; i++) level = level.get(childKey(texts[i])) as ChildMap<Child> | undefined;
    const last = childKey(texts[texts.length - 1]);
    const child = level?.get(last);
    if (child !== undefined) {
      this.childRemoved(child as Child);
      const index = this.seriesChildren.indexOf(child as Child);
      this.seriesChildren.splice(index, 1);
      this.seriesTexts.splice(index, 1);
    }
    level?.delete(last);
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
    // No labels on a labelled metric: prom-client records the series without any.
    if (labels === undefined) return this.childOf(this.labelNames.length === 0 ? [] : this.labelNames.map(() => undefined));
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
    if (count === 0) {
      if (this.boundStore === undefined) this.bindStore();
      return this.unlabelled!;
    }
    // Nested maps, one level per label, compare values exactly (no joined-string collisions).
    let level = this.children;
    for (let i = 0; i < count - 1; i++) {
      const key = childKey(this.textOf(i, values[i]));
      let next = level.get(key) as ChildMap<Child> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
    }
    const lastKey = childKey(this.textOf(count - 1, values[count - 1]));
    let child = level.get(lastKey) as Child | undefined;
    if (child === undefined) {
      child = this.makeChild(values.map((value, i) => this.textOf(i, value)));
      level.set(lastKey, child);
    }
    return child;
  }

  private textOf(index: number, value: unknown): LabelText {
    if (value === undefined) return undefined;
    if (value === null) return 'null'; // as prom-client writes it
    return typeof value === 'string' ? value : labelValue(this.name, this.labelNames[index]!, value);
  }
}

/** A label's value as stored, or undefined where a label object left the label out. */
export type LabelText = string | undefined;

// The children's map key of a label left out: no label value can be this (values are text).
const LEFT_OUT = Symbol('label left out');

function childKey(text: LabelText): string {
  return text === undefined ? (LEFT_OUT as unknown as string) : text;
}

const AGGREGATORS: readonly Aggregator[] = ['sum', 'first', 'min', 'max', 'average', 'omit'];

function checkAggregator(metricName: string, aggregator: unknown): Aggregator {
  if (aggregator === undefined) return 'sum';
  if (!AGGREGATORS.includes(aggregator as Aggregator)) {
    throw new MetricConfigurationError(`${metricName}: unknown aggregator ${JSON.stringify(aggregator)}; use one of ${AGGREGATORS.join(', ')}`);
  }
  return aggregator as Aggregator;
}

// The metrics of this process with a collect() callback whose values go to the directory: run
// on a timer that does not keep the process alive, so other processes' scrapes see them.
const collecting = new Set<WeakRef<{ collect: (() => void | Promise<void>) | undefined; name: string }>>();
let collectTimer: NodeJS.Timeout | undefined;

function collectPeriodically(metric: { collect: (() => void | Promise<void>) | undefined; name: string }): void {
  collecting.add(new WeakRef(metric));
  if (collectTimer !== undefined) return;
  const interval = collectIntervalMs();
  if (interval === 0) return;
  collectTimer = setInterval(runCollectCallbacks, interval);
  collectTimer.unref();
}

function runCollectCallbacks(): void {
  for (const reference of collecting) {
    const metric = reference.deref();
    if (metric === undefined) {
      collecting.delete(reference);
      continue;
    }
    const report = (error: unknown) => reportOnce(`collect\u0000${metric.name}\u0000${String(error)}`, new Error(
      `the collect() callback of metric ${metric.name} failed: ${(error as Error)?.message ?? String(error)}`,
    ));
    try {
      Promise.resolve(metric.collect?.call(metric)).catch(report);
    } catch (error) {
      report(error);
    }
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
