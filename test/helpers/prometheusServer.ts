// A real Prometheus server for the tests: found or installed by tools/ensure-prometheus.mjs,
// run on loopback with its configuration and storage in a temporary directory, and read
// through its HTTP API.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { repoRoot } from './fixtures.js';

export interface PrometheusTools {
  prometheus: string;
  promtool: string;
  version: string;
}

/** Runs the project's installer script (apt-get on first use, so it can take minutes). */
export function ensurePrometheus(): Promise<PrometheusTools> {
  const script = path.join(repoRoot, 'tools', 'ensure-prometheus.mjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${script} failed: ${error.message}\n${stderr.slice(-4000)}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as PrometheusTools);
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

export interface ScrapeJob {
  name: string;
  /** host:port */
  target: string;
  /** The path scraped; /metrics by default. */
  metricsPath?: string;
}

export interface RunningPrometheus {
  url: string;
  /** The last lines of its log, for failure messages. */
  logTail(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts Prometheus scraping `jobs` every second; resolves when it reports ready. `flags` are
 * added to its command line (`--enable-feature=exemplar-storage`).
 */
export async function startPrometheus(
  binary: string,
  workDir: string,
  jobs: readonly ScrapeJob[],
  flags: readonly string[] = [],
): Promise<RunningPrometheus> {
  const config = path.join(workDir, 'prometheus.yml');
  // JSON is YAML, so the configuration needs no YAML writer.
  writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: jobs.map((job) => ({ job_name: job.name, metrics_path: job.metricsPath ?? '/metrics', static_configs: [{ targets: [job.target] }] })),
    }),
  );
  const port = await freePort();
  const logFile = path.join(workDir, 'prometheus.log');
  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(workDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...flags,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const url = `http://127.0.0.1:${port}`;
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async () => {
    if (!running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    log.end();
  };

  const started = Date.now();
  for (;;) {
    if (!running) throw new Error(`prometheus exited at start:\n${logTail()}`);
    const ready = await fetch(`${url}/-/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() - started > 60_000) {
      await stop();
      throw new Error(`prometheus was not ready in 60 s:\n${logTail()}`);
    }
    await sleep(100);
  }
  return { url, logTail, stop };
}

interface ApiResponse<T> {
  status: string;
  data: T;
  error?: string;
}

async function api<T>(prometheus: string, pathAndQuery: string): Promise<T> {
  const response = await fetch(`${prometheus}${pathAndQuery}`);
  const body = (await response.json()) as ApiResponse<T>;
  if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.error ?? response.status}`);
  return body.data;
}

/** An instant query: each result series' labels and value. */
export async function query(prometheus: string, expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
    prometheus,
    `/api/v1/query?query=${encodeURIComponent(expr)}`,
  );
  return data.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
}

export interface TargetState {
  job: string;
  health: string;
  lastError: string;
  lastScrape: string;
}

export async function targets(prometheus: string): Promise<TargetState[]> {
  const data = await api<{ activeTargets: (TargetState & { labels: { job: string } })[] }>(prometheus, '/api/v1/targets?state=active');
  return data.activeTargets.map((target) => ({
    job: target.labels.job,
    health: target.health,
    lastError: target.lastError,
    lastScrape: target.lastScrape,
  }));
}

/** The metric families (name and type) Prometheus read from a job's scrapes. */
export async function familiesOf(prometheus: string, job: string): Promise<Map<string, string>> {
  const match = encodeURIComponent(`{job="${job}"}`);
  const data = await api<{ metric: string; type: string }[]>(prometheus, `/api/v1/targets/metadata?match_target=${match}`);
  return new Map(data.map((entry) => [entry.metric, entry.type]));
}
