import { tracingChannel } from 'node:diagnostics_channel';
import type * as Http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { reportOnce } from '../../common/report.js';
import { builtin } from '../../common/builtins.js';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions } from './httpMetrics.js';

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

/**
 * A route pattern (answered by a route handler), or the label of middleware or a catch-all route
 * (not for 404s). Shared by every request of the same pattern, so never changed.
 */
interface Label {
  readonly route?: string;
  readonly fallback?: string;
}

const UNMATCHED: Label = {};

// No dispatch yet (a dispatch is the router's `req.next`, which may be anything).
const NO_DISPATCH = Symbol('no dispatch');

/** What one request's routing has shown so far. */
interface Routing {
  /** The first router dispatch (the app's) and the full pattern it is mounted at: most requests see no other. */
  firstDispatch: unknown;
  firstPrefix: string;
  /** The full pattern each further dispatch (a mounted router's) is mounted at, by its `req.next`. */
  prefixes: Map<unknown, string> | undefined;
  /** The full pattern of the last middleware started: the prefix of a dispatch it starts. */
  pendingPrefix: string;
  /** The layer that started last, in its dispatch: it answers if the router did not move on. */
  currentDispatch: unknown;
  currentContext: LayerContext | undefined;
  currentLabel: Label | undefined;
  /** Where the error being handled came from, until a layer other than an error handler runs. */
  failedIn: Label | undefined;
  /** Whether the router published any layer of this request (router 2.3 and later do). */
  traced: boolean;
  /** The label when the response's headers were written. */
  answered: Label | undefined;
  /** The first expressMetrics on the request: what its shared 'close' listener records. */
  metrics: HttpMetrics<IncomingMessage> | undefined;
  start: number;
  url: string | undefined;
  ended: boolean;
}

const routing = Symbol('prom-multiproc.expressRouting');
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

// Labels by pattern, made once: every request of an app goes through the same few layers. The
// patterns are the app's own (never request paths), so these stay small; the limit is a guard.
const MAX_CACHED_LABELS = 10_000;
const middlewareLabels = new Map<string, Label>();
const routeLabels = new Map<string, Label>();
const catchAllLabels = new Map<string, Label>();

function remember(cache: Map<string, Label>, key: string, label: Label): Label {
  if (cache.size < MAX_CACHED_LABELS) cache.set(key, label);
  return label;
}

/** Middleware answers for any path under its mount: `/assets/*`, or `/*` at the root. */
function middlewareLabel(mount: string): Label {
  return middlewareLabels.get(mount) ?? remember(middlewareLabels, mount, { fallback: `${mount.replace(/\/+$/, '')}/*` });
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
  if (typeof ownPattern === 'string' && CATCH_ALL.test(ownPattern)) {
    return catchAllLabels.get(route) ?? remember(catchAllLabels, route, { fallback: route });
  }
  return routeLabels.get(route) ?? remember(routeLabels, route, { route });
}

/** The full pattern the router dispatch `dispatch` is mounted at; a new dispatch is mounted where the last middleware was. */
function prefixOf(state: Routing, dispatch: unknown): string {
  if (state.firstDispatch === dispatch) return state.firstPrefix;
  if (state.firstDispatch === NO_DISPATCH) {
    state.firstDispatch = dispatch;
    state.firstPrefix = state.pendingPrefix;
    return state.firstPrefix;
  }
  state.prefixes ??= new Map();
  let prefix = state.prefixes.get(dispatch);
  if (prefix === undefined) {
    prefix = state.pendingPrefix;
    state.prefixes.set(dispatch, prefix);
  }
  return prefix;
}

/**
 * What a layer published last time, kept on the side so that the next request through the same
 * layer under the same prefix and pattern (nearly every one) skips the joining, the route-stack
 * search, the catch-all test and the label lookups.
 */
interface LayerMemo {
  prefix: string;
  ownPattern: unknown;
  label: Label;
  /** The prefix a dispatch this layer starts is mounted at. */
  nextPrefix: string;
}

const layerMemos = new WeakMap<object, LayerMemo>();

function layerMemo(req: ExpressRequest, context: LayerContext, prefix: string): LayerMemo {
  const layer = context.layer;
  // Param callbacks share their layer with its handler's publication: never remembered.
  const memo = layer !== undefined && context.param === undefined ? layerMemos.get(layer) : undefined;
  if (memo !== undefined && memo.prefix === prefix && memo.ownPattern === context.route) return memo;
  const pattern = joinPattern(prefix, context.route);
  const routeHandler = isRouteLayer(req, context);
  const fresh: LayerMemo = {
    prefix,
    ownPattern: context.route,
    label: routeHandler ? routeLabel(pattern, context.route) : middlewareLabel(pattern),
    // A router used as a route handler sees the whole path again, so only middleware adds a prefix.
    nextPrefix: routeHandler ? prefix : pattern,
  };
  if (layer !== undefined && context.param === undefined) layerMemos.set(layer, fresh);
  return fresh;
}

function onLayerStart(message: unknown): void {
  const context = message as LayerContext;
  const req = context.req as Tracked | undefined;
  const state = req?.[routing];
  if (req === undefined || state === undefined) return;
  state.traced = true;
  if (context.errorHandler === true) {
    // An error whose origin was never published (a malformed path, say) names no route.
    if (state.failedIn === undefined) state.currentLabel = undefined;
    return;
  }
  const dispatch = req.next;
  const memo = layerMemo(req, context, prefixOf(state, dispatch));
  state.currentDispatch = dispatch;
  state.currentContext = context;
  state.currentLabel = memo.label;
  state.pendingPrefix = memo.nextPrefix;
  state.failedIn = undefined;
}

function onLayerError(message: unknown): void {
  const context = message as LayerContext;
  const state = (context.req as Tracked | undefined)?.[routing];
  if (state === undefined || state.failedIn !== undefined) return;
  // Nearly always the layer that started last; else (a layer failing after it called next()) its memo.
  state.failedIn = context === state.currentContext ? state.currentLabel : (context.layer === undefined ? undefined : layerMemos.get(context.layer)?.label);
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
  const label = state.currentLabel;
  return label !== undefined && req.next === state.currentDispatch ? label : UNMATCHED;
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

function newRouting(): Routing {
  return {
    firstDispatch: NO_DISPATCH, firstPrefix: '', prefixes: undefined, pendingPrefix: '',
    currentDispatch: undefined, currentContext: undefined, currentLabel: undefined, failedIn: undefined, traced: false, answered: undefined,
    metrics: undefined, start: 0, url: undefined, ended: false,
  };
}

/** Takes the label as it stands when the response's headers are written, before a handler's next() can move on. */
function answer(req: Tracked): void {
  const state = req[routing];
  if (state !== undefined) state.answered ??= currentLabel(req, state);
}

// The writeHead almost every response inherits, and the prototype it is on (node:http's). Taken
// when the first middleware is made: node:http is not loaded by every import of the package.
type WriteHead = (this: ServerResponse, ...args: unknown[]) => ServerResponse;
let nodeWriteHead: WriteHead | undefined;
let nodeResponsePrototype: object | undefined;

// Express gives each response its app's prototype, which inherits Express's own response
// prototype. writeHead is wrapped there once, for every response of every app, rather than on
// each response: a property added to an Express response (whose prototype was swapped) costs
// far more than on a plain object, and this runs on every request.
const answersFirst = Symbol('prom-multiproc.answersFirst');
const hookedPrototypes = new WeakSet<object>();

/** The prototype just above node:http's in the response's chain (Express's response object), or undefined. */
function expressResponsePrototype(res: ServerResponse): object | undefined {
  let prototype = Object.getPrototypeOf(res) as object | null;
  while (prototype !== null) {
    const parent = Object.getPrototypeOf(prototype) as object | null;
    if (parent === nodeResponsePrototype) return prototype;
    prototype = parent;
  }
  return undefined;
}

function hookPrototype(prototype: object): void {
  hookedPrototypes.add(prototype);
  const holder = prototype as { writeHead: WriteHead };
  const inherited = holder.writeHead;
  const writeHead = function (this: ServerResponse<Tracked>): ServerResponse {
    const req = this.req as Tracked | undefined;
    if (req !== undefined) answer(req);
    // `arguments` passes them on as they came, with no array made.
    return inherited.apply(this, arguments as unknown as unknown[]);
  };
  (writeHead as unknown as Record<symbol, boolean>)[answersFirst] = true;
  holder.writeHead = writeHead;
}

function writeHeadAfterAnswer(this: ServerResponse<Tracked>): ServerResponse {
  answer(this.req);
  return nodeWriteHead!.apply(this, arguments as unknown as unknown[]);
}

/** Calls answer() just before the response's headers are written (as on-headers does). */
function answerBeforeHeaders(req: Tracked, res: ServerResponse): void {
  if (res.req === req) {
    if ((res.writeHead as unknown as Record<symbol, unknown>)[answersFirst] === true) return;
    const prototype = res.writeHead === nodeWriteHead ? expressResponsePrototype(res) : undefined;
    if (prototype !== undefined && !hookedPrototypes.has(prototype)) {
      hookPrototype(prototype);
      return;
    }
    // Not an Express response: given one function shared by all such responses rather than a
    // closure of its own (a different function on each would slow every caller of writeHead).
    if (res.writeHead === nodeWriteHead) {
      res.writeHead = writeHeadAfterAnswer as ServerResponse['writeHead'];
      return;
    }
  }
  // Someone else's writeHead (another wrapper, say) is kept and called after.
  const writeHead = res.writeHead as WriteHead;
  res.writeHead = function (this: ServerResponse) {
    res.writeHead = writeHead as ServerResponse['writeHead'];
    answer(req);
    return writeHead.apply(this, arguments as unknown as unknown[]);
  } as ServerResponse['writeHead'];
}

function recordEnd(metrics: HttpMetrics<IncomingMessage>, start: number, url: string | undefined, req: Tracked, res: ServerResponse, state: Routing): void {
  const label = state.answered ?? currentLabel(req, state);
  const status = res.writableFinished ? res.statusCode : ABORTED_STATUS;
  metrics.requestEnded(start, req.method, label.route, status, label.fallback, url, req);
}

/**
 * The 'close' listener of the first expressMetrics on a request: one function for every
 * response, its request's start and metrics kept in the routing state, so no closure per request.
 */
function recordOnClose(this: ServerResponse): void {
  const req = this.req as Tracked;
  const state = req[routing];
  if (state === undefined || state.ended || state.metrics === undefined) return;
  state.ended = true;
  recordEnd(state.metrics, state.start, state.url, req, this, state);
}

function track(req: Tracked, res: ServerResponse, url: string | undefined, metrics: HttpMetrics<IncomingMessage>): void {
  // Another expressMetrics on the same request shares what the first one follows.
  const existing = req[routing];
  const state = existing ?? newRouting();
  answerBeforeHeaders(req, res);
  const start = metrics.requestStarted();
  // One listener: a response emits 'close' once, after 'finish' if it was sent in full.
  if (existing === undefined && res.req === req) {
    state.metrics = metrics;
    state.start = start;
    state.url = url;
    req[routing] = state;
    res.on('close', recordOnClose);
    return;
  }
  req[routing] = state;
  let ended = false;
  res.on('close', () => {
    if (ended) return;
    ended = true;
    recordEnd(metrics, start, url, req, res, state);
  });
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
  if (nodeWriteHead === undefined) {
    nodeResponsePrototype = builtin<typeof Http>('node:http').ServerResponse.prototype;
    nodeWriteHead = (nodeResponsePrototype as { writeHead: WriteHead }).writeHead;
  }
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const request = req as Tracked;
    const url = request.originalUrl ?? req.url;
    if (!metrics.isExcluded(url ?? '/')) track(request, res, url, metrics as HttpMetrics<IncomingMessage>);
    next();
  };
}
