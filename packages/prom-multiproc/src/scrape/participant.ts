import type { MetricObject } from './exposition.js';
import type { StoreView } from './snapshot.js';
import type { SeriesStore } from '../storage/store.js';

/**
 * What a registry asks of our metrics. Found by a global symbol, so that an ESM and a CommonJS
 * copy of the library loaded into one process read each other's metrics.
 */
export interface ScrapeParticipant {
  /** The name its series are stored under (a counter's without `_total`): one metric per name in a registry. */
  familyName(): string;
  /** The store holding the metric's values (binding the metric to it if it was waiting). */
  store(): SeriesStore;
  /** Runs the metric's collect() callback, if it has one. */
  runCollect(): Promise<void>;
  /** prom-client's object of the metric, with the merged values of `view`. */
  objectFrom(view: StoreView): MetricObject | Promise<MetricObject>;
}

export const SCRAPE_PARTICIPANT = Symbol.for('prom-multiproc.scrape-participant.v1');

export function participantOf(metric: unknown): ScrapeParticipant | undefined {
  if (metric === null || typeof metric !== 'object') return undefined;
  return (metric as { [SCRAPE_PARTICIPANT]?: ScrapeParticipant })[SCRAPE_PARTICIPANT];
}

/** What a metric needs of a registry it registers in (ours, or prom-client's own). */
export interface RegistryLike {
  readonly contentType: string;
  registerMetric(metric: any): void; // eslint-disable-line @typescript-eslint/no-explicit-any
  getSingleMetric?(name: string): unknown;
}
