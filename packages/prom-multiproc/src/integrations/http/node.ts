import type { IncomingMessage, ServerResponse } from 'node:http';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions } from './httpMetrics.js';
import { routeMatcher } from './routes.js';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

export interface NodeHttpOptions extends HttpMetricsOptions {
  /** Route patterns (`/users/:id`) the label is chosen from; a path matching none is unmatched (or normalizePath's). */
  routes?: readonly string[];
  /** Or a function naming the route of a request (undefined: unmatched, or normalizePath's). Wins over `routes`. */
  route?: (req: IncomingMessage) => string | undefined;
  /** Where errors that escape the handler go (they become a 500); console.error by default. */
  onError?: (error: unknown, req: IncomingMessage) => void;
  /** Reuse the metrics of another adapter instead of creating them. */
  metrics?: HttpMetrics;
}

/** Answers a request whose handler failed: a 500 if nothing was sent yet, else the response is cut short. */
function failed(error: unknown, req: IncomingMessage, res: ServerResponse, onError: (error: unknown, req: IncomingMessage) => void): void {
  onError(error, req);
  if (!res.headersSent) {
    res.statusCode = 500;
    res.end();
  } else {
    res.destroy(error instanceof Error ? error : undefined);
  }
}

/**
 * Wraps a node:http request handler so that every request is counted once, whatever happens:
 * a normal response, a 404, an exception (answered with 500 if nothing was sent yet), or a
 * client that disconnects first (status 499).
 */
export function instrumentHandler(handler: NodeHandler, options: NodeHttpOptions = {}): NodeHandler {
  const metrics = options.metrics ?? new HttpMetrics(options);
  const match = options.routes !== undefined ? routeMatcher(options.routes) : undefined;
  const routeOf = options.route ?? ((req: IncomingMessage) => match?.(req.url ?? '/'));
  const onError = options.onError ?? ((error: unknown) => console.error('prom-multiproc: request handler failed:', error));

  return (req, res) => {
    const url = req.url;
    if (url === undefined || !metrics.isExcluded(url)) {
      const start = metrics.requestStarted();
      const route = routeOf(req);
      // One listener: a response emits 'close' once, after 'finish' if it was sent in full.
      let ended = false;
      res.on('close', () => {
        if (ended) return;
        ended = true;
        metrics.requestEnded(start, req.method, route, res.writableFinished ? res.statusCode : ABORTED_STATUS, undefined, url, req);
      });
    }
    try {
      const result = handler(req, res);
      if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => failed(error, req, res, onError));
      }
    } catch (error) {
      failed(error, req, res, onError);
    }
  };
}
