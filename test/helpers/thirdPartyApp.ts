// What the third-party package test needs: an app installed from the npm registry whose
// `prom-client` (and `@prometheus-io/client`) is overridden to the packed library, its
// node:cluster apps started and stopped, requests on fresh connections, and scrapes read back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './fixtures.js';
import { run } from './packLibrary.js';

/** The client names a package may import; the override points every one at the library. */
export const CLIENT_NAMES = ['prom-client', '@prometheus-io/client'] as const;

/** The packages under test, pinned so a new release cannot change what a run means. */
export const THIRD_PARTY_DEPENDENCIES: Record<string, string> = {
  express: '^5.1.0',
  'express-prom-bundle': '8.0.0',
  fastify: '^5.0.0',
  // 14 imports @prometheus-io/client, 13 still imports prom-client.
  'fastify-metrics': '14.1.0',
  'fastify-metrics-13': 'npm:fastify-metrics@13.2.1',
};

const appSources = fileURLToPath(new URL('./thirdParty/', import.meta.url));

/**
 * Makes an app in `dir` with the third-party packages and the cluster apps, overrides the
 * client names to `tarball` in the package manager's own way, and installs it.
 * npm overrides peers it installs itself; pnpm overrides only dependencies, so there the app
 * depends on prom-client directly and the packages' peers resolve to that.
 */
export function installApp(dir: string, tarball: string, manager: 'npm' | 'pnpm'): void {
  mkdirSync(dir, { recursive: true });
  cpSync(appSources, dir, { recursive: true });
  const spec = `file:${tarball}`;
  const overrides = Object.fromEntries(CLIENT_NAMES.map((name) => [name, spec]));
  const manifest = manager === 'npm'
    ? { dependencies: THIRD_PARTY_DEPENDENCIES, overrides }
    : { dependencies: { ...THIRD_PARTY_DEPENDENCIES, 'prom-client': spec }, pnpm: { overrides } };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: `third-party-${manager}`, private: true, version: '1.0.0', ...manifest }, null, 2)}\n`);
  if (manager === 'npm') {
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'error'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    run(process.execPath, [path.join(repoRoot, 'tools', 'pnpm.mjs'), '--dir', dir, 'install', '--prefer-offline', '--reporter', 'silent'], {
      cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], shell: false,
    });
  }
}

/** The name in the package.json of the package `client` resolves to from `consumer`'s folder. */
export function resolvedPackageName(app: string, consumer: string, client: string): string {
  const from = consumer === '.' ? path.join(app, 'package.json') : createRequire(path.join(app, 'package.json')).resolve(`${consumer}/package.json`);
  const manifest = createRequire(from).resolve(`${client}/package.json`);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { name: string }).name;
}

export interface RunningCluster {
  /** The port the workers share. */
  port: number;
  /** Where the app serves its metrics: the primary's own port if it has one, else `port`. */
  metricsPort: number;
  stop(): void;
}

/** Starts `script` of the app (a node:cluster primary and its workers) and waits until all listen. */
export async function startCluster(app: string, script: string, env: NodeJS.ProcessEnv): Promise<RunningCluster> {
  // Its own process group, so stopping it reaches every worker however the primary ends.
  const primary: ChildProcess = spawn(process.execPath, [path.join(app, script)], {
    cwd: app, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const stop = () => {
    try {
      process.kill(-primary.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  let stderr = '';
  primary.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // Every worker prints the same crash: the first 4,000 characters say it.
  const output = () => stderr.slice(0, 4000);
  try {
    const ports = await new Promise<{ port: number; metricsPort?: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} did not listen in 60 s:\n${output()}`)), 60_000);
      const fail = (why: string) => {
        clearTimeout(timer);
        // Let the rest of a crashing worker's stack trace arrive.
        setTimeout(() => reject(new Error(`${script} ${why}:\n${output()}`)), 200);
      };
      primary.on('exit', (code, signal) => fail(`exited (${signal ?? code}) before listening`));
      createInterface({ input: primary.stdout! }).on('line', (line) => {
        const event = JSON.parse(line) as { port?: number; metricsPort?: number; exit?: number; code?: number; signal?: string };
        if (event.port !== undefined) {
          clearTimeout(timer);
          resolve({ port: event.port, metricsPort: event.metricsPort });
        } else if (event.exit !== undefined) {
          fail(`lost worker ${event.exit} (${event.signal ?? event.code})`);
        }
      });
    });
    return { port: ports.port, metricsPort: ports.metricsPort ?? ports.port, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

export interface Response {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

/** One request on a fresh connection, so the cluster can hand each to a different worker. */
export function send(port: number, method: string, pathname: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: pathname, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The samples of a text exposition as `name{label="value",…}` keys (labels sorted by name, so
 * the order a client writes them in does not matter) to their values.
 */
export function samplesOf(exposition: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    assert.ok(match, `unparsable exposition line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, name, value]) => `${name}="${value}"`)
      .sort();
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

/** The samples of the metrics named (their full sample names, like `x_count`). */
export function samplesNamed(samples: Map<string, number>, ...names: string[]): Map<string, number> {
  return new Map([...samples].filter(([key]) => names.some((name) => key.startsWith(`${name}{`))));
}
