import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions } from './httpMetrics.js';

/** A route Hono matched: a handler's, or a middleware's (`app.use`: method ALL, path ending in `*`). */
interface MatchedRoute {
  method: string;
  path: string;
}

/** The parts of a Hono context read here (Hono is not a dependency). */
export interface HonoContextLike {
  req: {
    method: string;
    /** The path, without the query string. */
    path: string;
    raw: Request;
    /** The index, in matchedRoutes, of the handler running now, or that ran last. */
    routeIndex?: number;
    /** Deprecated in Hono 4 for the hono/route helper, which needs Hono itself; still there. */
    matchedRoutes?: MatchedRoute[];
  };
  res: Response;
}

export interface HonoOptions extends HttpMetricsOptions<HonoContextLike> {
  metrics?: HttpMetrics<HonoContextLike>;
}

interface Label {
  route?: string;
  fallback?: string;
}

function isMiddleware(route: MatchedRoute): boolean {
  return route.method === 'ALL' && route.path.endsWith('*');
}

/** The route of the handler that ran last, if one ran after this middleware. */
function labelOf(c: HonoContextLike, ownIndex: number | undefined): Label {
  const index = c.req.routeIndex;
  if (index === undefined || index === ownIndex) return {};
  const route = c.req.matchedRoutes?.[index];
  if (route === undefined) return {};
  return isMiddleware(route) ? { fallback: route.path } : { route: route.path };
}

/**
 * Hono middleware: `app.use(honoMetrics())` before the routes. The route label is the pattern
 * of the route that answered (sub-app mount paths included); a response from middleware
 * (serveStatic, say) is labelled with its path (`/static/*`); requests nothing answered (Hono's
 * 404) are unmatched; errors are counted under their route with the status onError gave. A
 * request ends when its Response is ready, before a streamed body is sent; one whose client left
 * first is counted with status 499. Label functions get the Hono context.
 */
export function honoMetrics(options: HonoOptions = {}) {
  const metrics = options.metrics ?? new HttpMetrics<HonoContextLike>(options);
  return async (c: HonoContextLike, next: () => Promise<void>): Promise<void> => {
    const end = metrics.begin(c.req.method, c.req.path, c);
    const ownIndex = c.req.routeIndex;
    try {
      await next();
    } catch (error) {
      end(labelOf(c, ownIndex).route, 500);
      throw error;
    }
    const label = labelOf(c, ownIndex);
    // A middleware that ran last with a 404 passed the request on and nothing answered: unmatched.
    end(label.route, c.req.raw.signal.aborted ? ABORTED_STATUS : c.res.status, label.fallback);
  };
}
