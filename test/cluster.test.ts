// node:cluster with real worker processes writing one shared directory: the merged scrape
// must equal the sum of what the workers report they recorded, and a worker killed with
// SIGKILL and marked dead must take its live gauges along and leave its counts behind.
// The cluster primary is a child of this test (helpers/clusterPrimary.ts), not the runner.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Counter, FileStore, MultiprocessRegistry, collectDirectory, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import {
  LATENCY_BUCKETS, WORKER_COUNT, type MostRecentSet, type PrimaryMessage, type TestMessage, type WorkerReport,
} from './helpers/clusterProtocol.js';
import { identityOfLockFile } from '../packages/prom-multiproc/src/directory/identityLock.js';

/** The directory's entries without identity locks (a SIGKILLed or still running writer leaves its `.lock-<id>`). */
function metricsFilesIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => identityOfLockFile(name) === undefined).sort();
}

const PRIMARY = fileURLToPath(new URL('./helpers/clusterPrimary.ts', import.meta.url));
// Four tsx workers starting at once take 2 s on an idle 2-core machine and up to 10 s on a busy
// one; the timeouts only keep a hung process from hanging the suite.
const STARTUP_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;

type Labels = Record<string, string>;
type Samples = Map<string, number>;

/** Identifies a sample by name and labels, whatever their order and however `le` is spelled. */
function sampleKey(name: string, labels: Labels): string {
  const entries = Object.entries(labels)
    .map(([label, value]) => [label, label === 'le' ? String(value === '+Inf' ? Infinity : Number(value)) : value])
    .sort(([a], [b]) => (a! < b! ? -1 : 1));
  return `${name}${JSON.stringify(entries)}`;
}

function samplesOfFamilies(families: MetricFamily[]): Samples {
  const samples: Samples = new Map();
  for (const family of families) {
    for (const sample of family.samples) {
      const key = sampleKey(sample.name, sample.labels);
      assert.ok(!samples.has(key), `duplicate sample ${key}`);
      samples.set(key, sample.value);
    }
  }
  return samples;
}

/** The samples of a text exposition (no escapes needed: the test's label values have none). */
/** The samples of an exposition, without the collector's own prom_multiproc_* families. */
/** The summary's quantile lines of a scrape (approximate by design: checked apart from the exact samples). */
function quantileLinesOf(text: string): string[] {
  return text.split('\n').filter((line) => /\{(?:.*,)?quantile="/.test(line));
}

function samplesOfText(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('prom_multiproc_') || quantileLinesOf(line).length > 0) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `unparsable exposition line: ${line}`);
    const labels: Labels = {};
    for (const [, label, value] of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[label!] = value!;
    const text = match[3]!;
    samples.set(sampleKey(match[1]!, labels), text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text));
  }
  return samples;
}

/** The scrape the reports call for, computed without the library. */
function expectedSamples(reports: WorkerReport[], mostRecent: MostRecentSet[], dead: ReadonlySet<number>): Samples {
  const expected: Samples = new Map();
  const add = (name: string, labels: Labels, value: number): void => {
    const key = sampleKey(name, labels);
    expected.set(key, (expected.get(key) ?? 0) + value);
  };
  const live = reports.filter((report) => !dead.has(report.pid));
  for (const { pid, did } of reports) {
    for (const { route, status, amount } of did.requests) add('cluster_requests_total', { route, status }, amount);
    for (const amount of did.bytes) add('cluster_bytes_total', {}, amount);
    add('cluster_temperature', { pid: String(pid) }, did.gauges.all);
    for (const { method, value } of did.latency) {
      add('cluster_latency_seconds_sum', { method }, value);
      add('cluster_latency_seconds_count', { method }, 1);
      for (const bound of [...LATENCY_BUCKETS, Infinity]) {
        add('cluster_latency_seconds_bucket', { method, le: String(bound) }, value <= bound ? 1 : 0);
      }
    }
    for (const value of did.payload) {
      add('cluster_payload_bytes_count', {}, 1);
      add('cluster_payload_bytes_sum', {}, value);
    }
  }
  for (const { pid, did } of live) {
    add('cluster_connections', { pid: String(pid) }, did.gauges.liveall);
    for (const [queue, depth] of Object.entries(did.queueDepth)) add('cluster_queue_depth', { queue }, depth);
  }
  add('cluster_peak_memory', {}, Math.max(...reports.map((report) => report.did.gauges.max)));
  add('cluster_live_peak', {}, Math.max(...live.map((report) => report.did.gauges.livemax)));
  add('cluster_floor', {}, Math.min(...reports.map((report) => report.did.gauges.min)));
  const newest = mostRecent.reduce((a, b) => (b.before > a.before ? b : a));
  add('cluster_last_deploy', {}, newest.value);
  return expected;
}

function assertSamples(actual: Samples, expected: Samples, context: string): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${context}: the set of samples`);
  for (const [key, want] of expected) {
    const got = actual.get(key)!;
    if (Number.isInteger(want)) assert.equal(got, want, `${context}: ${key}`);
    // Sums of fractions depend on the order the files are merged in, to the last bits.
    else assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${context}: ${key} is ${got}, expected ${want}`);
  }
}

const FILE_KINDS = [
  'counter', 'histogram', 'summary', 'gauge_all', 'gauge_liveall', 'gauge_livesum', 'gauge_max', 'gauge_livemax', 'gauge_min',
  'gauge_mostrecent',
];
const LIVE_KINDS = ['gauge_liveall', 'gauge_livesum', 'gauge_livemax'];

function filesOf(pids: number[], kinds = FILE_KINDS): string[] {
  return pids.flatMap((pid) => kinds.map((kind) => `${kind}_${pid}.db`)).sort();
}

/** Every worker's metrics files and its summary's quantiles side file (which mark-dead keeps). */
function allFilesOf(pids: number[]): string[] {
  return [...filesOf(pids), ...pids.map((pid) => `quantiles_${pid}.pmq`)].sort();
}

function nextMessage<T extends PrimaryMessage['type']>(
  primary: ChildProcess, type: T, timeoutMs: number, matches: (message: Extract<PrimaryMessage, { type: T }>) => boolean = () => true,
): Promise<Extract<PrimaryMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      primary.off('message', onMessage);
      primary.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the cluster primary sent no ${type} message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`the cluster primary exited (code ${code}, signal ${signal}) before sending ${type}`));
    };
    const onMessage = (message: PrimaryMessage): void => {
      if (message.type === 'failed') {
        done();
        reject(new Error(`the cluster primary failed: ${message.error}`));
      } else if (message.type === type && matches(message as Extract<PrimaryMessage, { type: T }>)) {
        done();
        resolve(message as Extract<PrimaryMessage, { type: T }>);
      }
    };
    primary.on('message', onMessage);
    primary.once('exit', onExit);
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function killIfAlive(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

describe(`node:cluster with ${WORKER_COUNT} workers writing one directory`, { timeout: 60_000 }, () => {
  let dir: string;
  let primary: ChildProcess;
  let reports: WorkerReport[] = [];
  let mostRecent: MostRecentSet[] = [];
  let pids: number[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-cluster-'));
    // A file left by a previous run of the service: the primary's cleanDirectory must drop it,
    // or its 1000 requests would show up in the sums below.
    const stale = new FileStore({ dir, identity: 'previous-run' });
    new Counter({ name: 'cluster_requests_total', help: 'Requests served.', labelNames: ['route', 'status'], store: stale, registers: [] })
      .labels('/a', '200').inc(1000);
    stale.close();

    primary = fork(PRIMARY, [dir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await nextMessage(primary, 'ready', STARTUP_TIMEOUT_MS);
    reports = ready.workers;
    mostRecent = ready.mostRecent;
    pids = reports.map((report) => report.pid);
  });

  after(async () => {
    if (primary !== undefined) {
      if (primary.connected) primary.send({ type: 'shutdown' } satisfies TestMessage);
      if (!(await exited(primary, 5000)) && primary.pid !== undefined) killIfAlive(primary.pid);
    }
    // The primary takes its workers down; these are for a primary that could not.
    for (const pid of pids) killIfAlive(pid);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('has a report from each worker, and the mostrecent gauge set at distinct times', () => {
    assert.deepEqual(reports.map((report) => report.workerId).sort(), [1, 2, 3, 4]);
    assert.equal(new Set(pids).size, WORKER_COUNT);
    assert.ok(!pids.includes(process.pid));
    const byTime = [...mostRecent].sort((a, b) => a.before - b.before);
    for (let i = 1; i < byTime.length; i++) assert.ok(byTime[i]!.before > byTime[i - 1]!.after, 'mostrecent sets overlap in time');
  });

  it('writes each kind of file once per worker pid, and the stale file is gone', () => {
    assert.deepEqual(metricsFilesIn(dir), allFilesOf(pids));
  });

  it('merges to the sum of what each worker did', async () => {
    const collection = await collectDirectory(dir);
    assert.deepEqual(collection.skipped, []);
    const expected = expectedSamples(reports, mostRecent, new Set());
    assertSamples(samplesOfFamilies(collection.families), expected, 'collectDirectory');
    const types = Object.fromEntries(collection.families.map((family) => [family.name, family.type]));
    assert.deepEqual(types, {
      cluster_requests: 'counter', cluster_bytes: 'counter', cluster_temperature: 'gauge', cluster_connections: 'gauge',
      cluster_queue_depth: 'gauge', cluster_peak_memory: 'gauge', cluster_live_peak: 'gauge', cluster_floor: 'gauge',
      cluster_last_deploy: 'gauge', cluster_latency_seconds: 'histogram', cluster_payload_bytes: 'summary',
    });
    const text = await new MultiprocessRegistry({ dir }).metrics();
    assertSamples(samplesOfText(text), expected, 'registry text');
    // The workers' summary shows prom-client's seven default quantiles, merged.
    assert.deepEqual(quantileLinesOf(text).map((line) => /quantile="([^"]+)"/.exec(line)![1]), ['0.01', '0.05', '0.5', '0.9', '0.95', '0.99', '0.999']);
    assert.match(text, /^prom_multiproc_scrape_files 40$/m);
    assert.match(text, /^prom_multiproc_scrape_files_skipped 0$/m);
  });

  it('drops the live gauges of a worker killed and marked dead, and keeps its counts', async () => {
    // The worker holding the highest livemax value, so that the livemax visibly falls back.
    const victim = reports.find((report) => report.workerId === 4)!;
    const before = samplesOfFamilies((await collectDirectory(dir)).families);

    const dead = nextMessage(primary, 'dead', STEP_TIMEOUT_MS, (message) => message.pid === victim.pid);
    process.kill(victim.pid, 'SIGKILL');
    const notice = await dead;
    assert.equal(notice.signal, 'SIGKILL');
    assert.deepEqual(notice.removed.map((file) => path.basename(file)).sort(), filesOf([victim.pid], LIVE_KINDS));
    assert.deepEqual(metricsFilesIn(dir), allFilesOf(pids).filter((name) => !notice.removed.some((file) => file.endsWith(name))));
    assert.ok(!readdirSync(dir).includes(`gauge_liveall_${victim.pid}.db`));

    const collection = await collectDirectory(dir);
    const afterDeath = samplesOfFamilies(collection.families);
    assertSamples(afterDeath, expectedSamples(reports, mostRecent, new Set([victim.pid])), 'after mark-dead');
    assertSamples(samplesOfText(await new MultiprocessRegistry({ dir }).metrics()), afterDeath, 'registry text after mark-dead');

    // The same, said directly.
    const pid = String(victim.pid);
    assert.equal(afterDeath.get(sampleKey('cluster_connections', { pid })), undefined);
    assert.equal(afterDeath.get(sampleKey('cluster_temperature', { pid })), victim.did.gauges.all);
    assert.ok(afterDeath.get(sampleKey('cluster_live_peak', {}))! < victim.did.gauges.livemax);
    for (const [key, value] of before) {
      if (/^cluster_(requests|bytes|latency_seconds|payload_bytes)/.test(key)) {
        assert.equal(afterDeath.get(key), value, `${key} must not change when a worker dies`);
      }
    }
  });
});
