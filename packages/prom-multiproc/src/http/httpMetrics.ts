import { Counter } from '../metrics/counter.js';
import { Gauge } from '../metrics/gauge.js';
import { Histogram } from '../metrics/histogram.js';
import type { SeriesStore } from '../storage/store.js';

/** Request latencies from 5 ms to 5 s. */
export const DEFAULT_HTTP_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The route label of requests that matched no route: 404s and scanners share one series. */
export const UNMATCHED_ROUTE = '<unmatched>';

/**
 * The status label of a request whose client went away before the response was complete
 * (nginx's "client closed request"), so aborted requests are counted and told apart.
 */
export const ABORTED_STATUS = 499;

// Methods outside this set (anything a client can type) share one label value, for the same
// reason unmatched routes do.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export interface HttpMetricsOptions {
  /** Metric names; defaults http_requests_total, http_request_duration_seconds, http_requests_in_flight. */
  names?: { requests?: string; duration?: string; inFlight?: string };
  /** Label names; defaults method, route, status. */
  labelNames?: { method?: string; route?: string; status?: string };
  buckets?: readonly number[];
  /** Also keep an in-flight gauge (multiprocess mode livesum). Default true. */
  inFlight?: boolean;
  /** The route label of unmatched requests; default `<unmatched>`. */
  unmatchedRoute?: string;
  /** Where the values go; the process's store by default. */
  store?: SeriesStore;
}

/** Records one request when called; later calls are ignored, so every request counts once. */
export type RequestEnd = (route: string | undefined, status: number) => void;

/** The request metrics every adapter (node:http, Express, Fastify) records. */
export class HttpMetrics {
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly inFlight: Gauge | undefined;
  private readonly unmatchedRoute: string;

  constructor(options: HttpMetricsOptions = {}) {
    const labels = { method: 'method', route: 'route', status: 'status', ...options.labelNames };
    const store = options.store;
    this.unmatchedRoute = options.unmatchedRoute ?? UNMATCHED_ROUTE;
    this.requests = new Counter({
      name: options.names?.requests ?? 'http_requests_total',
      help: 'HTTP requests, by method, route pattern and status code',
      labelNames: [labels.method, labels.route, labels.status],
      store,
    });
    this.duration = new Histogram({
      name: options.names?.duration ?? 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method and route pattern',
      labelNames: [labels.method, labels.route],
      buckets: options.buckets ?? DEFAULT_HTTP_BUCKETS,
      store,
    });
    this.inFlight =
      options.inFlight === false
        ? undefined
        : new Gauge({
            name: options.names?.inFlight ?? 'http_requests_in_flight',
            help: 'HTTP requests being served',
            multiprocessMode: 'livesum',
            store,
          });
  }

  /** Starts one request; call the returned function when it ends (again and again is fine). */
  begin(method: string | undefined): RequestEnd {
    const start = process.hrtime.bigint();
    const methodLabel = method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
    this.inFlight?.inc();
    let ended = false;
    return (route, status) => {
      if (ended) return;
      ended = true;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const routeLabel = route ?? this.unmatchedRoute;
      this.inFlight?.dec();
      this.requests.labels(methodLabel, routeLabel, String(status)).inc();
      this.duration.labels(methodLabel, routeLabel).observe(seconds);
    };
  }
}
