// The process and runtime metrics of prom-client's collectDefaultMetrics, for every worker,
// written to the shared directory by a timer, so that the merge has them for all workers.
// A scrape can only read what the workers wrote: it cannot ask another process for its CPU
// time, so each worker samples itself.
//
// How each family merges (names as prom-client's, so dashboards keep working):
//   counters (summed over every worker that ever ran, so totals never go back):
//     process_cpu_{user,system}_seconds_total, process_cpu_seconds_total   (written as deltas)
//     nodejs_gc_duration_seconds{kind}                                      (histogram)
//   gauges, one series per live worker (mode liveall: a `pid` label, gone once marked dead):
//     process_cpu_seconds_per_worker, process_resident_memory_bytes, process_virtual_memory_bytes,
//     process_heap_bytes, process_start_time_seconds, process_open_fds, process_max_fds,
//     nodejs_heap_size_{total,used}_bytes, nodejs_external_memory_bytes,
//     nodejs_heap_space_size_{total,used,available}_bytes{space}, nodejs_eventloop_lag_*_seconds,
//     nodejs_active_{handles,requests,resources}_total, nodejs_active_resources{type}
//   gauges summed over the live workers (livesum): process_resident_memory_bytes_all_workers
//   nodejs_version_info{version,major,minor,patch}: livemax, one series per Node version running
//
// A worker thread shares its process's CPU time, memory, descriptors and start time, so only
// the main thread writes those; every thread that starts this writes what is its own (heap,
// event loop, GC, handles), under its thread identity.

import { readFileSync, readdirSync } from 'node:fs';
import type * as PerfHooks from 'node:perf_hooks';
import type * as V8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { MetricConfigurationError } from '../common/errors.js';
import type { GaugeMode } from '../format/fileNames.js';
import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { Histogram } from '../metrics/histogram.js';
import { registerIfAbsent, type Registry } from '../scrape/promRegistry.js';
import { reportOnce } from '../common/report.js';
import { builtin } from '../common/builtins.js';
import { defaultStore } from '../storage/defaultStore.js';
import type { SeriesStore } from '../storage/store.js';

export interface ProcessMetricsOptions {
  /** How often to sample, in milliseconds. Default 5000: a scrape sees values at most this old. */
  intervalMs?: number;
  /** Where the values go; by default the process's store (the shared directory, or memory). */
  store?: SeriesStore;
  /** Prepended to every metric name. */
  prefix?: string;
  /** Bounds of nodejs_gc_duration_seconds, in seconds. */
  gcDurationBuckets?: readonly number[];
  /** Resolution of the event-loop delay monitor, in milliseconds. Default 10. */
  eventLoopResolutionMs?: number;
  /** The registry the metrics join (once per name); the global register by default. */
  registry?: Registry;
}

const DEFAULT_INTERVAL_MS = 5000;
const DEFAULT_GC_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 1, 2, 5];
// perf_hooks is loaded when the samplers start, not by every import of the package.
const perfHooks = (): typeof PerfHooks => builtin<typeof PerfHooks>('node:perf_hooks');

function gcKinds(): Map<number, string> {
  const { constants } = perfHooks();
  return new Map<number, string>([
    [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
    [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
    [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
  ]);
}

interface Sampler {
  sample(): void;
  stop(): void;
}

interface Factory {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string, mode: GaugeMode, labelNames?: readonly string[]): Gauge;
}

/** Stores with a sampler running: a second one would add every CPU delta twice. */
const running = new WeakSet<SeriesStore>();

/**
 * Starts sampling this worker's process and runtime metrics into its store: once now, then
 * every `intervalMs` from a timer that does not keep the process alive. Returns a function
 * that takes a last sample and stops (the values written stay until the worker is marked dead).
 */
export function startProcessMetrics(options: ProcessMetricsOptions = {}): () => void {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new MetricConfigurationError(`startProcessMetrics: intervalMs must be a positive number of milliseconds, got ${String(intervalMs)}`);
  }
  const store = options.store ?? defaultStore();
  if (running.has(store)) {
    throw new MetricConfigurationError('startProcessMetrics was already started for this store; stop the first one before starting another');
  }
  const prefix = options.prefix ?? '';
  const factory: Factory = {
    counter: (name, help) => registerIfAbsent(new Counter({ name: prefix + name, help, store, registers: [] }), options.registry),
    gauge: (name, help, mode, labelNames = []) => registerIfAbsent(new Gauge({ name: prefix + name, help, labelNames, multiprocessMode: mode, store, registers: [] }), options.registry),
  };
  const samplers: Sampler[] = [
    ...(isMainThread ? [processSampler(factory)] : []),
    runtimeSampler(factory),
    eventLoopSampler(factory, options.eventLoopResolutionMs ?? 10),
    gcSampler(registerIfAbsent(new Histogram({
      name: `${prefix}nodejs_gc_duration_seconds`,
      help: 'Garbage collection pauses by kind (major, minor, incremental, weakcb), in seconds, summed over every worker.',
      labelNames: ['kind'],
      buckets: options.gcDurationBuckets ?? DEFAULT_GC_BUCKETS,
      store,
      registers: [],
    }), options.registry)),
  ];
  const sampleAll = (): void => {
    for (const sampler of samplers) {
      try {
        sampler.sample();
      } catch (error) {
        // A metric that cannot be read (a /proc entry gone) must not stop the others, nor the worker.
        reportOnce(`process-metrics\u0000${(error as Error).message}`, error as Error);
      }
    }
  };
  running.add(store);
  sampleAll();
  const timer = setInterval(sampleAll, intervalMs);
  timer.unref();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    sampleAll();
    for (const sampler of samplers) sampler.stop();
    running.delete(store);
  };
}

/** What belongs to the whole process: written by the main thread only. */
function processSampler(make: Factory): Sampler {
  const user = make.counter('process_cpu_user_seconds_total', 'User CPU time of the workers, in seconds, summed over every worker that ran.');
  const system = make.counter('process_cpu_system_seconds_total', 'System CPU time of the workers, in seconds, summed over every worker that ran.');
  const total = make.counter('process_cpu_seconds_total', 'User and system CPU time of the workers, in seconds, summed over every worker that ran.');
  const perWorker = make.gauge('process_cpu_seconds_per_worker', 'User and system CPU time of each live worker since it started, in seconds.', 'liveall');
  const resident = make.gauge('process_resident_memory_bytes', 'Resident memory of each live worker, in bytes.', 'liveall');
  const residentAll = make.gauge('process_resident_memory_bytes_all_workers', 'Resident memory of all live workers together, in bytes.', 'livesum');
  const startTime = make.gauge('process_start_time_seconds', 'Start time of each live worker, in seconds since the Unix epoch.', 'liveall');
  const linux = readStatus() !== undefined;
  const virtual = linux ? make.gauge('process_virtual_memory_bytes', 'Virtual memory size of each live worker, in bytes.', 'liveall') : undefined;
  const heap = linux ? make.gauge('process_heap_bytes', 'Data segment (heap) size of each live worker, in bytes.', 'liveall') : undefined;
  const openFds = linux ? make.gauge('process_open_fds', 'Open file descriptors of each live worker.', 'liveall') : undefined;
  const maxFdsValue = linux ? readMaxFds() : undefined;
  const maxFds = maxFdsValue !== undefined ? make.gauge('process_max_fds', 'File descriptor limit of each live worker.', 'liveall') : undefined;

  startTime.set(Math.round(Date.now() - process.uptime() * 1000) / 1000);
  if (maxFdsValue !== undefined) maxFds?.set(maxFdsValue);
  let last = { user: 0, system: 0 };
  return {
    sample() {
      const now = process.cpuUsage();
      // Deltas in microseconds, added as seconds: the counter sums across workers and restarts.
      const userDelta = (now.user - last.user) / 1e6;
      const systemDelta = (now.system - last.system) / 1e6;
      last = now;
      user.inc(userDelta);
      system.inc(systemDelta);
      total.inc(userDelta + systemDelta);
      perWorker.set((now.user + now.system) / 1e6);
      const rss = process.memoryUsage.rss();
      resident.set(rss);
      residentAll.set(rss);
      if (linux) {
        const status = readStatus();
        if (status?.VmSize !== undefined) virtual?.set(status.VmSize);
        if (status?.VmData !== undefined) heap?.set(status.VmData);
        // readdirSync holds a descriptor of its own while it lists: not one of the worker's.
        openFds?.set(readdirSync('/proc/self/fd').length - 1);
      }
    },
    stop() {},
  };
}

/** What each thread (each V8 isolate and event loop) has of its own. */
function runtimeSampler(make: Factory): Sampler {
  const heapTotal = make.gauge('nodejs_heap_size_total_bytes', 'V8 heap size of each live worker, in bytes.', 'liveall');
  const heapUsed = make.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use by each live worker, in bytes.', 'liveall');
  const external = make.gauge('nodejs_external_memory_bytes', 'Memory outside the V8 heap held by JavaScript objects of each live worker, in bytes.', 'liveall');
  const spaceTotal = make.gauge('nodejs_heap_space_size_total_bytes', 'V8 heap space size of each live worker, in bytes.', 'liveall', ['space']);
  const spaceUsed = make.gauge('nodejs_heap_space_size_used_bytes', 'V8 heap space in use by each live worker, in bytes.', 'liveall', ['space']);
  const spaceAvailable = make.gauge('nodejs_heap_space_size_available_bytes', 'V8 heap space still available to each live worker, in bytes.', 'liveall', ['space']);
  const handles = make.gauge('nodejs_active_handles_total', 'Active libuv handles of each live worker.', 'liveall');
  const requests = make.gauge('nodejs_active_requests_total', 'Active libuv requests of each live worker.', 'liveall');
  const resourcesTotal = make.gauge('nodejs_active_resources_total', 'Resources keeping the event loop of each live worker alive.', 'liveall');
  const resources = make.gauge('nodejs_active_resources', 'Resources keeping the event loop of each live worker alive, by type.', 'liveall', ['type']);
  const version = make.gauge('nodejs_version_info', 'Node.js version of the live workers (1 for each version running).', 'livemax', ['version', 'major', 'minor', 'patch']);
  const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
  version.set({ version: process.version, major, minor, patch }, 1);
  const internals = process as unknown as { _getActiveHandles?(): unknown[]; _getActiveRequests?(): unknown[] };
  const seenTypes = new Set<string>();
  return {
    sample() {
      const { getHeapSpaceStatistics, getHeapStatistics } = builtin<typeof V8>('node:v8');
      const stats = getHeapStatistics();
      heapTotal.set(stats.total_heap_size);
      heapUsed.set(stats.used_heap_size);
      external.set(stats.external_memory);
      for (const space of getHeapSpaceStatistics()) {
        // prom-client's label values: 'new', 'old', 'code', ... (the V8 name without _space).
        const labels = { space: space.space_name.replace(/_space$/, '') };
        spaceTotal.set(labels, space.space_size);
        spaceUsed.set(labels, space.space_used_size);
        spaceAvailable.set(labels, space.space_available_size);
      }
      if (internals._getActiveHandles !== undefined) handles.set(internals._getActiveHandles().length);
      if (internals._getActiveRequests !== undefined) requests.set(internals._getActiveRequests().length);
      const active = process.getActiveResourcesInfo();
      resourcesTotal.set(active.length);
      const byType = new Map<string, number>();
      for (const type of active) byType.set(type, (byType.get(type) ?? 0) + 1);
      // A type seen before and gone now reads 0, not its last count.
      for (const type of seenTypes) if (!byType.has(type)) resources.set({ type }, 0);
      for (const [type, count] of byType) {
        seenTypes.add(type);
        resources.set({ type }, count);
      }
    },
    stop() {},
  };
}

function eventLoopSampler(make: Factory, resolutionMs: number): Sampler {
  const lag = make.gauge('nodejs_eventloop_lag_seconds', 'Delay of a setImmediate at the last sample, per live worker, in seconds.', 'liveall');
  const statistics = [
    ['min', 'Minimum'], ['max', 'Maximum'], ['mean', 'Mean'], ['stddev', 'Standard deviation of the'],
    ['p50', 'Median'], ['p90', '90th percentile of the'], ['p99', '99th percentile of the'],
  ].map(([key, what]) => [key!, make.gauge(`nodejs_eventloop_lag_${key}_seconds`, `${what} event-loop delay since the last sample, per live worker, in seconds.`, 'liveall')] as const);
  const monitor = perfHooks().monitorEventLoopDelay({ resolution: resolutionMs });
  monitor.enable();
  return {
    sample() {
      const start = process.hrtime.bigint();
      setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9));
      // Before its first measurement the monitor's figures are placeholders (NaN, 2^63).
      if (monitor.count === 0) return;
      const values: Record<string, number> = {
        min: monitor.min, max: monitor.max, mean: monitor.mean, stddev: monitor.stddev,
        p50: monitor.percentile(50), p90: monitor.percentile(90), p99: monitor.percentile(99),
      };
      for (const [key, gauge] of statistics) gauge.set(values[key]! / 1e9);
      monitor.reset();
    },
    stop() {
      monitor.disable();
    },
  };
}

function gcSampler(histogram: Histogram): Sampler {
  const kinds = gcKinds();
  const observer = new (perfHooks().PerformanceObserver)((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } }).detail;
      const kind = kinds.get(detail?.kind ?? -1) ?? 'unknown';
      histogram.observe({ kind }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    sample() {},
    stop() {
      observer.disconnect();
    },
  };
}

/** The byte sizes of /proc/self/status (VmRSS, VmSize, VmData, ...), or undefined off Linux. */
function readStatus(): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const sizes: Record<string, number> = {};
  for (const match of text.matchAll(/^(Vm\w+):\s+(\d+) kB$/gm)) sizes[match[1]!] = Number(match[2]) * 1024;
  return sizes;
}

function readMaxFds(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}
