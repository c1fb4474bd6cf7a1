import { Registry, type MetricObject, type MetricObjectWithValues, type MetricValue, type MetricValueWithName } from 'prom-client';
import { compactDirectory } from './compaction/compact.js';
import { collectDirectory, collectStore, collectionHealth, type Collection } from './collector.js';
import type { MetricFamily } from './merge.js';
import { reportOnce } from './report.js';
import { ScrapeCache } from './scrapeCache.js';
import { defaultStore, directoryFromEnvironment, existingDefaultStore } from './storage/defaultStore.js';
import type { SeriesStore } from './storage/store.js';

type ContentType = typeof Registry.PROMETHEUS_CONTENT_TYPE | typeof Registry.OPENMETRICS_CONTENT_TYPE;

export interface MultiprocessRegistryOptions {
  /** The directory to merge; by default PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) at scrape time. */
  dir?: string;
  /**
   * Without a directory, the store whose values to show (single-process mode); by default
   * this process's own.
   */
  store?: SeriesStore;
  /** prom-client registries to serve alongside, e.g. the one collectDefaultMetrics() fills. */
  include?: Registry[];
  contentType?: ContentType;
  /**
   * Fold the files of dead processes into the archive whenever a scrape finds more than
   * `files` metrics files (in the background, after the scrape). Dead means: the process id
   * no longer exists on this host (see compactDirectory), so leave this off when processes
   * in other containers or hosts write the directory. Off by default; never turn it on in a
   * directory that Python's collector scrapes (it takes no lock, and miscounts or fails
   * during a compaction).
   */
  autoCompact?: { files: number };
  /**
   * Files kept open between scrapes, with their layout, so the next scrape reads each with
   * one or two system calls and decodes only what changed (default 4096; 0 keeps none).
   * close() gives them back.
   */
  maxKeptFiles?: number;
  /** Memory for what is kept of the files between scrapes (default 64 MiB; see ScrapeCache). */
  maxKeptBytes?: number;
}

/**
 * The shape prom-client's Registry renders. Its type declarations say `type` is an enum,
 * but at run time it reads the strings ('counter', ...), which is what is given here.
 */
interface FamilyObject {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  values: MetricValueWithName<string>[];
  get(): Omit<FamilyObject, 'get'>;
}

/**
 * A prom-client Registry whose metrics are the merge of the multiprocess directory (or of
 * this process's own values in single-process mode), read anew on every scrape, plus anything
 * registered in it or in the registries it includes. Where a name is both in the merge and in
 * a local registry, the merge wins: it holds every process's values.
 */
export class MultiprocessRegistry extends Registry<ContentType> {
  private readonly options: MultiprocessRegistryOptions;
  private readonly cache: ScrapeCache;
  private merged: FamilyObject[] = [];
  private compaction: Promise<unknown> | undefined;
  /** What the last collection skipped (unreadable files), for callers that report it. */
  lastCollection: Collection | undefined;

  /** `cache`: what to keep between scrapes, when registries of one directory share it (metricsEndpoint's two formats). */
  constructor(options: MultiprocessRegistryOptions = {}, cache?: ScrapeCache) {
    super();
    if (options.contentType !== undefined) this.setContentType(options.contentType);
    this.options = options;
    this.cache = cache ?? new ScrapeCache({ maxKeptFiles: options.maxKeptFiles, maxKeptBytes: options.maxKeptBytes });
  }

  /** Closes the files kept open between scrapes. The registry still scrapes, opening files anew each time. */
  close(): void {
    this.cache.close();
  }

  /** Reads and merges now, and returns the families (the reference client's names and samples). */
  async collect(): Promise<Collection> {
    const dir = this.options.dir ?? directoryFromEnvironment();
    let collection: Collection;
    if (dir !== undefined) {
      // Our own pending writes first, so a process that serves /metrics sees its latest values.
      existingDefaultStore()?.flush();
      this.options.store?.flush();
      collection = await collectDirectory(dir, { cache: this.cache });
    } else {
      collection = collectStore(this.options.store ?? defaultStore(), this.cache.keys);
    }
    this.lastCollection = collection;
    if (dir !== undefined) this.compactIfCrowded(dir, collection.filesRead);
    const health = dir !== undefined ? collectionHealth(collection) : [];
    this.merged = [...collection.families, ...health].map(toPromClient);
    return collection;
  }

  private compactIfCrowded(dir: string, files: number): void {
    const threshold = this.options.autoCompact?.files;
    if (threshold === undefined || files <= threshold || this.compaction !== undefined) return;
    this.compaction = compactDirectory(dir)
      .catch((error: Error) => reportOnce(`auto-compact\u0000${dir}`, new Error(`automatic compaction of ${dir} failed: ${error.message}`)))
      .finally(() => {
        this.compaction = undefined;
      });
  }

  override async metrics(): Promise<string> {
    await this.collect();
    return super.metrics();
  }

  override async getMetricsAsJSON(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    await this.collect();
    return super.getMetricsAsJSON();
  }

  /**
   * Two repairs of prom-client's rendering: NaN is written "Nan", and OpenMetrics HELP is
   * written with `"` unescaped, which that grammar requires escaped; the HELP line is written
   * again for OpenMetrics.
   */
  // Not in prom-client's type declarations, but what its metrics() calls for each family.
  async getMetricsAsString(metric: MetricObject): Promise<string> {
    const base = (Registry.prototype as unknown as { getMetricsAsString(this: unknown, m: MetricObject): Promise<string> }).getMetricsAsString;
    // prom-client writes NaN as "Nan", which the OpenMetrics grammar (and strict parsers) reject.
    const text = (await base.call(this, metric)).replace(/ Nan$/gm, ' NaN');
    if (this.contentType !== Registry.OPENMETRICS_CONTENT_TYPE) return text;
    const end = text.indexOf('\n');
    const first = end === -1 ? text : text.slice(0, end);
    const name = /^# HELP (\S+) /.exec(first)?.[1];
    if (name === undefined) return text;
    const help = String(metric.help ?? '').replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
    return `# HELP ${name} ${help}${text.slice(first.length)}`;
  }

  override getMetricsAsArray(): MetricObject[] {
    const mergedNames = new Set(this.merged.map((family) => family.name));
    const local = [...super.getMetricsAsArray(), ...(this.options.include ?? []).flatMap((registry) => registry.getMetricsAsArray())];
    const kept = local.filter((metric) => {
      if (!mergedNames.has(metric.name)) return true;
      reportOnce(`shadowed\u0000${metric.name}`, new Error(
        `metric ${metric.name} is both in the multiprocess directory and in a local registry; the merged one is served`,
      ));
      return false;
    });
    return [...kept, ...(this.merged as unknown as MetricObject[])];
  }
}

function toPromClient(family: MetricFamily): FamilyObject {
  // prom-client names a counter family with its _total, and its OpenMetrics output moves it to the samples.
  const name = family.type === 'counter' ? `${family.name}_total` : family.name;
  const values: MetricValueWithName<string>[] = family.samples.map((sample) => {
    const value: MetricValueWithName<string> = { labels: sample.labels, value: sample.value };
    if (sample.name !== name) value.metricName = sample.name;
    return value;
  });
  // get() returns the object itself: prom-client renames a counter (drops _total) on the object
  // before rendering OpenMetrics, and reads the name back through get().
  const object: FamilyObject = { name, help: family.help, type: family.type, aggregator: 'sum', values, get: () => object };
  return object;
}
