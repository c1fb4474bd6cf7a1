// prom-client's collectDefaultMetrics(), on our process metrics: every process samples itself
// into its own store (files in multiprocess mode), so a scrape merges every worker's figures
// (see processMetrics.ts for the names and how each one merges).

import { MetricConfigurationError } from '../common/errors.js';
import { startProcessMetrics } from './processMetrics.js';
import type { Registry } from '../scrape/promRegistry.js';
import { reportOnce } from '../common/report.js';

export interface DefaultMetricsCollectorConfiguration {
  prefix?: string;
  gcDurationBuckets?: readonly number[];
  eventLoopMonitoringPrecision?: number;
  /** Not supported: a registry's setDefaultLabels() adds labels to every series it serves. */
  labels?: Record<string, string | number>;
  /** The registry the default metrics join; the global register by default. */
  register?: Registry;
}

// One sampler per process: a second one would add every CPU delta twice.
const STARTED_KEY = Symbol.for('prom-multiproc.default-metrics.v1');

function started(): { stop?: () => void } {
  const holder = globalThis as { [STARTED_KEY]?: { stop?: () => void } };
  return (holder[STARTED_KEY] ??= {});
}

/** Starts sampling this process's CPU, memory, event loop, GC and handles (prom-client's default metrics). */
export function collectDefaultMetrics(config: DefaultMetricsCollectorConfiguration = {}): void {
  if (config !== null && config !== undefined && typeof config !== 'object') {
    throw new TypeError('config must be null, undefined, or an object');
  }
  const options = config ?? {};
  const state = started();
  if (state.stop !== undefined) {
    throw new Error(`A metric with the name ${options.prefix ?? ''}process_cpu_user_seconds_total has already been registered.`);
  }
  if (options.labels !== undefined && Object.keys(options.labels).length > 0) {
    reportOnce('default-metrics-labels', new MetricConfigurationError(
      'collectDefaultMetrics({ labels }) is not supported by prom-multiproc; the default metrics are served without them. ' +
        'Use register.setDefaultLabels(labels) to add labels to every series a registry serves.',
    ));
  }
  state.stop = startProcessMetrics({
    prefix: options.prefix || undefined,
    gcDurationBuckets: options.gcDurationBuckets,
    eventLoopResolutionMs: options.eventLoopMonitoringPrecision,
    registry: options.register,
  });
}

/** prom-client's names of its default metric groups. */
collectDefaultMetrics.metricsList = [
  'processCpuTotal', 'processStartTime', 'osMemoryHeap', 'processOpenFileDescriptors', 'processMaxFileDescriptors', 'eventLoopLag',
  'processResources', 'processHandles', 'processRequests', 'heapSizeAndUsed', 'heapSpacesSizeAndUsed', 'version', 'gc',
] as const;
