import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from '../../scrape/promRegistry.js';
import { MultiprocessRegistry, type MultiprocessRegistryOptions } from '../../scrape/registry.js';
import { ScrapeCache } from '../../scrape/scrapeCache.js';

export interface Exposition {
  contentType: string;
  body: string;
}

/** Prometheus asks for OpenMetrics in its Accept header when it wants it. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

/**
 * The merged directory as a `/metrics` response, in the format the Accept header asks for.
 * `handle` fits node:http and Express; `render` fits anything else (Fastify:
 * `const { contentType, body } = await endpoint.render(request.headers.accept); reply.type(contentType).send(body)`).
 */
export function metricsEndpoint(options: Omit<MultiprocessRegistryOptions, 'contentType'> = {}) {
  // One cache for both formats: the files they read are the same.
  const cache = new ScrapeCache({ maxKeptFiles: options.maxKeptFiles, maxKeptBytes: options.maxKeptBytes });
  const text = new MultiprocessRegistry(options, cache);
  const openMetrics = new MultiprocessRegistry({ ...options, contentType: Registry.OPENMETRICS_CONTENT_TYPE }, cache);

  async function render(accept: string | undefined): Promise<Exposition> {
    const registry = wantsOpenMetrics(accept) ? openMetrics : text;
    return { contentType: registry.contentType, body: await registry.metrics() };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const { contentType, body } = await render(req.headers.accept);
      res.statusCode = 200;
      res.setHeader('Content-Type', contentType);
      res.end(body);
    } catch (error) {
      res.statusCode = 500;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(`metrics could not be collected: ${(error as Error).message}\n`);
    }
  }

  /** Closes the files kept open between scrapes. */
  function close(): void {
    cache.close();
  }

  return { render, handle, close };
}
