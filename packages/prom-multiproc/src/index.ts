export { Counter, CounterChild } from './metrics/counter.js';
export { Gauge, GaugeChild, type GaugeConfiguration } from './metrics/gauge.js';
export { Histogram, HistogramChild, DEFAULT_BUCKETS, PYTHON_DEFAULT_BUCKETS, type HistogramConfiguration } from './metrics/histogram.js';
export { Summary, SummaryChild, type SummaryConfiguration } from './metrics/summary.js';
export type { Aggregator, LabelValue, LabelValues, MetricConfiguration } from './metrics/metric.js';
export { MODE_OF_AGGREGATOR } from './metrics/gauge.js';
export { Registry, register, type Collectable, type ContentType } from './promRegistry.js';
export { linearBuckets, exponentialBuckets } from './bucketGenerators.js';
export { validateMetricName } from './validateMetricName.js';
export { aggregators, AggregatorFactory } from './aggregators.js';
export { Pushgateway, type PushgatewayOptions } from './pushgateway.js';
export { collectDefaultMetrics, type DefaultMetricsCollectorConfiguration } from './defaultMetrics.js';
export { AggregatorRegistry } from './aggregatorRegistry.js';
export {
  PROMETHEUS_CONTENT_TYPE as prometheusContentType, OPENMETRICS_CONTENT_TYPE as openMetricsContentType,
  type MetricObject, type MetricValue, type Exemplar, type LabelSet,
} from './exposition.js';
export { MultiprocessRegistry, type MultiprocessRegistryOptions } from './registry.js';
export { collectDirectory, type CollectOptions, type Collection, type SkippedFile } from './collector.js';
export { ScrapeCache, type ScrapeCacheOptions } from './scrapeCache.js';
export { markProcessDead, cleanDirectory } from './processes.js';
export { configure, directoryFromEnvironment, type MultiprocessSettings } from './storage/defaultStore.js';
export { markThreadDead, watchWorkerThread, type ThreadDeathOptions } from './threads.js';
export { startProcessMetrics, type ProcessMetricsOptions } from './processMetrics.js';
export { FileStore, type FileStoreOptions } from './storage/fileStore.js';
export { MemoryStore } from './storage/memoryStore.js';
export type { SeriesStore, StoreOptions } from './storage/store.js';
export { MetricConfigurationError, MultiprocessDirectoryError } from './errors.js';
export { FileFormatError } from './format.js';
export { GAUGE_MODES, type GaugeMode, type MetricType } from './fileNames.js';
export type { MetricFamily, Sample } from './merge.js';
export { setProblemReporter, type ProblemReporter } from './report.js';
export {
  HttpMetrics, DEFAULT_HTTP_BUCKETS, DEFAULT_EXCLUDED_ROUTES, UNMATCHED_ROUTE, ABORTED_STATUS, normalizeIds,
  type HttpMetricsOptions, type RequestEnd, type ExtraLabel, type NormalizePath,
} from './http/httpMetrics.js';
export { instrumentHandler, type NodeHttpOptions, type NodeHandler } from './http/node.js';
export { expressMetrics, type ExpressOptions } from './http/express.js';
export { fastifyMetrics, type FastifyOptions, type FastifyRequestLike } from './http/fastify.js';
export { koaMetrics, type KoaOptions, type KoaContextLike } from './http/koa.js';
export { honoMetrics, type HonoOptions, type HonoContextLike } from './http/hono.js';
export { metricsEndpoint, wantsOpenMetrics, type Exposition } from './http/metricsEndpoint.js';
export { routeMatcher } from './http/routes.js';
export { setupClusterMetrics, type ClusterMetricsOptions } from './cluster.js';
export { startExporter, type ExporterOptions, type RunningExporter } from './exporter.js';
export { watchPm2Exits, markExitedProcessesDead, type Pm2Api, type Pm2ExitWatch, type Pm2ExitWatchOptions, type Pm2ProcessEvent } from './pm2.js';
export { compactDirectory, pidIsGone, type CompactOptions, type CompactionResult, type CompactionStep } from './compaction/compact.js';
export type { MarkDeadOptions } from './processes.js';

// The module as prom-client's CommonJS consumers see it through `default` (TypeScript's and
// bundlers' interop read `default` from a module marked as ES), and `import client from`.
import { AggregatorRegistry } from './aggregatorRegistry.js';
import { aggregators } from './aggregators.js';
import { exponentialBuckets, linearBuckets } from './bucketGenerators.js';
import { collectDefaultMetrics } from './defaultMetrics.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition.js';
import { Counter } from './metrics/counter.js';
import { Gauge } from './metrics/gauge.js';
import { Histogram } from './metrics/histogram.js';
import { Summary } from './metrics/summary.js';
import { Registry, register, type ContentType } from './promRegistry.js';
import { Pushgateway } from './pushgateway.js';
import { validateMetricName } from './validateMetricName.js';

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
