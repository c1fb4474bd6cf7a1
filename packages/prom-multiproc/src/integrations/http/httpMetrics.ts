import type { IncomingMessage } from 'node:http';
import { Counter, type CounterChild } from '../../metrics/counter.js';
import { Gauge, type GaugeChild } from '../../metrics/gauge.js';
import { Histogram, type HistogramChild } from '../../metrics/histogram.js';
import type { LabelValue } from '../../metrics/metric.js';
import { registerIfAbsent } from '../../scrape/promRegistry.js';
import { reportOnce } from '../../common/report.js';
import type { SeriesStore } from '../../storage/store.js';
import { routeMatcher } from './routes.js';

/** Request latencies from 5 ms to 5 s. */
export const DEFAULT_HTTP_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The route label of requests that matched no route: 404s and scanners share one series. */
export const UNMATCHED_ROUTE = '<unmatched>';

/**
 * The status label of a request whose client went away before the response was complete
 * (nginx's "client closed request"), so aborted requests are counted and told apart.
 */
export const ABORTED_STATUS = 499;

/** Paths neither counted nor in flight unless `excludeRoutes` says otherwise: the scrape itself. */
export const DEFAULT_EXCLUDED_ROUTES: readonly (string | RegExp)[] = ['/metrics'];

// Methods outside this set (anything a client can type) share one label value, for the same
// reason unmatched routes do.
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

// Declared as methods so that TypeScript checks them bivariantly: a function typed with the
// framework's full request type (express.Request, FastifyRequest) fits an adapter's narrower one.
interface RequestCallbacks<Req> {
  extraLabel(request: Req): LabelValue | undefined;
  normalizePath(path: string, request: Req): string | undefined;
}
/** The value of an extra label, read from the request when it ends; undefined gives "". */
export type ExtraLabel<Req = IncomingMessage> = RequestCallbacks<Req>['extraLabel'];
/** The route label of a request no route pattern names, from its path (no query string); undefined: the default. */
export type NormalizePath<Req = IncomingMessage> = RequestCallbacks<Req>['normalizePath'];

export interface HttpMetricsOptions<Req = IncomingMessage> {
  /** Metric names; defaults http_requests_total, http_request_duration_seconds, http_requests_in_flight. */
  names?: { requests?: string; duration?: string; inFlight?: string };
  /** Label names; defaults method, route, status. */
  labelNames?: { method?: string; route?: string; status?: string };
  buckets?: readonly number[];
  /** Also keep an in-flight gauge (multiprocess mode livesum). Default true. */
  inFlight?: boolean;
  /** The route label of unmatched requests; default `<unmatched>`. */
  unmatchedRoute?: string;
  /**
   * Request paths that are neither counted nor in flight: exact paths, route patterns
   * (`/internal/:name`, `/debug/*`) or regular expressions tested against the path without its
   * query string. Default `['/metrics']`; a list given here replaces it.
   */
  excludeRoutes?: readonly (string | RegExp)[];
  /**
   * The route label of a request no route pattern names, from its path: for apps without route
   * patterns (`normalizeIds` turns numbers and UUIDs into `:id`). Not asked about 404s, which stay
   * unmatched so that scanners add no series.
   */
  normalizePath?: NormalizePath<Req>;
  /**
   * More labels on the request counter and the duration histogram, each read from the request
   * when it ends. Their names are sorted, so every process has the same label names.
   */
  extraLabels?: Readonly<Record<string, ExtraLabel<Req>>>;
  /** Status label `2xx`, `4xx`… instead of the code (aborted requests, 499, are `4xx`). */
  groupStatusCodes?: boolean;
  /** Where the values go; the process's store by default. */
  store?: SeriesStore;
}

/**
 * Records one request when called; later calls are ignored, so every request counts once.
 * `route` is the route pattern that names it; `fallbackRoute`, the label to use if neither it nor
 * `normalizePath` names it (an Express middleware's mount path, say) instead of `<unmatched>`,
 * except for a 404: a catch-all's "not found" is a request nothing answered.
 */
export type RequestEnd = (route: string | undefined, status: number, fallbackRoute?: string) => void;

const ignoreEnd: RequestEnd = () => {};

/** The request path without its query string. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** Whether a request URL (query string allowed) is excluded; asked on every request. */
function exclusionTest(routes: readonly (string | RegExp)[]): (url: string) => boolean {
  const patterns = routes.filter((route): route is string => typeof route === 'string');
  const expressions = routes.filter((route): route is RegExp => route instanceof RegExp);
  const matchPattern = routeMatcher(patterns);
  if (expressions.length === 0) return (url) => matchPattern(url) !== undefined;
  return (url) => {
    if (matchPattern(url) !== undefined) return true;
    const path = pathOf(url);
    for (const expression of expressions) {
      expression.lastIndex = 0; // a /g or /y expression would otherwise resume where it last matched
      if (expression.test(path)) return true;
    }
    return false;
  };
}

/** The series of one method and route: looked up in the metrics' label maps once, then kept. */
interface RouteSeries {
  duration: HistogramChild;
  requestsByStatus: Map<number, CounterChild>;
}

/**
 * Calls `onRemoved` after the metric's reset() or remove() (clear() calls reset()) took series
 * away: the children kept for them count for nothing any more.
 */
function afterRemovals(metric: Counter | Histogram | Gauge, onRemoved: () => void): void {
  const { reset, remove } = metric;
  metric.reset = function (this: typeof metric) {
    reset.call(this);
    onRemoved();
  };
  metric.remove = function (this: typeof metric, ...values: unknown[]) {
    (remove as (...args: unknown[]) => void).apply(this, values);
    onRemoved();
  } as typeof metric.remove;
}

function groupedStatus(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/** Calls a user's label function; one that throws costs its label, never the request or the process. */
function safely<T>(what: string, call: () => T): T | undefined {
  try {
    return call();
  } catch (error) {
    reportOnce(`http-label:${what}`, new Error(`prom-multiproc: the HTTP metrics' ${what} threw (its label is left empty): ${(error as Error)?.message ?? String(error)}`));
    return undefined;
  }
}

/** The request metrics every adapter (node:http, Express, Fastify) records. */
export class HttpMetrics<Req = IncomingMessage> {
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly inFlight: Gauge | undefined;
  private readonly unmatchedRoute: string;
  private readonly excluded: (path: string) => boolean;
  private readonly normalizePath: NormalizePath<Req> | undefined;
  private readonly extraLabels: readonly (readonly [string, ExtraLabel<Req>])[];
  private readonly statusLabel: (status: number) => string;
  // The children recorded to, by method and route label, then status: taken on first use (the
  // metrics choose their store then), dropped when a reset() or remove() takes series away.
  private readonly series = new Map<string, Map<string, RouteSeries>>();
  private inFlightChild: GaugeChild | undefined;

  constructor(options: HttpMetricsOptions<Req> = {}) {
    const labels = { method: 'method', route: 'route', status: 'status', ...options.labelNames };
    const store = options.store;
    this.unmatchedRoute = options.unmatchedRoute ?? UNMATCHED_ROUTE;
    this.excluded = exclusionTest(options.excludeRoutes ?? DEFAULT_EXCLUDED_ROUTES);
    this.normalizePath = options.normalizePath;
    this.extraLabels = Object.entries(options.extraLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.statusLabel = options.groupStatusCodes === true ? groupedStatus : String;
    const extraNames = this.extraLabels.map(([name]) => name);
    this.requests = new Counter({
      name: options.names?.requests ?? 'http_requests_total',
      help: 'HTTP requests, by method, route pattern and status code',
      labelNames: [labels.method, labels.route, labels.status, ...extraNames],
      store,
      registers: [],
    });
    registerIfAbsent(this.requests);
    this.duration = new Histogram({
      name: options.names?.duration ?? 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method and route pattern',
      labelNames: [labels.method, labels.route, ...extraNames],
      buckets: options.buckets ?? DEFAULT_HTTP_BUCKETS,
      store,
      registers: [],
    });
    registerIfAbsent(this.duration);
    this.inFlight =
      options.inFlight === false
        ? undefined
        : new Gauge({
            name: options.names?.inFlight ?? 'http_requests_in_flight',
            help: 'HTTP requests being served',
            multiprocessMode: 'livesum',
            store,
            registers: [],
          });
    if (this.inFlight !== undefined) registerIfAbsent(this.inFlight);
    const forgetSeries = (): void => {
      this.series.clear();
      this.inFlightChild = undefined;
    };
    afterRemovals(this.requests, forgetSeries);
    afterRemovals(this.duration, forgetSeries);
    if (this.inFlight !== undefined) afterRemovals(this.inFlight, forgetSeries);
  }

  /** Whether a request for this URL (query string allowed) is left out of every metric. */
  isExcluded(url: string): boolean {
    return this.excluded(url);
  }

  /**
   * Starts one request; call the returned function when it ends (again and again is fine).
   * With its URL, an excluded request is not counted; with the request, `normalizePath` and
   * `extraLabels` can read it.
   */
  begin(method: string | undefined, url?: string, request?: Req): RequestEnd {
    if (url !== undefined && this.excluded(url)) return ignoreEnd;
    const start = this.requestStarted();
    let ended = false;
    return (route, status, fallbackRoute) => {
      if (ended) return;
      ended = true;
      this.requestEnded(start, method, route, status, fallbackRoute, url, request);
    };
  }

  /**
   * begin() in two halves, for the adapters that keep a request's state themselves (one closure
   * per request instead of two): counts the request in flight and returns its start time.
   */
  requestStarted(): number {
    if (this.inFlight !== undefined) (this.inFlightChild ??= this.inFlight.labels()).inc();
    return performance.now();
  }

  /** Records a request requestStarted() began; call it once. See RequestEnd for the arguments. */
  requestEnded(start: number, method: string | undefined, route: string | undefined, status: number, fallbackRoute: string | undefined, url: string | undefined, request: Req | undefined): void {
    const seconds = (performance.now() - start) / 1e3;
    if (this.inFlight !== undefined) (this.inFlightChild ??= this.inFlight.labels()).dec();
    const methodLabel = method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
    const fallback = status === 404 ? undefined : fallbackRoute;
    const routeLabel = route ?? this.normalizedRoute(url, request, status) ?? fallback ?? this.unmatchedRoute;
    if (this.extraLabels.length > 0) {
      const extra = this.extraLabelValues(request);
      this.requests.labels(methodLabel, routeLabel, this.statusLabel(status), ...extra).inc();
      this.duration.labels(methodLabel, routeLabel, ...extra).observe(seconds);
      return;
    }
    const series = this.seriesOf(methodLabel, routeLabel);
    let requests = series.requestsByStatus.get(status);
    if (requests === undefined) {
      requests = this.requests.labels(methodLabel, routeLabel, this.statusLabel(status));
      series.requestsByStatus.set(status, requests);
    }
    requests.inc();
    series.duration.observe(seconds);
  }

  private seriesOf(methodLabel: string, routeLabel: string): RouteSeries {
    let byRoute = this.series.get(methodLabel);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.series.set(methodLabel, byRoute);
    }
    let series = byRoute.get(routeLabel);
    if (series === undefined) {
      series = { duration: this.duration.labels(methodLabel, routeLabel), requestsByStatus: new Map() };
      byRoute.set(routeLabel, series);
    }
    return series;
  }

  private normalizedRoute(url: string | undefined, request: Req | undefined, status: number): string | undefined {
    const normalize = this.normalizePath;
    if (normalize === undefined || url === undefined || status === 404) return undefined;
    return safely('normalizePath', () => normalize(pathOf(url), request as Req));
  }

  private extraLabelValues(request: Req | undefined): string[] {
    return this.extraLabels.map(([name, read]) => String(safely(`extra label ${name}`, () => read(request as Req)) ?? ''));
  }
}

const ID_SEGMENT = /^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})$/i;

/**
 * A `normalizePath` for apps without route patterns: path segments that are numbers, UUIDs or
 * long hexadecimal strings (ids, hashes) become `:id`. Other segments are kept as they are.
 */
export function normalizeIds(path: string): string {
  return path
    .split('/')
    .map((segment) => (ID_SEGMENT.test(segment) ? ':id' : segment))
    .join('/');
}
