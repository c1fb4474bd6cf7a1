// Exemplars across processes: three spawned writers (test/helpers/exemplarWriter.ts) record
// counter and histogram exemplars into one directory; a scrape keeps, per series and per
// bucket, the latest one among them; a real Prometheus started with exemplar storage scrapes
// them as OpenMetrics and returns them from /api/v1/query_exemplars; `clean` removes the
// exemplar file of a killed writer and keeps the live writers' ones.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory } from '../packages/prom-multiproc/src/collector.js';
import type { MetricFamily } from '../packages/prom-multiproc/src/merge.js';
import { cleanDirectory } from '../packages/prom-multiproc/src/processes.js';
import { setProblemReporter } from '../packages/prom-multiproc/src/report.js';
import { formatExemplar } from '../packages/prom-multiproc/src/scrape/formatExemplar.js';
import { ExemplarsBySample } from '../packages/prom-multiproc/src/scrape/mergeExemplars.js';
import { readDirectoryExemplars } from '../packages/prom-multiproc/src/scrape/readExemplars.js';
import { ensurePrometheus, query, startPrometheus, type RunningPrometheus } from './helpers/prometheusServer.js';

const WRITER = fileURLToPath(new URL('./helpers/exemplarWriter.ts', import.meta.url));
const JOB = 'exemplars';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, explain = () => ''): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await sleep(250);
  }
}

/** One spawned writer, and a way to have it record and wait until that is on disk. */
class Writer {
  private nextId = 1;
  private readonly waiting = new Map<number, () => void>();
  readonly child: ChildProcess;
  readonly ready: Promise<void>;

  constructor(dir: string, readonly identity: string) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    this.child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, identity], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code, signal) => reject(new Error(`writer ${identity} exited early (${code ?? signal})`)));
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        const message = JSON.parse(line) as { ready?: number; done?: number };
        if (message.ready !== undefined) resolve();
        if (message.done !== undefined) this.waiting.get(message.done)?.();
      });
    });
  }

  /** Has the writer inc the counter or observe into the histogram with an exemplar; resolves once written. */
  send(op: 'inc' | 'observe', labels: Record<string, string>, value: number, trace: string, timestamp: number): Promise<void> {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.waiting.set(id, resolve));
    this.child.stdin!.write(`${JSON.stringify({ id, op, labels, value, exemplar: { trace_id: trace }, timestamp })}\n`);
    return done;
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A stand-in for the registry's OpenMetrics rendering: the merged counters and histograms, each sample with its exemplar. */
function renderOpenMetrics(families: MetricFamily[], exemplars: ExemplarsBySample): string {
  const lines: string[] = [];
  for (const family of families) {
    if (family.type !== 'counter' && family.type !== 'histogram') continue;
    lines.push(`# TYPE ${family.name} ${family.type}`, `# HELP ${family.name} ${escapeLabelValue(family.help)}`);
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
      const exemplar = exemplars.get(sample.name, sample.labels);
      lines.push(`${sample.name}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${sample.value}${exemplar === undefined ? '' : formatExemplar(exemplar)}`);
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

interface SeriesExemplars {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

async function queryExemplars(prometheus: string, expr: string, start: number, end: number): Promise<SeriesExemplars[]> {
  const response = await fetch(`${prometheus}/api/v1/query_exemplars?query=${encodeURIComponent(expr)}&start=${start}&end=${end}`);
  const body = (await response.json()) as { status: string; data: SeriesExemplars[]; error?: string };
  if (body.status !== 'success') throw new Error(`query_exemplars ${expr}: ${body.error ?? response.status}`);
  return body.data;
}

/** Per series (its distinguishing label), the trace id and timestamp of the newest exemplar Prometheus holds. */
function newestBySeries(data: SeriesExemplars[], label: string): Map<string, { trace: string; timestamp: number; value: number }> {
  const result = new Map<string, { trace: string; timestamp: number; value: number }>();
  for (const series of data) {
    if (series.exemplars.length === 0) continue;
    const newest = series.exemplars.reduce((a, b) => (b.timestamp > a.timestamp ? b : a));
    result.set(series.seriesLabels[label]!, { trace: newest.labels.trace_id!, timestamp: newest.timestamp, value: Number(newest.value) });
  }
  return result;
}

describe('exemplars written by several processes', () => {
  let work: string;
  let dir: string;
  const writers: Writer[] = [];
  let server: Server | undefined;
  let prometheus: RunningPrometheus | undefined;
  const warnings: string[] = [];
  // Whole milliseconds, as Prometheus keeps exemplar timestamps; a minute ago, so every one is in the past.
  const T = Math.floor(Date.now() / 1000) - 60 + 0.125;

  before(async () => {
    setProblemReporter((error) => warnings.push(error.message));
    work = mkdtempSync(path.join(tmpdir(), 'pm-exemplars-'));
    dir = path.join(work, 'metrics');
    mkdirSync(dir);
    for (const identity of ['w1', 'w2', 'w3']) writers.push(new Writer(dir, identity));
    await Promise.all(writers.map((writer) => writer.ready));
  });

  after(async () => {
    setProblemReporter(undefined);
    await prometheus?.stop();
    server?.close();
    await Promise.all(writers.map((writer) => writer.kill()));
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  async function scrape() {
    const { families, skipped } = await collectDirectory(dir);
    assert.deepEqual(skipped, []);
    return { families, exemplars: new ExemplarsBySample(readDirectoryExemplars(dir)) };
  }

  it('a scrape keeps, per series and per bucket, the latest exemplar among the processes', async () => {
    const [w1, w2, w3] = writers as [Writer, Writer, Writer];
    await Promise.all([
      w1.send('inc', { queue: 'a' }, 1, 'w1-a', T + 1),
      w2.send('inc', { queue: 'a' }, 2, 'w2-a', T + 3),
      w3.send('inc', { queue: 'a' }, 4, 'w3-a', T + 2),
      w2.send('inc', { queue: 'b' }, 1, 'w2-b', T + 2),
      w1.send('observe', { route: '/' }, 0.05, 'w1-fast', T + 1),
      w2.send('observe', { route: '/' }, 0.07, 'w2-fast', T + 4),
      w2.send('observe', { route: '/' }, 0.3, 'w2-mid', T + 2),
      w3.send('observe', { route: '/' }, 5, 'w3-slow', T + 3),
    ]);
    const { families, exemplars } = await scrape();
    const trace = (sample: string, labels: Record<string, string>) => exemplars.get(sample, labels)?.labels.trace_id;
    assert.equal(trace('test_jobs_total', { queue: 'a' }), 'w2-a');
    assert.equal(trace('test_jobs_total', { queue: 'b' }), 'w2-b');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '0.1' }), 'w2-fast');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '0.5' }), 'w2-mid');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '1.0' }), undefined, 'no observation fell in (0.5, 1]');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '+Inf' }), 'w3-slow');
    assert.deepEqual(exemplars.get('test_jobs_total', { queue: 'a' }), { labels: { trace_id: 'w2-a' }, value: 2, timestamp: T + 3 });
    // Every exemplar sits on a sample the merge produced: the join by entry key holds.
    const samples = families.flatMap((family) => family.samples);
    for (const [name, labels] of [['test_jobs_total', { queue: 'a' }], ['test_latency_seconds_bucket', { route: '/', le: '+Inf' }]] as const) {
      assert.ok(samples.some((sample) => sample.name === name && JSON.stringify(sample.labels) === JSON.stringify(labels)), `${name} ${JSON.stringify(labels)}`);
    }
    assert.equal(samples.find((sample) => sample.name === 'test_jobs_total' && sample.labels.queue === 'a')?.value, 7);

    // A newer exemplar from another process takes over; an older one does not.
    await w1.send('inc', { queue: 'a' }, 1, 'w1-newer', T + 5);
    await w3.send('inc', { queue: 'b' }, 1, 'w3-older', T + 1);
    const later = await scrape();
    assert.equal(later.exemplars.get('test_jobs_total', { queue: 'a' })?.labels.trace_id, 'w1-newer');
    assert.equal(later.exemplars.get('test_jobs_total', { queue: 'b' })?.labels.trace_id, 'w2-b');
    assert.deepEqual(warnings, []);
  });

  it('a real Prometheus with exemplar storage scrapes them as OpenMetrics and returns them from query_exemplars', { timeout: 660_000 }, async () => {
    const tools = await ensurePrometheus();
    let scrapes = 0;
    server = createServer((_req, res) => {
      scrape().then(
        ({ families, exemplars }) => {
          scrapes++;
          res.setHeader('Content-Type', 'application/openmetrics-text; version=1.0.0; charset=utf-8');
          res.end(renderOpenMetrics(families, exemplars));
        },
        (error: Error) => {
          res.statusCode = 500;
          res.end(error.message);
        },
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    prometheus = await startPrometheus(tools.prometheus, work, [{ name: JOB, target }], ['--enable-feature=exemplar-storage']);
    const url = prometheus.url;
    const start = T - 60;
    const end = () => Date.now() / 1000 + 60;
    const explain = () => `scrapes served: ${scrapes}\n${prometheus!.logTail()}`;

    // The counter's merged totals arrive with the newest exemplar of each series.
    const counters = await waitFor('Prometheus to hold the counter exemplars', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_jobs_total', start, end()), 'queue');
      return found.get('a')?.trace === 'w1-newer' && found.get('b')?.trace === 'w2-b' ? found : undefined;
    }, 60_000, explain);
    assert.deepEqual(counters.get('a'), { trace: 'w1-newer', timestamp: T + 5, value: 1 });
    assert.deepEqual(counters.get('b'), { trace: 'w2-b', timestamp: T + 2, value: 1 });
    const totals = await query(url, 'test_jobs_total');
    assert.deepEqual(Object.fromEntries(totals.map((series) => [series.metric.queue, series.value])), { a: 8, b: 2 });

    // The histogram's exemplars, each on the bucket its observation was counted in.
    const buckets = await waitFor('Prometheus to hold the bucket exemplars', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_latency_seconds_bucket', start, end()), 'le');
      return found.size >= 3 ? found : undefined;
    }, 60_000, explain);
    assert.deepEqual(
      Object.fromEntries([...buckets].map(([le, exemplar]) => [le, [exemplar.trace, exemplar.value]])),
      { '0.1': ['w2-fast', 0.07], '0.5': ['w2-mid', 0.3], '+Inf': ['w3-slow', 5] },
    );

    // A newer exemplar written while Prometheus scrapes reaches it too.
    await writers[2]!.send('observe', { route: '/' }, 0.08, 'w3-latest', Date.now() / 1000);
    await waitFor('Prometheus to hold the newest bucket exemplar', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_latency_seconds_bucket{le="0.1"}', start, end()), 'le');
      return found.get('0.1')?.trace === 'w3-latest' ? true : undefined;
    }, 60_000, explain);
    assert.deepEqual(warnings, []);
  });

  it('clean removes the exemplar file of a killed writer and keeps the live writers\' ones', async () => {
    const w3 = writers[2]!;
    const deadPid = w3.child.pid!;
    await w3.kill('SIGKILL');
    // A temporary exemplar file its writer was renaming when it died.
    const leftover = `exemplars_w3.pmx.${deadPid}-0a1b2c3d.tmp`;
    writeFileSync(path.join(dir, leftover), '{}');
    const { removed, kept } = cleanDirectory(dir);
    const names = (files: string[]) => files.map((file) => path.basename(file));
    assert.ok(names(removed).includes('exemplars_w3.pmx'), JSON.stringify(removed));
    assert.ok(names(removed).includes(leftover), JSON.stringify(removed));
    for (const identity of ['w1', 'w2']) {
      const keptFile = kept.find((entry) => path.basename(entry.file) === `exemplars_${identity}.pmx`);
      assert.ok(keptFile !== undefined, JSON.stringify(kept));
      assert.match(keptFile.reason, /lock/);
    }
    const left = readdirSync(dir);
    assert.ok(left.includes('exemplars_w1.pmx') && left.includes('exemplars_w2.pmx') && !left.includes('exemplars_w3.pmx'), left.join(' '));
    const { exemplars } = await scrape();
    assert.equal(exemplars.get('test_latency_seconds_bucket', { route: '/', le: '+Inf' }), undefined, 'w3-slow went with its file');
    assert.equal(exemplars.get('test_jobs_total', { queue: 'a' })?.labels.trace_id, 'w1-newer');
  });
});
