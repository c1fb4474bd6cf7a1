import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { ABORTED_STATUS, HttpMetrics, type HttpMetricsOptions, type RequestEnd } from './httpMetrics.js';

// Structural types of the Fastify parts used here (Fastify is not a dependency).
export interface FastifyRequestLike {
  method: string;
  /** The URL as the client sent it, query string included. */
  url: string;
  headers: IncomingHttpHeaders;
  raw: IncomingMessage;
  routeOptions?: { url?: string };
}
interface FastifyReplyLike {
  statusCode: number;
}
type Done = () => void;
interface FastifyLike {
  addHook(name: 'onRequest' | 'onResponse', hook: (request: FastifyRequestLike, reply: FastifyReplyLike, done: Done) => void): unknown;
  addHook(name: 'onRequestAbort', hook: (request: FastifyRequestLike, done: Done) => void): unknown;
}

export interface FastifyOptions extends HttpMetricsOptions<FastifyRequestLike> {
  metrics?: HttpMetrics<FastifyRequestLike>;
}

const requestEnd = Symbol('prom-multiproc.requestEnd');
type Tracked = FastifyRequestLike & { [requestEnd]?: RequestEnd };

function routeOf(request: FastifyRequestLike): string | undefined {
  // Fastify's not-found handler has no route url: 404s are unmatched, other answers normalizePath's.
  return request.routeOptions?.url || undefined;
}

/**
 * Fastify plugin: `await app.register(fastifyMetrics, options)`. Hooks every route of the
 * instance (it is not encapsulated), labels by the route's url pattern, and counts aborted
 * requests with status 499.
 */
export function fastifyMetrics(fastify: FastifyLike, options: FastifyOptions, done: (error?: Error) => void): void {
  const metrics = options.metrics ?? new HttpMetrics<FastifyRequestLike>(options);
  fastify.addHook('onRequest', (request, _reply, next) => {
    (request as Tracked)[requestEnd] = metrics.begin(request.method, request.url, request);
    next();
  });
  fastify.addHook('onResponse', (request, reply, next) => {
    (request as Tracked)[requestEnd]?.(routeOf(request), reply.statusCode);
    next();
  });
  fastify.addHook('onRequestAbort', (request, next) => {
    (request as Tracked)[requestEnd]?.(routeOf(request), ABORTED_STATUS);
    next();
  });
  done();
}
// Fastify's marker (what the fastify-plugin package sets) for a plugin whose hooks apply to
// the instance that registers it rather than to a child context.
(fastifyMetrics as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true;
