// What a registry or a metric's get() reads its values from, once per scrape: for a store of the
// shared directory, the directory's merge (every process's values); for a memory store (one
// process), only its exemplars, as the metrics read their own cells.

import { collectDirectory, collectionHealth } from './collector.js';
import type { MetricFamily } from './merge.js';
import { ScrapeCache } from './scrapeCache.js';
import { ExemplarsBySample } from './mergeExemplars.js';
import { readDirectoryExemplars } from './readExemplars.js';
import { exemplarSink } from '../storage/exemplarFile.js';
import type { SeriesQuantiles } from '../sketch/mergeSketches.js';
import { flushQuantileFiles } from '../storage/sketchFile.js';
import { readDirectoryQuantiles } from './sketchFileReader.js';
import { existingDefaultStore } from '../storage/defaultStore.js';
import type { SeriesStore } from '../storage/store.js';

/** The merged families of one directory, by the merge's family name (empty for a memory store). */
export interface StoreView {
  families: Map<string, MetricFamily>;
  /** The directory's families in merge order, and the scrape's own health gauges (directories only). */
  ordered: MetricFamily[];
  health: MetricFamily[];
  /** The directory, for a store of one. */
  dir?: string;
  /** The latest exemplar of each sample (every process's, for a directory): read when first asked for. */
  exemplars(): ExemplarsBySample;
  /** Every process's summary quantiles, by the entry key of each series' `_count` (directories only: read when first asked for). */
  quantiles?(): Promise<Map<string, SeriesQuantiles>>;
}

function lazily<T>(load: () => T): () => T {
  let loaded: { value: T } | undefined;
  return () => (loaded ??= { value: load() }).value;
}

/** Caches kept open between scrapes, one per directory (see ScrapeCache). */
export class SnapshotCaches {
  private readonly caches = new Map<string, ScrapeCache>();

  constructor(private readonly keepFiles: boolean) {}

  forDirectory(dir: string): ScrapeCache {
    let cache = this.caches.get(dir);
    if (cache === undefined) {
      cache = new ScrapeCache({ maxKeptFiles: this.keepFiles ? undefined : 0 });
      this.caches.set(dir, cache);
    }
    return cache;
  }

  close(): void {
    for (const cache of this.caches.values()) cache.close();
    this.caches.clear();
  }
}

function indexed(families: MetricFamily[]): Map<string, MetricFamily> {
  return new Map(families.map((family) => [family.name, family]));
}

export interface Snapshot {
  byStore: Map<SeriesStore, StoreView>;
  byDirectory: Map<string, StoreView>;
}

/**
 * Reads each distinct store once, and each directory once (whether a store writes it or it is
 * only named in `directories`): a directory after writing this process's pending values to it.
 */
export async function readStores(stores: Iterable<SeriesStore>, caches: SnapshotCaches, directories: Iterable<string> = []): Promise<Snapshot> {
  const byStore = new Map<SeriesStore, StoreView>();
  const writers = new Map<string, SeriesStore[]>();
  for (const dir of directories) writers.set(dir, []);
  for (const store of new Set(stores)) {
    const dir = store.dir;
    if (dir === undefined) {
      // One process's metrics read their own cells (see Metric's ownValues): nothing to merge.
      const exemplars = lazily(() => new ExemplarsBySample(exemplarSink(store).exemplars()));
      byStore.set(store, { families: new Map(), ordered: [], health: [], exemplars });
    } else {
      writers.set(dir, [...(writers.get(dir) ?? []), store]);
    }
  }
  const byDirectory = new Map<string, StoreView>();
  if (writers.size > 0) existingDefaultStore()?.flush();
  for (const [dir, sharing] of writers) {
    // Our own pending writes first, so a process that serves /metrics sees its latest values.
    for (const store of sharing) store.flush();
    const collection = await collectDirectory(dir, { cache: caches.forDirectory(dir) });
    const exemplars = lazily(() => {
      for (const store of sharing) exemplarSink(store).flush();
      return new ExemplarsBySample(readDirectoryExemplars(dir));
    });
    const quantiles = lazily(async () => {
      flushQuantileFiles(dir);
      return (await readDirectoryQuantiles(dir)).series;
    });
    const view: StoreView = { families: indexed(collection.families), ordered: collection.families, health: collectionHealth(collection), dir, exemplars, quantiles };
    byDirectory.set(dir, view);
    for (const store of sharing) byStore.set(store, view);
  }
  return { byStore, byDirectory };
}
