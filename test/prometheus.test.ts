// Issue: a real Prometheus server (Debian's package, installed by tools/ensure-prometheus.mjs)
// scrapes `prom-multiproc serve` over the directory of a 2-worker node:cluster HTTP service,
// and its query API returns sum(http_requests_total) equal to the requests sent. promtool
// checks the text exposition. promtool 2.42's `check metrics` reads only the Prometheus text
// format (fed OpenMetrics it takes the counter family `x` and its sample `x_total` for two
// families and complains), so the OpenMetrics exposition is checked by Prometheus itself: it
// asks for OpenMetrics first, parses it with its strict parser, and reports any error on the
// target. A second target serving broken OpenMetrics shows that this check can fail.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';
import {
  ensurePrometheus,
  familiesOf,
  query,
  startPrometheus,
  targets,
  type PrometheusTools,
  type RunningPrometheus,
} from './helpers/prometheusServer.js';
import { waitFor } from './helpers/waitFor.js';

const cli = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
const clusterPrimary = path.join(repoRoot, 'test', 'helpers', 'httpClusterPrimary.ts');
const JOB = 'prom-multiproc';
const BROKEN_JOB = 'broken-openmetrics';

/** One request on a fresh connection, so the cluster spreads them over its workers. */
function request(port: number, pathname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

/** Runs a program with `input` on stdin; its exit code and everything it printed. */
function run(command: string, args: string[], input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

/** Starts a child and resolves with the first match of `pattern` in its stdout. */
function startChild(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp, what: string): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 30 s`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited early with ${code}`)));
  });
}

describe('a real Prometheus server scraping prom-multiproc serve', () => {
  let tools: PrometheusTools;
  let work: string;
  let app: ChildProcess | undefined;
  let exporter: ChildProcess | undefined;
  let broken: Server | undefined;
  let prometheus: RunningPrometheus | undefined;
  let appPort: number;
  let exporterUrl: string;
  const sent = new Map<string, number>();
  let sentTotal = 0;

  // The first run on a machine installs Debian's prometheus package.
  before(async () => {
    tools = await ensurePrometheus();
    work = mkdtempSync(path.join(tmpdir(), 'pm-prometheus-'));
    const dir = path.join(work, 'metrics');
    const env: NodeJS.ProcessEnv = { ...process.env, METRICS_DIR: dir, WORKERS: '2' };
    delete env.NODE_TEST_CONTEXT;

    // The app's primary prints a JSON line per worker listening; the second means both are.
    const started = await startChild(['--import', 'tsx', clusterPrimary], env, /"event":"listening".*"ready":2\b/, 'the cluster');
    app = started.child;
    appPort = (JSON.parse(started.match.input) as { port: number }).port;

    const served = await startChild(['--import', 'tsx', cli, 'serve', '--dir', dir, '--port', '0'], env, /on (http:\/\/(\S+))\/metrics/, 'the exporter');
    exporter = served.child;
    exporterUrl = served.match[1]!;

    // OpenMetrics without its closing `# EOF`: Prometheus must refuse it.
    broken = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8');
      res.end('# TYPE jobs counter\njobs_total 1\n');
    });
    await new Promise<void>((resolve) => broken!.listen(0, '127.0.0.1', resolve));

    prometheus = await startPrometheus(tools.prometheus, work, [
      { name: JOB, target: served.match[2]! },
      { name: BROKEN_JOB, target: `127.0.0.1:${(broken.address() as AddressInfo).port}` },
    ]);

    const plan: [string, string][] = [];
    for (let i = 0; i < 90; i++) plan.push([`/users/${i}`, '200']);
    for (let i = 0; i < 20; i++) plan.push(['/health', '200']);
    for (let i = 0; i < 12; i++) plan.push([`/scanner/${i}.php`, '404']);
    for (let i = 0; i < 8; i++) plan.push(['/error', '500']);
    for (let i = 0; i < plan.length; i += 10) {
      const statuses = await Promise.all(plan.slice(i, i + 10).map(([pathname]) => request(appPort, pathname)));
      statuses.forEach((status, j) => assert.equal(String(status), plan[i + j]![1], plan[i + j]![0]));
    }
    for (const [, status] of plan) sent.set(status, (sent.get(status) ?? 0) + 1);
    sentTotal = plan.length;
  }, { timeout: 660_000 });

  after(async () => {
    await prometheus?.stop();
    exporter?.kill('SIGTERM');
    app?.kill('SIGTERM');
    broken?.close();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('answers sum(http_requests_total) with the number of requests sent', { timeout: 90_000 }, async () => {
    const total = await waitFor(
      'Prometheus to have scraped every request',
      async () => {
        const [result] = await query(prometheus!.url, 'sum(http_requests_total)');
        if (result !== undefined && result.value > sentTotal) throw new Error(`Prometheus counts ${result.value} requests, ${sentTotal} were sent`);
        return result?.value === sentTotal ? result.value : undefined;
      },
      60_000,
      { explain: () => prometheus!.logTail() },
    );
    assert.equal(total, sentTotal);
    const byStatus = await query(prometheus!.url, 'sum by (status) (http_requests_total)');
    assert.deepEqual(new Map(byStatus.map((series) => [series.metric.status!, series.value])), sent);
    const [count] = await query(prometheus!.url, 'sum(http_request_duration_seconds_count)');
    assert.equal(count?.value, sentTotal);
  });

  it('reads the exposition as OpenMetrics with no scrape error, and refuses broken OpenMetrics', { timeout: 60_000 }, async (t) => {
    const states = await waitFor(
      'both targets to be scraped',
      async () => {
        const all = await targets(prometheus!.url);
        return all.length === 2 && all.every((target) => !target.lastScrape.startsWith('0001')) ? all : undefined;
      },
      30_000,
      { explain: () => prometheus!.logTail() },
    );
    const ours = states.find((target) => target.job === JOB)!;
    assert.equal(ours.lastError, '');
    assert.equal(ours.health, 'up');
    const bad = states.find((target) => target.job === BROKEN_JOB)!;
    assert.equal(bad.health, 'down');
    assert.notEqual(bad.lastError, '');
    t.diagnostic(`the broken target's error: ${bad.lastError}`);

    // OpenMetrics names a counter family without `_total` (the text format names it with),
    // so these are the families of the OpenMetrics exposition, as Prometheus parsed it.
    const families = await familiesOf(prometheus!.url, JOB);
    assert.equal(families.get('http_requests'), 'counter', `families read: ${[...families].join(', ')}`);
    assert.equal(families.has('http_requests_total'), false);
    assert.equal(families.get('http_request_duration_seconds'), 'histogram');
    assert.equal(families.get('http_requests_in_flight'), 'gauge');
  });

  it('passes promtool check metrics with the text exposition', async () => {
    const response = await fetch(`${exporterUrl}/metrics`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    assert.match(text, /^http_requests_total\{/m);
    const checked = await run(tools.promtool, ['check', 'metrics'], text);
    assert.deepEqual(checked, { code: 0, output: '' });
    // And promtool does reject what is wrong.
    const rejected = await run(tools.promtool, ['check', 'metrics'], text.replace('http_requests_total{', 'http_requests_total{{'));
    assert.notEqual(rejected.code, 0);
  });
});
