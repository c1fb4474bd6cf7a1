// Exemplars across processes, through the public API: three spawned writers
// (test/helpers/exemplarWriter.ts) record counter and histogram exemplars into one directory;
// this process defines the same metrics in an OpenMetrics registry, whose text carries, per
// series and per bucket, the latest exemplar among the writers; a real Prometheus started with
// exemplar storage scrapes that text and returns them from /api/v1/query_exemplars; `clean`
// removes the exemplar file of a killed writer and keeps the live writers' ones.
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
import { cleanDirectory, Registry, setProblemReporter } from '../packages/prom-multiproc/src/index.js';
import { exemplarMetrics } from './helpers/exemplarMetrics.js';
import { ensurePrometheus, query, startPrometheus, type RunningPrometheus } from './helpers/prometheusServer.js';
import { sleep, waitFor } from './helpers/waitFor.js';

const WRITER = fileURLToPath(new URL('./helpers/exemplarWriter.ts', import.meta.url));
const JOB = 'exemplars';

/** What a writer answers once a command is on disk: the times around the call (in seconds), and a timer's seconds. */
interface Done {
  from: number;
  to: number;
  seconds?: number;
}

/** One spawned writer, and a way to have it record and wait until that is on disk. */
class Writer {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (done: Done) => void; reject: (error: Error) => void }>();
  readonly child: ChildProcess;
  readonly ready: Promise<void>;

  constructor(dir: string, readonly identity: string) {
    const env: NodeJS.ProcessEnv = { ...process.env, PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: identity };
    delete env.NODE_TEST_CONTEXT;
    this.child = spawn(process.execPath, ['--import', 'tsx', WRITER], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code, signal) => {
        const error = new Error(`writer ${identity} exited early (${code ?? signal})`);
        reject(error);
        for (const pending of this.waiting.values()) pending.reject(error);
      });
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        const message = JSON.parse(line) as { ready?: number; done?: number } & Done;
        if (message.ready !== undefined) resolve();
        if (message.done === undefined) return;
        this.waiting.get(message.done)?.resolve(message);
        this.waiting.delete(message.done);
      });
    });
  }

  /** Has the writer inc the counter, observe into the histogram or time a call, with an exemplar if `trace` is given; resolves once written. */
  send(op: 'inc' | 'observe' | 'time', labels: Record<string, string>, value: number | undefined, trace?: string): Promise<Done> {
    const id = this.nextId++;
    const done = new Promise<Done>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    const exemplar = trace === undefined ? undefined : { trace_id: trace };
    this.child.stdin!.write(`${JSON.stringify({ id, op, labels, value, exemplar })}\n`);
    return done;
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill(signal);
    await exited;
  }
}

interface ScrapedExemplar {
  labels: Record<string, string>;
  value: number;
  timestamp: number;
}

interface ScrapedSample {
  value: number;
  exemplar?: ScrapedExemplar;
}

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [, name, value] of (text ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!;
  return labels;
}

function sampleId(name: string, labels: Record<string, string>): string {
  return `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}

/** The samples of an OpenMetrics text, by name and labels (in any order), each with its exemplar if it has one. */
function parseOpenMetrics(text: string): Map<string, ScrapedSample> {
  assert.ok(text.endsWith('# EOF\n'), text);
  const samples = new Map<string, ScrapedSample>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*?)\})? (\S+)(?: # \{(.*)\} (\S+) (\S+))?$/.exec(line);
    assert.ok(match !== null, `not an OpenMetrics sample line: ${line}`);
    const [, name, labels, value, exemplarLabels, exemplarValue, timestamp] = match;
    const sample: ScrapedSample = { value: Number(value) };
    if (exemplarValue !== undefined) sample.exemplar = { labels: parseLabels(exemplarLabels), value: Number(exemplarValue), timestamp: Number(timestamp) };
    samples.set(sampleId(name!, parseLabels(labels)), sample);
  }
  return samples;
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
  let registry: Registry;
  let server: Server | undefined;
  let prometheus: RunningPrometheus | undefined;
  const warnings: string[] = [];
  const started = Date.now() / 1000;

  before(async () => {
    setProblemReporter((error) => warnings.push(error.message));
    work = mkdtempSync(path.join(tmpdir(), 'pm-exemplars-'));
    dir = path.join(work, 'metrics');
    mkdirSync(dir);
    // As an application's scraping process: the directory in the environment, then its metrics.
    process.env.PROM_MULTIPROC_DIR = dir;
    registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
    exemplarMetrics(registry);
    for (const identity of ['w1', 'w2', 'w3']) writers.push(new Writer(dir, identity));
    await Promise.all(writers.map((writer) => writer.ready));
  });

  after(async () => {
    setProblemReporter(undefined);
    await prometheus?.stop();
    server?.close();
    await Promise.all(writers.map((writer) => writer.kill()));
    registry?.close();
    delete process.env.PROM_MULTIPROC_DIR;
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** The registry's text, parsed; `sample(name, labels)` finds one sample of it. */
  async function scrape() {
    const text = await registry.metrics();
    const samples = parseOpenMetrics(text);
    return {
      text,
      sample: (name: string, labels: Record<string, string>) => samples.get(sampleId(name, labels)),
      trace: (name: string, labels: Record<string, string>) => samples.get(sampleId(name, labels))?.exemplar?.labels.trace_id,
    };
  }

  it('the registry\'s OpenMetrics text carries, per series and per bucket, the latest exemplar among the processes', async () => {
    const [w1, w2, w3] = writers as [Writer, Writer, Writer];
    // One at a time, each strictly after the one before, so "latest" is well defined.
    const steps: [Writer, Parameters<Writer['send']>][] = [
      [w1, ['inc', { queue: 'a' }, 1, 'w1-a']],
      [w3, ['inc', { queue: 'a' }, 4, 'w3-a']],
      [w2, ['inc', { queue: 'a' }, 2, 'w2-a']],
      [w2, ['inc', { queue: 'b' }, 1, 'w2-b']],
      [w3, ['inc', { queue: 'b' }, 1]],
      [w1, ['observe', { route: '/' }, 0.05, 'w1-fast']],
      [w3, ['observe', { route: '/' }, 5, 'w3-slow']],
      [w2, ['observe', { route: '/' }, 0.3, 'w2-mid']],
      [w2, ['observe', { route: '/' }, 0.07, 'w2-fast']],
      [w3, ['observe', { route: '/' }, 0.7]],
      [w1, ['time', { route: '/timed' }, undefined, 'w1-timed']],
    ];
    const done: Done[] = [];
    for (const [writer, command] of steps) {
      const answer = await writer.send(...command);
      done.push(answer);
      while (Date.now() / 1000 <= answer.to) await sleep(1);
    }
    const { text, sample, trace } = await scrape();
    assert.equal(sample('test_jobs_total', { queue: 'a' })?.value, 7, text);
    assert.deepEqual(sample('test_jobs_total', { queue: 'a' })?.exemplar?.labels, { trace_id: 'w2-a' });
    assert.equal(sample('test_jobs_total', { queue: 'a' })?.exemplar?.value, 2);
    assert.equal(sample('test_jobs_total', { queue: 'b' })?.value, 2);
    assert.equal(trace('test_jobs_total', { queue: 'b' }), 'w2-b', 'an inc without exemplar labels leaves the exemplar');
    // Each timestamp is the time of the call that recorded it, in the writing process.
    const timestamp = sample('test_jobs_total', { queue: 'a' })!.exemplar!.timestamp;
    assert.ok(timestamp >= done[2]!.from && timestamp <= done[2]!.to, `${timestamp} within [${done[2]!.from}, ${done[2]!.to}]`);

    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '0.1' }), 'w2-fast');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '0.5' }), 'w2-mid');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '1' }), undefined, 'the one observation in (0.5, 1] had no exemplar');
    assert.equal(sample('test_latency_seconds_bucket', { route: '/', le: '1' })?.value, 4);
    assert.deepEqual(sample('test_latency_seconds_bucket', { route: '/', le: '+Inf' }), {
      value: 5, exemplar: { labels: { trace_id: 'w3-slow' }, value: 5, timestamp: sample('test_latency_seconds_bucket', { route: '/', le: '+Inf' })!.exemplar!.timestamp },
    });
    assert.equal(sample('test_latency_seconds_count', { route: '/' })?.value, 5);
    // The timer's exemplar: the seconds it observed, on the bucket they were counted in.
    const timed = done[done.length - 1]!.seconds!;
    const timedBucket = timed <= 0.1 ? '0.1' : timed <= 0.5 ? '0.5' : timed <= 1 ? '1' : '+Inf';
    assert.deepEqual(sample('test_latency_seconds_bucket', { route: '/timed', le: timedBucket })?.exemplar?.labels, { trace_id: 'w1-timed' });
    assert.equal(sample('test_latency_seconds_bucket', { route: '/timed', le: timedBucket })?.exemplar?.value, timed);

    // A newer exemplar from another process takes over.
    await w1.send('inc', { queue: 'a' }, 1, 'w1-newer');
    const later = await scrape();
    assert.equal(later.trace('test_jobs_total', { queue: 'a' }), 'w1-newer');
    assert.equal(later.sample('test_jobs_total', { queue: 'a' })?.value, 8);
    assert.equal(later.trace('test_jobs_total', { queue: 'b' }), 'w2-b');
    assert.deepEqual(warnings, []);
  });

  it('a real Prometheus with exemplar storage scrapes them as OpenMetrics and returns them from query_exemplars', { timeout: 660_000 }, async () => {
    const tools = await ensurePrometheus();
    let scrapes = 0;
    server = createServer((_req, res) => {
      registry.metrics().then(
        (text) => {
          scrapes++;
          res.setHeader('Content-Type', registry.contentType);
          res.end(text);
        },
        (error: Error) => {
          res.statusCode = 500;
          res.end(error.message);
        },
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const served = await scrape();
    prometheus = await startPrometheus(tools.prometheus, work, [{ name: JOB, target }], ['--enable-feature=exemplar-storage']);
    const url = prometheus.url;
    const start = started - 60;
    const end = () => Date.now() / 1000 + 60;
    const explain = () => `scrapes served: ${scrapes}\n${prometheus!.logTail()}`;

    // The counter's merged totals arrive with the newest exemplar of each series, as served.
    const counters = await waitFor('Prometheus to hold the counter exemplars', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_jobs_total', start, end()), 'queue');
      return found.get('a')?.trace === 'w1-newer' && found.get('b')?.trace === 'w2-b' ? found : undefined;
    }, 60_000, { explain });
    for (const queue of ['a', 'b']) {
      const exemplar = served.sample('test_jobs_total', { queue })!.exemplar!;
      assert.deepEqual(counters.get(queue), { trace: exemplar.labels.trace_id, timestamp: exemplar.timestamp, value: exemplar.value }, queue);
    }
    const totals = await query(url, 'test_jobs_total');
    assert.deepEqual(Object.fromEntries(totals.map((series) => [series.metric.queue, series.value])), { a: 8, b: 2 });

    // The histogram's exemplars, each on the bucket its observation was counted in.
    const buckets = await waitFor('Prometheus to hold the bucket exemplars', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_latency_seconds_bucket{route="/"}', start, end()), 'le');
      return found.size >= 3 ? found : undefined;
    }, 60_000, { explain });
    assert.deepEqual(
      Object.fromEntries([...buckets].map(([le, exemplar]) => [le, [exemplar.trace, exemplar.value]])),
      { '0.1': ['w2-fast', 0.07], '0.5': ['w2-mid', 0.3], '+Inf': ['w3-slow', 5] },
    );

    // A newer exemplar written while Prometheus scrapes reaches it too.
    await writers[2]!.send('observe', { route: '/' }, 0.08, 'w3-latest');
    await waitFor('Prometheus to hold the newest bucket exemplar', async () => {
      const found = newestBySeries(await queryExemplars(url, 'test_latency_seconds_bucket{route="/",le="0.1"}', start, end()), 'le');
      return found.get('0.1')?.trace === 'w3-latest' ? true : undefined;
    }, 60_000, { explain });
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
    // w3's exemplars went with its file: a bucket falls back to another process's, or has none.
    const { trace } = await scrape();
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '+Inf' }), undefined, 'w3-slow went with its file');
    assert.equal(trace('test_latency_seconds_bucket', { route: '/', le: '0.1' }), 'w2-fast');
    assert.equal(trace('test_jobs_total', { queue: 'a' }), 'w1-newer');
  });
});
