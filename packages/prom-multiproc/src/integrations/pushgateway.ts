// prom-client's Pushgateway client: pushes a registry's text exposition to a Prometheus
// Pushgateway (POST adds, PUT replaces, DELETE removes a group), with node:http or node:https
// as the URL says. The registry can be anything with metrics(), e.g. one serving the merge of
// a multiprocess directory, so one push carries every process's values.
//
// The same requests as prom-client's, with these differences on purpose:
// - the body is sent with a Content-Length (prom-client streams it chunked), and is read
//   from the registry before connecting, so a registry that fails opens no connection;
// - gzip is recognised in any letter case of the header's name and value, and DELETE drops
//   the header from a copy of the options, not from the caller's own headers object;
// - an error of the response stream rejects the promise instead of going unhandled.

import type * as http from 'node:http';
import type * as https from 'node:https';
import type * as Zlib from 'node:zlib';
import { urlToHttpOptions } from 'node:url';
import type * as Util from 'node:util';
import { globalRegister } from '../scrape/promRegistry.js';
import { builtin } from '../common/builtins.js';

// http, https and zlib are loaded by the first push, not by every import of the package.
let gzipAsync: ((text: string) => Promise<Buffer>) | undefined;

/** What a Pushgateway pushes: the registry's text exposition. */
export interface PushableRegistry<T extends string = string> {
  metrics(): Promise<string> | string;
  readonly contentType?: T;
}

/** prom-client's options: anything node:http(s).request takes, and whether a jobName is required. */
export type PushgatewayOptions = https.RequestOptions & {
  /** Whether pushAdd, push and delete throw without a jobName (default true). */
  requireJobName?: boolean;
};

export interface PushResult {
  resp: http.IncomingMessage;
  body: string;
}

// A Pushgateway given no registry pushes the global one (the merged directory, in multiprocess mode).
let defaultRegistry: (() => PushableRegistry) | undefined = globalRegister;

/**
 * Names the registry a Pushgateway built without one pushes (prom-client pushes its global
 * registry). Read when the Pushgateway is built; undefined unsets it.
 */
export function setPushgatewayDefaultRegistry(get: (() => PushableRegistry) | undefined): void {
  defaultRegistry = get;
}

export class Pushgateway<T extends string = string> {
  registry: PushableRegistry<T>;
  gatewayUrl: string;
  requireJobName: boolean;
  /** What every request is given, over what the URL gives (headers, timeout, agent, TLS options, ...). */
  requestOptions: https.RequestOptions;

  constructor(gatewayUrl: string, options?: PushgatewayOptions, registry?: PushableRegistry<T>) {
    if (registry === undefined || registry === null) {
      if (defaultRegistry === undefined) {
        throw new Error('Pushgateway needs a registry: pass one as its third argument');
      }
      registry = defaultRegistry() as PushableRegistry<T>;
    }
    this.registry = registry;
    this.gatewayUrl = gatewayUrl;
    // As prom-client: an explicit requireJobName: undefined turns the check off.
    const { requireJobName, ...requestOptions } = { requireJobName: true, ...options };
    this.requireJobName = requireJobName as boolean;
    this.requestOptions = requestOptions;
  }

  /** Adds the registry's metrics to the group, replacing those of the same names (POST). */
  pushAdd(params?: Pushgateway.Parameters): Promise<PushResult> {
    return this.send('POST', params);
  }

  /** Replaces every metric of the group with the registry's (PUT). */
  push(params?: Pushgateway.Parameters): Promise<PushResult> {
    return this.send('PUT', params);
  }

  /** Deletes the group's metrics (DELETE). */
  delete(params?: Pushgateway.Parameters): Promise<PushResult> {
    return this.send('DELETE', params);
  }

  private send(method: 'POST' | 'PUT' | 'DELETE', params: Pushgateway.Parameters | undefined): Promise<PushResult> {
    // Thrown, not rejected, as prom-client does.
    if (this.requireJobName && !params?.jobName) throw new Error('Missing jobName parameter');
    return this.request(method, params?.jobName, params?.groupings);
  }

  private async request(method: string, jobName: string | undefined, groupings: Pushgateway.Parameters['groupings']): Promise<PushResult> {
    const target = groupUrl(this.gatewayUrl, jobName, groupings);
    const options: https.RequestOptions = { ...urlToHttpOptions(target), ...this.requestOptions, method };
    let body: Buffer | undefined;
    if (method === 'DELETE') {
      options.headers = withoutContentEncoding(options.headers);
    } else {
      const text = await this.registry.metrics();
      gzipAsync ??= builtin<typeof Util>('node:util').promisify(builtin<typeof Zlib>('node:zlib').gzip);
      body = wantsGzip(options.headers) ? await gzipAsync(text) : Buffer.from(text, 'utf8');
    }
    const transport = target.protocol === 'https:' ? builtin<typeof https>('node:https') : builtin<typeof http>('node:http');
    return new Promise<PushResult>((resolve, reject) => {
      const req = transport.request(options, (resp) => {
        let text = '';
        resp.setEncoding('utf8');
        resp.on('data', (chunk: string) => {
          text += chunk;
        });
        resp.on('error', reject);
        resp.on('end', () => {
          const status = resp.statusCode ?? 0;
          if (status >= 400) reject(new Error(`push failed with status ${status}, ${text}`));
          else resolve({ resp, body: text });
        });
      });
      req.on('error', reject);
      // Only with a `timeout` option: node sets the socket's idle timeout from it.
      req.on('timeout', () => req.destroy(new Error('Pushgateway request timed out')));
      req.end(body);
    });
  }
}

export namespace Pushgateway {
  export interface Parameters {
    /** The job the metrics belong to: the first part of the group's key. */
    jobName: string;
    /** The rest of the group's key, as label names and values in the URL. */
    groupings?: { [label: string]: string | number };
  }
}

/**
 * `<gateway path>/metrics/job/<job>/<label>/<value>...`, each part URI-encoded. The gateway
 * URL's own path is kept (a path of only '/' is dropped), its query and fragment are not.
 */
function groupUrl(gatewayUrl: string, jobName: string | undefined, groupings: Pushgateway.Parameters['groupings']): URL {
  const target = new URL(gatewayUrl);
  const basePath = target.pathname !== '/' ? target.pathname : '';
  let groupPath = '';
  if (jobName) {
    groupPath = `/job/${encodeURIComponent(jobName)}`;
    for (const [label, value] of Object.entries(groupings ?? {})) {
      groupPath += `/${encodeURIComponent(label)}/${encodeURIComponent(value)}`;
    }
  }
  target.pathname = `${basePath}/metrics${groupPath}`;
  target.search = '';
  target.hash = '';
  return target;
}

type Headers = https.RequestOptions['headers'];

function isHeaderObject(headers: Headers): headers is http.OutgoingHttpHeaders {
  return typeof headers === 'object' && headers !== null && !Array.isArray(headers);
}

function wantsGzip(headers: Headers): boolean {
  if (!isHeaderObject(headers)) return false;
  return Object.entries(headers).some(([name, value]) => name.toLowerCase() === 'content-encoding' && String(value).trim().toLowerCase() === 'gzip');
}

/** A DELETE has no body, so no encoding to announce. */
function withoutContentEncoding(headers: Headers): Headers {
  if (!isHeaderObject(headers)) return headers;
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'content-encoding'));
}
