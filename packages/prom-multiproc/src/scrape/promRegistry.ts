// prom-client's Registry, with the values of our metrics read from their stores: in
// multiprocess mode the merge of every process writing the directory, else this process's.
//
// What a registry serves:
// - every metric registered in it, in registration order: ours with merged values, anything
//   else (prom-client's own metrics, `{ name, get() }` objects) through its get();
// - the global `register` also serves, in multiprocess mode, the directory's families that no
//   metric registered in it claims (those only other processes, or Python, create), under the
//   names Python's collector gives them, followed by the scrape's own health gauges.

import { MetricConfigurationError } from '../common/errors.js';
import {
  OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, joinMetrics, openMetricsCounterName, renderMetric, withSharedLabels, type LabelSet, type MetricObject,
} from './exposition.js';
import { familyObject } from './familyObject.js';
import { participantOf } from './participant.js';
import { hasSummaries, withQuantileSamples } from './quantileSamples.js';
import { readStores, SnapshotCaches, type Snapshot } from './snapshot.js';
import { checkLateDirectory, configuredDirectory } from '../storage/defaultStore.js';
import type { SeriesStore } from '../storage/store.js';

export type ContentType = typeof PROMETHEUS_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE;

/** Anything a registry can serve: our metrics, prom-client's, or a `{ name, get() }` object. */
export interface Collectable {
  name: string;
  help?: string;
  type?: string;
  get(): Promise<MetricObject> | MetricObject;
  getForPromString?(): Promise<MetricObject> | MetricObject;
  reset?(): void;
}

function checkContentType(contentType: unknown, ErrorType: typeof Error): asserts contentType is ContentType {
  if (contentType !== PROMETHEUS_CONTENT_TYPE && contentType !== OPENMETRICS_CONTENT_TYPE) {
    throw new ErrorType(`Content type ${String(contentType)} is unsupported`);
  }
}

export class Registry {
  static get PROMETHEUS_CONTENT_TYPE(): typeof PROMETHEUS_CONTENT_TYPE {
    return PROMETHEUS_CONTENT_TYPE;
  }

  static get OPENMETRICS_CONTENT_TYPE(): typeof OPENMETRICS_CONTENT_TYPE {
    return OPENMETRICS_CONTENT_TYPE;
  }

  /** Combines registries of one content type into a new one holding all their metrics. */
  static merge(registers: Registry[]): Registry {
    const contentType = registers[0]!.contentType;
    if (registers.some((registry) => registry.contentType !== contentType)) {
      throw new Error('Registers can only be merged if they have the same content type');
    }
    const merged = new Registry(contentType);
    for (const registry of registers) for (const metric of registry.getMetricsAsArray()) merged.registerMetric(metric);
    return merged;
  }

  // prom-client's field names: code that reaches into them keeps working.
  protected _metrics: Record<string, Collectable> = {};
  protected _defaultLabels: LabelSet = {};
  private _contentType: ContentType;
  /** Whether this registry also serves the directory's families no registered metric claims. */
  protected servesWholeDirectory = false;
  private readonly caches = new SnapshotCaches(true);

  constructor(contentType: ContentType = PROMETHEUS_CONTENT_TYPE) {
    checkContentType(contentType, TypeError);
    this._contentType = contentType;
  }

  get contentType(): ContentType {
    return this._contentType;
  }

  setContentType(contentType: ContentType): void {
    checkContentType(contentType, Error);
    this._contentType = contentType;
  }

  registerMetric(metric: Collectable): void {
    const existing = this._metrics[metric.name];
    if (existing !== undefined && existing !== metric) {
      throw new Error(`A metric with the name ${metric.name} has already been registered.`);
    }
    // Our counter x and counter x_total (or a gauge x) are one family on disk, as in Python's files.
    const family = participantOf(metric)?.familyName();
    if (family !== undefined) {
      for (const other of Object.values(this._metrics)) {
        if (other === metric || participantOf(other)?.familyName() !== family) continue;
        throw new Error(
          `A metric with the name ${metric.name} has already been registered (as ${other.name}: both are stored as ${family} in the multiprocess files).`,
        );
      }
    }
    this._metrics[metric.name] = metric;
  }

  getMetricsAsArray(): Collectable[] {
    return Object.values(this._metrics);
  }

  getSingleMetric(name: string): Collectable | undefined {
    return this._metrics[name];
  }

  removeSingleMetric(name: string): void {
    delete this._metrics[name];
  }

  clear(): void {
    this._metrics = {};
    this._defaultLabels = {};
  }

  setDefaultLabels(labels: LabelSet): void {
    this._defaultLabels = labels;
  }

  resetMetrics(): void {
    for (const metric of Object.values(this._metrics)) metric.reset?.();
  }

  /** Closes the files kept open between scrapes (they are opened again at the next one). */
  close(): void {
    this.caches.close();
  }

  async metrics(): Promise<string> {
    const openMetrics = this.contentType === OPENMETRICS_CONTENT_TYPE;
    const objects = await this.collectObjects(true);
    const options = { openMetrics, defaultLabels: this._defaultLabels };
    return joinMetrics(objects.map((object) => renderMetric(object, options)), openMetrics);
  }

  async getMetricsAsJSON(): Promise<MetricObject[]> {
    const objects = await this.collectObjects(false);
    const defaults = this._defaultLabels;
    if (Object.keys(defaults).length === 0) return objects;
    for (const object of objects) {
      for (const value of object.values ?? []) {
        const labels: LabelSet = { ...value.labels };
        for (const name of Object.keys(defaults)) labels[name] = labels[name] || defaults[name]!;
        value.labels = labels;
      }
    }
    return objects;
  }

  async getSingleMetricAsString(name: string): Promise<string> {
    const metric = this._metrics[name];
    if (metric === undefined) throw new MetricConfigurationError(`no metric named ${name} is registered in this registry`);
    return this.getMetricsAsString(metric);
  }

  /** One metric's lines, as metrics() writes them. */
  async getMetricsAsString(metric: Collectable): Promise<string> {
    const [object] = await this.objectsOf([metric], false, true);
    return renderMetric(object!, { openMetrics: this.contentType === OPENMETRICS_CONTENT_TYPE, defaultLabels: this._defaultLabels });
  }

  /** Every metric object this registry serves, with its values read now. */
  protected async collectObjects(forText: boolean): Promise<MetricObject[]> {
    return this.objectsOf(this.getMetricsAsArray(), this.servesWholeDirectory, forText);
  }

  private async objectsOf(metrics: Collectable[], wholeDirectory: boolean, forText: boolean): Promise<MetricObject[]> {
    checkLateDirectory();
    const participants = metrics.map(participantOf);
    // Callbacks first (they set values), then one read of each store.
    await Promise.all(participants.map((participant) => participant?.runCollect()));
    const stores: SeriesStore[] = [];
    for (const participant of participants) if (participant !== undefined) stores.push(participant.store());
    const directory = wholeDirectory ? configuredDirectory() : undefined;
    const snapshot = await readStores(stores, this.caches, directory === undefined ? [] : [directory]);
    // Default labels go where prom-client's text puts them (only a histogram's differ).
    const shaped = forText && Object.keys(this._defaultLabels).length > 0 ? withSharedLabels : (object: MetricObject) => object;
    const objects = await Promise.all(metrics.map(async (metric, i) => {
      const participant = participants[i];
      if (participant !== undefined) return shaped(await participant.objectFrom(snapshot.byStore.get(participant.store())!));
      return forText && typeof metric.getForPromString === 'function' ? metric.getForPromString() : metric.get();
    }));
    if (directory !== undefined) objects.push(...(await unclaimedFamilies(snapshot, directory, metrics)).map(shaped));
    return objects;
  }
}

/** The directory's families that none of `metrics` stands for, as prom-client objects. */
async function unclaimedFamilies(snapshot: Snapshot, dir: string, metrics: Collectable[]): Promise<MetricObject[]> {
  const view = snapshot.byDirectory.get(dir);
  if (view === undefined) return [];
  const claimed = new Set<string>();
  for (const metric of metrics) {
    claimed.add(metric.name);
    if (metric.type === 'counter') claimed.add(openMetricsCounterName(metric.name));
  }
  const unclaimed = view.ordered.filter((family) => !claimed.has(family.name));
  const families = hasSummaries(unclaimed) && view.quantiles !== undefined ? withQuantileSamples(unclaimed, await view.quantiles()) : unclaimed;
  // prom-client's bounds, as this process's registered histograms write them: a scrape landing
  // on a process without the histogram must give the same series.
  return [...families, ...view.health].map((family) => familyObject(family, 'prom-client'));
}

export { familyObject, type BoundStyle } from './familyObject.js';

// One global registry per process, shared by an ESM and a CommonJS copy of the library.
const REGISTER_KEY = Symbol.for('prom-multiproc.register.v1');

class GlobalRegistry extends Registry {
  protected override servesWholeDirectory = true;
}

/** The registry metrics join when no `registers` are given (prom-client's `register`). */
export function globalRegister(): Registry {
  const holder = globalThis as { [REGISTER_KEY]?: Registry };
  return (holder[REGISTER_KEY] ??= new GlobalRegistry());
}

export const register: Registry = globalRegister();

/**
 * For the library's own metrics (HTTP, process): registers `metric` in the global registry
 * unless a metric of its name is there already. A second instrumentation of one name in a
 * process writes the same series (same store, same keys), so serving the first serves both.
 */
export function registerIfAbsent<M extends Collectable>(metric: M, registry: Registry = globalRegister()): M {
  if (registry.getSingleMetric(metric.name) === undefined) registry.registerMetric(metric);
  return metric;
}
