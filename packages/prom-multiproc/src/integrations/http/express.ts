import { tracingChannel } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { reportOnce } from '../../common/report.js';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions, type RequestEnd } from './httpMetrics.js';

// How the route label is found. Express 5's router (the `router` package, 2.3 and later)
// publishes every middleware and handler it runs on the `express.router.request` tracing
// channel, with the pattern that matched: a mount path for middleware and mounted routers, the
// route's path for route handlers, the one path that matched when there were several. Express
// keeps none of the mount patterns on the request (req.baseUrl is the concrete path), so the
// full pattern is put together here, one router at a time: each router dispatch has its own
// `req.next`, and the mount whose layer started just before a new dispatch is its prefix. The
// layer that started last answered unless its router has moved on (req.next is restored when a
// router exits); that is read when the headers are written, before a handler's next() can move on.

/** The parts of an Express request read here (Express is not a dependency). */
interface ExpressRequest extends IncomingMessage {
  baseUrl?: string;
  originalUrl?: string;
  next?: unknown;
  route?: { path?: unknown; stack?: unknown[] };
}

/** What the router publishes when it starts a layer (see the router package's README). */
interface LayerContext {
  req?: ExpressRequest;
  layer?: { route?: unknown };
  route?: unknown;
  /** Set for router.param() callbacks. */
  param?: string;
  errorHandler?: boolean;
}

/** A route pattern (answered by a route handler), or the label of middleware or a catch-all route (not for 404s). */
interface Label {
  route?: string;
  fallback?: string;
}

const UNMATCHED: Label = {};

/** What one request's routing has shown so far. */
interface Routing {
  /** The full pattern each router dispatch is mounted at, by the dispatch's `req.next`. */
  prefixes: Map<unknown, string>;
  /** The full pattern of the last middleware started: the prefix of a dispatch it starts. */
  pendingPrefix: string;
  /** The layer that started last, in its dispatch: it answers if the router did not move on. */
  current: { dispatch: unknown; label: Label } | undefined;
  /** Where the error being handled came from, until a layer other than an error handler runs. */
  failedIn: Label | undefined;
  /** Whether the router published any layer of this request (router 2.3 and later do). */
  traced: boolean;
  /** The label when the response's headers were written. */
  answered: Label | undefined;
}

const routing = Symbol('prom-multiproc.expressRouting');
const layerLabel = Symbol('prom-multiproc.layerLabel');
type Tracked = ExpressRequest & { [routing]?: Routing };

export interface ExpressOptions<Req extends IncomingMessage = IncomingMessage> extends HttpMetricsOptions<Req> {
  metrics?: HttpMetrics<Req>;
}

/** A layer's pattern after its router's prefix; RegExp paths are labelled by their source. */
function joinPattern(prefix: string, pattern: unknown): string {
  const own = pattern instanceof RegExp ? String(pattern) : typeof pattern === 'string' ? pattern : '/';
  if (own === '/' || own === '') return prefix;
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return base + (own.startsWith('/') ? own : `/${own}`);
}

/** Middleware answers for any path under its mount: `/assets/*`, or `/*` at the root. */
function middlewareLabel(mount: string): string {
  return `${mount.replace(/\/+$/, '')}/*`;
}

/** Whether the layer belongs to a route (a handler, or a router.param callback of its path) rather than to middleware. */
function isRouteLayer(req: ExpressRequest, context: LayerContext): boolean {
  if (context.param !== undefined) return context.layer?.route !== undefined;
  const stack = req.route?.stack;
  return Array.isArray(stack) && stack.includes(context.layer);
}

// A route whose own path is only a wildcard (`*path`, `/{*path}`) is a catch-all: its 404s are
// "not found" for a request nothing else answered (NestJS registers one under its prefix).
const CATCH_ALL = /^\/?(?:\*\w*|\{\/?\*\w*\})\/?$/;

function routeLabel(pattern: string, ownPattern: unknown): Label {
  const route = pattern || '/';
  return typeof ownPattern === 'string' && CATCH_ALL.test(ownPattern) ? { fallback: route } : { route };
}

function onLayerStart(message: unknown): void {
  const context = message as LayerContext;
  const req = context.req as Tracked | undefined;
  const state = req?.[routing];
  if (req === undefined || state === undefined) return;
  state.traced = true;
  if (context.errorHandler === true) {
    // An error whose origin was never published (a malformed path, say) names no route.
    if (state.failedIn === undefined) state.current = undefined;
    return;
  }
  const dispatch = req.next;
  let prefix = state.prefixes.get(dispatch);
  if (prefix === undefined) {
    prefix = state.pendingPrefix;
    state.prefixes.set(dispatch, prefix);
  }
  const pattern = joinPattern(prefix, context.route);
  const routeHandler = isRouteLayer(req, context);
  const label = routeHandler ? routeLabel(pattern, context.route) : { fallback: middlewareLabel(pattern) };
  state.current = { dispatch, label };
  // A router used as a route handler sees the whole path again, so only middleware adds a prefix.
  state.pendingPrefix = routeHandler ? prefix : pattern;
  state.failedIn = undefined;
  (context as Record<symbol, unknown>)[layerLabel] = label;
}

function onLayerError(message: unknown): void {
  const context = message as LayerContext & { [layerLabel]?: Label };
  const state = (context.req as Tracked | undefined)?.[routing];
  if (state !== undefined && state.failedIn === undefined) state.failedIn = context[layerLabel];
}

// Kept referenced: a channel nobody holds could be collected with its subscribers (older Node).
let layerChannel: ReturnType<typeof tracingChannel> | undefined;

/** Subscribes once per process; requests this middleware does not track are ignored at once. */
function followRouterLayers(): void {
  if (layerChannel !== undefined) return;
  layerChannel = tracingChannel('express.router.request');
  layerChannel.start.subscribe(onLayerStart);
  layerChannel.error.subscribe(onLayerError);
}

/** The label as routing stands now: the failed layer, else the layer that started last unless its router moved on. */
function currentLabel(req: ExpressRequest, state: Routing): Label {
  if (!state.traced) return legacyLabel(req);
  if (state.failedIn !== undefined) return state.failedIn;
  const current = state.current;
  return current !== undefined && req.next === current.dispatch ? current.label : UNMATCHED;
}

/**
 * Without the tracing channel (Express 4, router before 2.3): the matched route's path after
 * req.baseUrl, which is right for mount paths without parameters only.
 */
function legacyLabel(req: ExpressRequest): Label {
  const path = req.route?.path;
  if (path === undefined) return UNMATCHED;
  const baseUrl = req.baseUrl ?? '';
  if (baseUrl !== '') {
    reportOnce('express-legacy-router', new Error(
      'prom-multiproc: this Express publishes no route patterns (Express 5 with router 2.3 or later does), so routes of '
      + 'mounted routers are labelled after req.baseUrl: a mount path with parameters (app.use("/t/:id", router)) gives one series per value',
    ));
  }
  return { route: `${baseUrl}${typeof path === 'string' ? path : String(path)}` || '/' };
}

/** Calls `listener` once, just before the response's headers are written (as on-headers does). */
function beforeHeaders(res: ServerResponse, listener: () => void): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    res.writeHead = writeHead;
    listener();
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

function track(req: Tracked, res: ServerResponse, end: RequestEnd): void {
  // Another expressMetrics on the same request shares what the first one follows.
  const state: Routing = req[routing] ?? { prefixes: new Map(), pendingPrefix: '', current: undefined, failedIn: undefined, traced: false, answered: undefined };
  req[routing] = state;
  beforeHeaders(res, () => { state.answered ??= currentLabel(req, state); });
  const finish = (status: number): void => {
    const label = state.answered ?? currentLabel(req, state);
    end(label.route, status, label.fallback);
  };
  res.once('finish', () => finish(res.statusCode));
  res.once('close', () => finish(res.writableFinished ? res.statusCode : ABORTED_STATUS));
}

/**
 * Express middleware: `app.use(expressMetrics())` at the app level, before the routes. The
 * route label is the full pattern of the route that answered, with the mount paths of the
 * routers and sub-apps above it (`/tenants/:tenantId/orders/:orderId`); a response from
 * middleware (express.static, say) is labelled with its mount path and `/*`; requests nothing
 * answered and 404s from middleware are unmatched; errors are counted under the route they came from.
 */
export function expressMetrics<Req extends IncomingMessage = IncomingMessage>(options: ExpressOptions<Req> = {}) {
  const metrics = options.metrics ?? new HttpMetrics<Req>(options);
  followRouterLayers();
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const request = req as Tracked;
    const url = request.originalUrl ?? req.url;
    if (!metrics.isExcluded(url ?? '/')) track(request, res, metrics.begin(req.method, url, req as Req));
    next();
  };
}
