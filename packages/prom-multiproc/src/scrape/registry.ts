import { collectDirectory, collectStore, collectionHealth, type Collection } from './collector.js';
import type { MetricObject } from './exposition.js';
import { familyObject, Registry, type BoundStyle, type Collectable, type ContentType } from './promRegistry.js';
import { reportOnce } from '../common/report.js';
import { hasSummaries, withQuantileSamples } from './quantileSamples.js';
import { flushQuantileFiles } from '../storage/sketchFile.js';
import { readDirectoryQuantiles } from './sketchFileReader.js';
import { ScrapeCache } from './scrapeCache.js';
import { defaultStore, directoryFromEnvironment, existingDefaultStore } from '../storage/defaultStore.js';
import type { SeriesStore } from '../storage/store.js';

export interface MultiprocessRegistryOptions {
  /** The directory to merge; by default PROM_MULTIPROC_DIR (then PROMETHEUS_MULTIPROC_DIR) at scrape time. */
  dir?: string;
  /**
   * Without a directory, the store whose values to show (single-process mode); by default
   * this process's own.
   */
  store?: SeriesStore;
  /** prom-client registries to serve alongside, e.g. the one collectDefaultMetrics() fills. */
  include?: { getMetricsAsArray(): unknown[] }[];
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
  /**
   * How bucket bounds are written: `python` (default) as Python's collector writes them
   * (`le="1.0"`), `prom-client` as prom-client does (`le="1"`), which is what the global
   * register and registered histograms write.
   */
  bucketBounds?: BoundStyle;
}

/**
 * A prom-client Registry whose metrics are the merge of the multiprocess directory (or of
 * this process's own values in single-process mode), read anew on every scrape, plus anything
 * registered in it or in the registries it includes. Where a name is both in the merge and in
 * a local registry, the merge wins: it holds every process's values.
 */
export class MultiprocessRegistry extends Registry {
  private readonly options: MultiprocessRegistryOptions;
  private readonly cache: ScrapeCache;
  private merged: MetricObject[] = [];
  private compaction: Promise<unknown> | undefined;
  /** What the last collection skipped (unreadable files), for callers that report it. */
  lastCollection: Collection | undefined;

  /** `cache`: what to keep between scrapes, when registries of one directory share it (metricsEndpoint's two formats). */
  constructor(options: MultiprocessRegistryOptions = {}, cache?: ScrapeCache) {
    super(options.contentType);
    this.options = options;
    this.cache = cache ?? new ScrapeCache({ maxKeptFiles: options.maxKeptFiles, maxKeptBytes: options.maxKeptBytes });
  }

  /** Closes the files kept open between scrapes. The registry still scrapes, opening files anew each time. */
  override close(): void {
    super.close();
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
    const families = dir !== undefined && hasSummaries(collection.families)
      ? withQuantileSamples(collection.families, await this.quantilesOf(dir))
      : collection.families;
    this.merged = [...families, ...health].map((family) => familyObject(family, this.options.bucketBounds));
    return collection;
  }

  /** Every process's summary quantiles in `dir` (this process's written first). */
  private async quantilesOf(dir: string) {
    flushQuantileFiles(dir);
    return (await readDirectoryQuantiles(dir)).series;
  }

  private compactIfCrowded(dir: string, files: number): void {
    const threshold = this.options.autoCompact?.files;
    if (threshold === undefined || files <= threshold || this.compaction !== undefined) return;
    // Loaded when first needed: a process that never compacts (a one-shot scrape) never loads it.
    this.compaction = import('../lifecycle/compaction/compact.js')
      .then(({ compactDirectory }) => compactDirectory(dir))
      .catch((error: Error) => reportOnce(`auto-compact\u0000${dir}`, new Error(`automatic compaction of ${dir} failed: ${error.message}`)))
      .finally(() => {
        this.compaction = undefined;
      });
  }

  protected override async collectObjects(forText: boolean): Promise<MetricObject[]> {
    await this.collect();
    return super.collectObjects(forText);
  }

  override getMetricsAsArray(): Collectable[] {
    const mergedNames = new Set(this.merged.map((family) => family.name));
    const local = [...super.getMetricsAsArray(), ...(this.options.include ?? []).flatMap((registry) => registry.getMetricsAsArray() as Collectable[])];
    const kept = local.filter((metric) => {
      if (!mergedNames.has(metric.name)) return true;
      reportOnce(`shadowed\u0000${metric.name}`, new Error(
        `metric ${metric.name} is both in the multiprocess directory and in a local registry; the merged one is served`,
      ));
      return false;
    });
    return [...kept, ...this.merged.map(asCollectable)];
  }
}

/** A merged family as something a registry serves; get() gives the family without a `get` of its own, as prom-client's. */
function asCollectable(object: MetricObject): Collectable {
  return { ...object, get: () => object };
}
