import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { checkDirectorySafety } from '../directory/directorySafety.js';
import { authorizer, type BasicCredential } from './exporterAuth.js';
import { metricsEndpoint } from '../integrations/http/metricsEndpoint.js';
import { EXPORTER_LIMITS } from './exporterLimits.js';

export interface ExporterOptions {
  /** The directory to merge (Node or Python workers' files). */
  dir: string;
  /** Default 9464; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: exposing metrics beyond the host is a choice to make explicitly. */
  host?: string;
  /** Every request must carry `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Every request must carry the HTTP basic credentials of one of these users. */
  basicAuth?: readonly BasicCredential[];
  /** Scrapes merged at the same time; one more is answered 503 with Retry-After. Default 4. */
  maxConcurrentScrapes?: number;
}

export interface RunningExporter {
  server: Server;
  url: string;
  /** Stops accepting connections and resolves when the open ones are done. */
  close(): Promise<void>;
}

export { EXPORTER_LIMITS } from './exporterLimits.js';

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(text);
}

/**
 * A standalone HTTP server for the merged directory, for deployments where no worker should
 * serve /metrics: GET /metrics (text or OpenMetrics, by Accept) and GET /healthz (200 while
 * the directory can be listed). With credentials configured, every path requires them.
 */
export async function startExporter(options: ExporterOptions): Promise<RunningExporter> {
  const endpoint = metricsEndpoint({ dir: options.dir });
  const auth = authorizer({ bearerToken: options.bearerToken, basicAuth: options.basicAuth });
  const maxScrapes = options.maxConcurrentScrapes ?? EXPORTER_LIMITS.defaultConcurrentScrapes;
  if (!Number.isInteger(maxScrapes) || maxScrapes < 1) throw new RangeError(`maxConcurrentScrapes must be a positive integer, got ${maxScrapes}`);
  checkDirectorySafety(options.dir);
  let scrapesInFlight = 0;

  const server = createServer({ maxHeaderSize: EXPORTER_LIMITS.maxHeaderBytes }, (req, res) => {
    // A request body is never read; keeping the connection would parse it as the next request.
    if (hasBody(req)) res.shouldKeepAlive = false;
    if (auth !== undefined && !auth.check(req.headers.authorization)) {
      plain(res, 401, 'unauthorized\n', { 'WWW-Authenticate': auth.challenge });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
      return;
    }
    if (hasBody(req)) {
      plain(res, 413, 'a scrape has no request body\n');
      return;
    }
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname === '/metrics') {
      if (scrapesInFlight >= maxScrapes) {
        plain(res, 503, `${scrapesInFlight} scrapes in progress already; retry later\n`, { 'Retry-After': String(EXPORTER_LIMITS.retryAfterSeconds) });
        return;
      }
      scrapesInFlight++;
      void endpoint.handle(req, res).finally(() => scrapesInFlight--);
    } else if (pathname === '/healthz') {
      fsp.readdir(options.dir).then(
        () => plain(res, 200, 'ok\n'),
        (error: Error) => plain(res, 503, `metrics directory unreadable: ${error.message}\n`),
      );
    } else {
      plain(res, 404, 'not found; metrics are at /metrics\n');
    }
  });
  server.headersTimeout = EXPORTER_LIMITS.headersTimeoutMs;
  server.requestTimeout = EXPORTER_LIMITS.requestTimeoutMs;
  server.maxConnections = EXPORTER_LIMITS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9464, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          endpoint.close();
          if (error) reject(error);
          else resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
