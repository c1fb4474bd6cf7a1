// prom-client's AggregatorRegistry, for cluster code written for it. prom-client's primary asks
// each live worker for its metrics over IPC and sums them; here the workers' values are in the
// shared directory already, so clusterMetrics() is the directory's merge (dead workers'
// counters included), and no worker needs to answer.

import { aggregators, type AggregatorName, type MetricJson } from './aggregators.js';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { PROMETHEUS_CONTENT_TYPE } from '../scrape/exposition.js';
import { Registry, type ContentType } from '../scrape/promRegistry.js';
import { MultiprocessRegistry } from '../scrape/registry.js';
import { configuredDirectory } from '../storage/defaultStore.js';

export class AggregatorRegistry extends Registry {
  /** The merge of the multiprocess directory, in this registry's content type. */
  async clusterMetrics(): Promise<string> {
    const dir = configuredDirectory();
    if (dir === undefined) {
      throw new MultiprocessDirectoryError(
        'AggregatorRegistry.clusterMetrics() reads the workers\' metrics from the multiprocess directory, and none is set. ' +
          'Set PROM_MULTIPROC_DIR (the same directory for the primary and every worker) before they start, or call configure({ dir }).',
        '',
      );
    }
    // prom-client's bucket bounds (`le="1"`), as its AggregatorRegistry wrote them.
    return new MultiprocessRegistry({ dir, contentType: this.contentType, bucketBounds: 'prom-client' }).metrics();
  }

  /** prom-client's pure aggregation of several registries' getMetricsAsJSON() output. */
  static aggregate(metricsArray: MetricJson[][], contentType: ContentType = PROMETHEUS_CONTENT_TYPE): Registry {
    const registry = new Registry(contentType);
    const byName = new Map<string, MetricJson[]>();
    for (const metrics of metricsArray) {
      for (const metric of metrics) byName.set(metric.name, [...(byName.get(metric.name) ?? []), metric]);
    }
    for (const [name, metrics] of byName) {
      const aggregatorName = metrics[0]!.aggregator as AggregatorName | undefined;
      const aggregate = aggregatorName === undefined ? undefined : aggregators[aggregatorName];
      if (aggregate === undefined) throw new Error(`'${String(aggregatorName)}' is not a defined aggregator.`);
      const aggregated = aggregate(metrics);
      if (aggregated !== undefined) registry.registerMetric({ ...aggregated, name, get: () => aggregated } as never);
    }
    return registry;
  }

  /** prom-client's registries for the IPC protocol; the directory holds every metric here, so they are not needed. */
  static setRegistries(registries: Registry | Registry[]): void {
    for (const registry of Array.isArray(registries) ? registries : [registries]) {
      if (typeof (registry as { getMetricsAsJSON?: unknown })?.getMetricsAsJSON !== 'function') {
        throw new TypeError(`Expected Registry, got ${typeof registry}`);
      }
    }
  }
}
