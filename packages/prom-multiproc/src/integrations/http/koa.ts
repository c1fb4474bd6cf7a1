import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions } from './httpMetrics.js';

/** The parts of a Koa context read here (Koa is not a dependency). */
export interface KoaContextLike {
  method: string;
  /** The URL as the client sent it, query string included. */
  originalUrl: string;
  headers: IncomingHttpHeaders;
  req: IncomingMessage;
  res: ServerResponse;
  /** What @koa/router sets: the full pattern of the route that matched, router prefixes included. */
  _matchedRoute?: string | RegExp;
}

export interface KoaOptions extends HttpMetricsOptions<KoaContextLike> {
  metrics?: HttpMetrics<KoaContextLike>;
}

function routeOf(ctx: KoaContextLike): string | undefined {
  const route = ctx._matchedRoute;
  return route === undefined ? undefined : String(route);
}

/**
 * Koa middleware: `app.use(koaMetrics())` before the routers. The route label is the pattern
 * @koa/router matched (prefixes of nested routers included); requests no route matched (404s)
 * are unmatched. The status is the one written to the client, after Koa's error handling, and
 * 499 when the client left first. Label functions get the Koa context.
 */
export function koaMetrics(options: KoaOptions = {}) {
  const metrics = options.metrics ?? new HttpMetrics<KoaContextLike>(options);
  return (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<unknown> => {
    const end = metrics.begin(ctx.method, ctx.originalUrl, ctx);
    const { res } = ctx;
    // One listener: a response emits 'close' once, after 'finish' if it was sent in full.
    res.on('close', () => end(routeOf(ctx), res.writableFinished ? res.statusCode : ABORTED_STATUS));
    return next();
  };
}
