import type { IncomingMessage, ServerResponse } from 'node:http';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions } from './httpMetrics.js';

/** The parts of an Express request this middleware reads (Express is not a dependency). */
interface ExpressRequest extends IncomingMessage {
  baseUrl?: string;
  route?: { path?: unknown };
}

export interface ExpressOptions extends HttpMetricsOptions {
  metrics?: HttpMetrics;
}

/** The route pattern Express matched, with the mount path of its router; undefined if none. */
function expressRoute(req: ExpressRequest): string | undefined {
  const path = req.route?.path;
  if (path === undefined) return undefined;
  const pattern = typeof path === 'string' ? path : String(path);
  return `${req.baseUrl ?? ''}${pattern}` || '/';
}

/**
 * Express middleware: `app.use(expressMetrics())` before the routes. The route label is read
 * when the response ends, once Express has matched a route; requests no route handled
 * (404s) are unmatched; errors Express turns into 500s are counted with their route.
 */
export function expressMetrics(options: ExpressOptions = {}) {
  const metrics = options.metrics ?? new HttpMetrics(options);
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const request = req as ExpressRequest;
    const end = metrics.begin(req.method);
    res.once('finish', () => end(expressRoute(request), res.statusCode));
    res.once('close', () => end(expressRoute(request), res.writableFinished ? res.statusCode : ABORTED_STATUS));
    next();
  };
}
