// One scrape of a directory by a process that does nothing else (the CLI's `scrape`): the text
// a MultiprocessRegistry({ dir, maxKeptFiles: 0 }) of an otherwise empty process serves, with
// only the modules reading needs. The registry's module brings the writer side (the default
// store, quantile and exemplar files), which such a process never uses and would spend a good
// part of its short life loading.

import { collectDirectory, collectionHealth } from './collector.js';
import { OPENMETRICS_CONTENT_TYPE, joinMetrics, renderMetric } from './exposition.js';
import { familyObject } from './familyObject.js';
import type { MetricFamily } from './merge.js';
import { ScrapeCache } from './scrapeCache.js';

/** The exposition of `dir` in `contentType` (Prometheus text unless OpenMetrics), read once and kept nothing of. */
export async function scrapeOnce(dir: string, contentType: string): Promise<string> {
  const collection = await collectDirectory(dir, { cache: new ScrapeCache({ maxKeptFiles: 0 }) });
  const families = await withQuantiles(dir, collection.families);
  const openMetrics = contentType === OPENMETRICS_CONTENT_TYPE;
  const objects = [...families, ...collectionHealth(collection)].map((family) => familyObject(family));
  return joinMetrics(objects.map((object) => renderMetric(object, { openMetrics, defaultLabels: {} })), openMetrics);
}

/** The summaries' quantiles added, as the registry adds them; their modules loaded only for a directory that has summaries. */
async function withQuantiles(dir: string, families: MetricFamily[]): Promise<MetricFamily[]> {
  if (!families.some((family) => family.type === 'summary')) return families;
  const [{ withQuantileSamples }, { readDirectoryQuantiles }] = await Promise.all([import('./quantileSamples.js'), import('./sketchFileReader.js')]);
  return withQuantileSamples(families, (await readDirectoryQuantiles(dir)).series);
}
