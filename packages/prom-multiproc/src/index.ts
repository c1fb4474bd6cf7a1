export { Counter, CounterChild } from './metrics/counter.js';
export { Gauge, GaugeChild, type GaugeConfiguration } from './metrics/gauge.js';
export { Histogram, HistogramChild, DEFAULT_BUCKETS, PYTHON_DEFAULT_BUCKETS, type HistogramConfiguration } from './metrics/histogram.js';
export { Summary, SummaryChild, type SummaryConfiguration } from './metrics/summary.js';
export type { Aggregator, LabelValue, LabelValues, MetricConfiguration } from './metrics/metric.js';
export { MODE_OF_AGGREGATOR } from './metrics/gauge.js';
export { Registry, register, type Collectable, type ContentType } from './scrape/promRegistry.js';
export { linearBuckets, exponentialBuckets } from './metrics/bucketGenerators.js';
export { validateMetricName } from './metrics/validateMetricName.js';
export { aggregators, AggregatorFactory } from './integrations/aggregators.js';
export { Pushgateway, type PushgatewayOptions } from './integrations/pushgateway.js';
export { collectDefaultMetrics, type DefaultMetricsCollectorConfiguration } from './integrations/defaultMetrics.js';
export { AggregatorRegistry } from './integrations/aggregatorRegistry.js';
export {
  PROMETHEUS_CONTENT_TYPE as prometheusContentType, OPENMETRICS_CONTENT_TYPE as openMetricsContentType,
  type MetricObject, type MetricValue, type Exemplar, type LabelSet,
} from './scrape/exposition.js';
export { MultiprocessRegistry, type MultiprocessRegistryOptions } from './scrape/registry.js';
export { collectDirectory, type CollectOptions, type Collection, type SkippedFile } from './scrape/collector.js';
export { ScrapeCache, type ScrapeCacheOptions } from './scrape/scrapeCache.js';
export { markProcessDead, cleanDirectory } from './lifecycle/processes.js';
export { configure, directoryFromEnvironment, type MultiprocessSettings } from './storage/defaultStore.js';
export { markThreadDead, watchWorkerThread, type ThreadDeathOptions } from './lifecycle/threads.js';
export { startProcessMetrics, type ProcessMetricsOptions } from './integrations/processMetrics.js';
export { FileStore, type FileStoreOptions } from './storage/fileStore.js';
export { MemoryStore } from './storage/memoryStore.js';
export type { SeriesStore, StoreOptions } from './storage/store.js';
export { MetricConfigurationError, MultiprocessDirectoryError } from './common/errors.js';
export { FileFormatError } from './format/format.js';
export { GAUGE_MODES, type GaugeMode, type MetricType } from './format/fileNames.js';
export type { MetricFamily, Sample } from './scrape/merge.js';
export { setProblemReporter, type ProblemReporter } from './common/report.js';
export {
  HttpMetrics, DEFAULT_HTTP_BUCKETS, DEFAULT_EXCLUDED_ROUTES, UNMATCHED_ROUTE, ABORTED_STATUS, normalizeIds,
  type HttpMetricsOptions, type RequestEnd, type ExtraLabel, type NormalizePath,
} from './integrations/http/httpMetrics.js';
export { instrumentHandler, type NodeHttpOptions, type NodeHandler } from './integrations/http/node.js';
export { expressMetrics, type ExpressOptions } from './integrations/http/express.js';
export { fastifyMetrics, type FastifyOptions, type FastifyRequestLike } from './integrations/http/fastify.js';
export { koaMetrics, type KoaOptions, type KoaContextLike } from './integrations/http/koa.js';
export { honoMetrics, type HonoOptions, type HonoContextLike } from './integrations/http/hono.js';
export { metricsEndpoint, wantsOpenMetrics, type Exposition } from './integrations/http/metricsEndpoint.js';
export { routeMatcher } from './integrations/http/routes.js';
export { setupClusterMetrics, type ClusterMetricsOptions } from './integrations/cluster.js';
export type { ExporterOptions, RunningExporter } from './exporter/exporter.js';
export { watchPm2Exits, markExitedProcessesDead, type Pm2Api, type Pm2ExitWatch, type Pm2ExitWatchOptions, type Pm2ProcessEvent } from './integrations/pm2.js';
export { pidIsGone } from './lifecycle/compaction/pidIsGone.js';
export type { CompactOptions, CompactionResult, CompactionStep } from './lifecycle/compaction/compact.js';
export type { MarkDeadOptions } from './lifecycle/processes.js';

/**
 * Starts the standalone /metrics server (see exporter/exporter.ts). Its module is loaded on the
 * first call: the workers that import this package only to record values never load it.
 */
export async function startExporter(options: ExporterOptions): Promise<RunningExporter> {
  const exporter = await import('./exporter/exporter.js');
  return exporter.startExporter(options);
}

/**
 * Folds the files of dead processes into the directory's archive (see
 * lifecycle/compaction/compact.ts). Its module is loaded on the first call, as the exporter's.
 */
export async function compactDirectory(dir: string, options?: CompactOptions): Promise<CompactionResult> {
  const compaction = await import('./lifecycle/compaction/compact.js');
  return compaction.compactDirectory(dir, options);
}

// The module as prom-client's CommonJS consumers see it through `default` (TypeScript's and
// bundlers' interop read `default` from a module marked as ES), and `import client from`.
import { AggregatorRegistry } from './integrations/aggregatorRegistry.js';
import { aggregators } from './integrations/aggregators.js';
import { exponentialBuckets, linearBuckets } from './metrics/bucketGenerators.js';
import { collectDefaultMetrics } from './integrations/defaultMetrics.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './scrape/exposition.js';
import { Counter } from './metrics/counter.js';
import { Gauge } from './metrics/gauge.js';
import { Histogram } from './metrics/histogram.js';
import { Summary } from './metrics/summary.js';
import { Registry, register, type ContentType } from './scrape/promRegistry.js';
import { Pushgateway } from './integrations/pushgateway.js';
import { validateMetricName } from './metrics/validateMetricName.js';
import type { ExporterOptions, RunningExporter } from './exporter/exporter.js';
import type { CompactOptions, CompactionResult } from './lifecycle/compaction/compact.js';

/** The global registry's content type when this module was loaded (prom-client's `contentType`; the default export's follows it). */
export const contentType: ContentType = register.contentType;

const promClient = {
  register,
  Registry,
  get contentType(): ContentType {
    return register.contentType;
  },
  set contentType(value: ContentType) {
    register.setContentType(value);
  },
  prometheusContentType: PROMETHEUS_CONTENT_TYPE,
  openMetricsContentType: OPENMETRICS_CONTENT_TYPE,
  validateMetricName,
  Counter,
  Gauge,
  Histogram,
  Summary,
  Pushgateway,
  linearBuckets,
  exponentialBuckets,
  collectDefaultMetrics,
  aggregators,
  AggregatorRegistry,
};

export default promClient;
