import { createServer, type Server } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { metricsEndpoint } from './http/metricsEndpoint.js';

export interface ExporterOptions {
  /** The directory to merge (Node or Python workers' files). */
  dir: string;
  /** Default 9464; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: exposing metrics beyond the host is a choice to make explicitly. */
  host?: string;
}

export interface RunningExporter {
  server: Server;
  url: string;
  /** Stops accepting connections and resolves when the open ones are done. */
  close(): Promise<void>;
}

/**
 * A standalone HTTP server for the merged directory, for deployments where no worker should
 * serve /metrics: GET /metrics (text or OpenMetrics, by Accept) and GET /healthz (200 while
 * the directory can be listed).
 */
export async function startExporter(options: ExporterOptions): Promise<RunningExporter> {
  const endpoint = metricsEndpoint({ dir: options.dir });
  const server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (pathname === '/metrics') {
      void endpoint.handle(req, res);
    } else if (pathname === '/healthz') {
      fsp.readdir(options.dir).then(
        () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n'),
        (error: Error) => res.writeHead(503, { 'Content-Type': 'text/plain' }).end(`metrics directory unreadable: ${error.message}\n`),
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found; metrics are at /metrics\n');
    }
  });
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
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
