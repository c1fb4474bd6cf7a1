export { Counter, CounterChild } from './metrics/counter.js';
export { Gauge, GaugeChild, type GaugeConfiguration } from './metrics/gauge.js';
export { Histogram, HistogramChild, DEFAULT_BUCKETS, type HistogramConfiguration } from './metrics/histogram.js';
export { Summary, SummaryChild, type SummaryConfiguration } from './metrics/summary.js';
export type { LabelValue, LabelValues, MetricConfiguration } from './metrics/metric.js';
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
