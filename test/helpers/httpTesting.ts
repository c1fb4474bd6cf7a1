// What the HTTP adapter tests share: a store in a temporary directory, servers on loopback
// ports that close after each test, real requests, and the counts a scrape of the store shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileStore, collectDirectory, type MetricFamily } from '../../packages/prom-multiproc/src/index.js';

const cleanups: (() => Promise<void> | void)[] = [];

/** Give to afterEach: closes what the test opened, newest first. */
export async function runCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

export function tempStore(): FileStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-http-'));
  const store = new FileStore({ dir, identity: 'test' });
  onCleanup(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

/** Listens on an ephemeral loopback port; the server closes after the test. */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return (server.address() as AddressInfo).port;
}

/** The port of a listening Fastify (or any) app's server. */
export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

export async function send(port: number, pathname: string, init: RequestInit = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`, init);
  await response.arrayBuffer();
  return response.status;
}

export async function fetchText(port: number, pathname: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  return response.text();
}

/** A client that gives up before the (slow) response comes. */
export function abort(port: number, pathname: string): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: pathname });
    req.on('error', () => resolve());
    req.end();
    setTimeout(() => { req.destroy(); resolve(); }, 50);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Counted {
  /** `METHOD route status` (and extra label values, space-separated, when asked) to count. */
  requests: Map<string, number>;
  families: MetricFamily[];
}

/** The request counter as `method route status [extra…]` keys, read back from the store's files. */
export async function counted(store: FileStore, extraLabels: readonly string[] = []): Promise<Counted> {
  store.flush();
  const { families } = await collectDirectory(store.dir);
  const requests = new Map<string, number>();
  for (const sample of families.find((family) => family.name === 'http_requests')?.samples ?? []) {
    const { method, route, status } = sample.labels;
    const key = [method, route, status, ...extraLabels.map((name) => sample.labels[name])].join(' ');
    requests.set(key, sample.value);
  }
  return { requests, families };
}

/** The value of the in-flight gauge in an exposition. */
export function inFlightIn(exposition: string): number | undefined {
  const match = /^http_requests_in_flight (\S+)$/m.exec(exposition);
  return match === null ? undefined : Number(match[1]);
}
