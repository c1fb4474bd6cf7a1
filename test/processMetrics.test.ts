// Per-worker process metrics: every worker samples itself into the directory and the merge
// gives CPU summed (and per worker), memory per worker plus a total, start time per worker,
// under prom-client's names; a worker marked dead leaves its CPU seconds in the total.
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry, collectDefaultMetrics } from 'prom-client';
import {
  MemoryStore, MetricConfigurationError, collectDirectory, markProcessDead, startProcessMetrics, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { collectStore } from '../packages/prom-multiproc/src/scrape/collector.js';
import { repoRoot } from './helpers/fixtures.js';

const WORKER = fileURLToPath(new URL('./helpers/processMetricsWorker.ts', import.meta.url));
const ENTRY = new URL('../packages/prom-multiproc/src/index.ts', import.meta.url).href;

interface Sampled {
  type: 'sampled';
  identity: string;
  cpuSeconds: number;
  threadIdentity?: string;
}

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function startWorker(dir: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; sampled: Promise<Sampled> } {
  const child = fork(WORKER, [], {
    cwd: repoRoot,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: '', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const sampled = new Promise<Sampled>((resolve, reject) => {
    child.once('message', (message: Sampled) => resolve(message));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
  });
  return { child, sampled };
}

async function finish(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send('exit');
  await exited;
}

function value(families: MetricFamily[], sampleName: string, labels: Record<string, string> = {}): number | undefined {
  const found = families.flatMap((family) => family.samples).filter(
    (sample) => sample.name === sampleName && Object.keys(labels).length === Object.keys(sample.labels).length &&
      Object.entries(labels).every(([k, v]) => sample.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${sampleName} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value;
}

function pids(families: MetricFamily[], sampleName: string): string[] {
  return families.flatMap((family) => family.samples).filter((sample) => sample.name === sampleName).map((sample) => sample.labels.pid!).sort();
}

describe('startProcessMetrics', { timeout: 120_000 }, () => {
  it('gives every worker its process metrics: CPU summed and per worker, memory per worker plus a total', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-process-'));
    dirs.push(dir);
    const workers = [startWorker(dir), startWorker(dir, { THREAD: '1' })];
    const reports = await Promise.all(workers.map((worker) => worker.sampled));
    const ids = reports.map((report) => report.identity).sort();

    const { families, skipped } = await collectDirectory(dir);
    assert.deepEqual(skipped, []);
    for (const name of ['process_resident_memory_bytes', 'process_start_time_seconds', 'process_cpu_seconds_per_worker', 'process_open_fds']) {
      assert.deepEqual(pids(families, name), ids, `${name}: one series per worker process, none per thread`);
    }
    // Heap and event loop are the thread's own: the thread has its series too.
    const threadId = reports[1]!.threadIdentity!;
    assert.match(threadId, new RegExp(`^${reports[1]!.identity}-t\\d+$`));
    assert.deepEqual(pids(families, 'nodejs_heap_size_used_bytes'), [...ids, threadId].sort());
    assert.deepEqual(pids(families, 'nodejs_eventloop_lag_p99_seconds'), [...ids, threadId].sort());

    let perWorkerSum = 0;
    for (const report of reports) {
      const cpu = value(families, 'process_cpu_seconds_per_worker', { pid: report.identity })!;
      // The last sample was taken at stop(), just before the worker read its own figure.
      assert.ok(cpu <= report.cpuSeconds && cpu > report.cpuSeconds - 0.1, `worker ${report.identity}: ${cpu} vs ${report.cpuSeconds}`);
      perWorkerSum += cpu;
      const started = value(families, 'process_start_time_seconds', { pid: report.identity })!;
      assert.ok(Math.abs(started - Date.now() / 1000) < 60, `start time ${started}`);
    }
    const total = value(families, 'process_cpu_seconds_total')!;
    assert.ok(Math.abs(total - perWorkerSum) < 1e-6, `summed counter ${total} vs per-worker sum ${perWorkerSum}`);
    assert.ok(Math.abs(value(families, 'process_cpu_user_seconds_total')! + value(families, 'process_cpu_system_seconds_total')! - total) < 1e-6);
    const rss = ids.map((id) => value(families, 'process_resident_memory_bytes', { pid: id })!);
    assert.ok(rss.every((bytes) => bytes > 10 * 1024 * 1024), `rss ${rss}`);
    assert.equal(value(families, 'process_resident_memory_bytes_all_workers'), rss[0]! + rss[1]!);
    assert.ok((value(families, 'nodejs_gc_duration_seconds_count', { kind: 'minor' }) ?? 0) > 0, 'the garbage made minor GCs');
    assert.equal(value(families, 'nodejs_version_info', { version: process.version, major: process.versions.node.split('.')[0]!, minor: process.versions.node.split('.')[1]!, patch: process.versions.node.split('.')[2]! }), 1);

    // A worker that ends and is marked dead: its per-worker series go, its CPU stays in the total.
    const [gone, stays] = reports;
    await finish(workers[0]!.child);
    markProcessDead(gone!.identity, dir);
    const afterDeath = (await collectDirectory(dir)).families;
    assert.deepEqual(pids(afterDeath, 'process_resident_memory_bytes'), [stays!.identity]);
    assert.equal(value(afterDeath, 'process_resident_memory_bytes_all_workers'), value(afterDeath, 'process_resident_memory_bytes', { pid: stays!.identity }));
    assert.equal(value(afterDeath, 'process_cpu_seconds_total'), total, 'CPU seconds of a dead worker stay counted');
    await finish(workers[1]!.child);
  });

  it('has prom-client\'s default metric names and types (less the per-type handle lists), plus the per-worker extras', async () => {
    const store = new MemoryStore();
    const stop = startProcessMetrics({ store });
    // Garbage, so that a GC is observed (GC entries arrive asynchronously) and its histogram has a series.
    let garbage: object[] = [];
    for (let i = 0; i < 200_000; i++) garbage.push({ i });
    garbage = [];
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    const ours = new Map(collectStore(store).families.map((family) => [family.type === 'counter' ? `${family.name}_total` : family.name, family.type]));
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const theirs = new Map(registry.getMetricsAsArray().map((metric) => [metric.name, String(metric.type)]));
    registry.clear();
    const missing = [...theirs.keys()].filter((name) => !ours.has(name)).sort();
    assert.deepEqual(missing, ['nodejs_active_handles', 'nodejs_active_requests']);
    for (const [name, type] of theirs) if (ours.has(name)) assert.equal(ours.get(name), type, name);
    const extras = [...ours.keys()].filter((name) => !theirs.has(name)).sort();
    assert.deepEqual(extras, ['process_cpu_seconds_per_worker', 'process_resident_memory_bytes_all_workers']);
  });

  it('refuses a second start for one store, and with a prefix names every family by it', () => {
    const store = new MemoryStore();
    const stop = startProcessMetrics({ store, prefix: 'app_' });
    assert.throws(() => startProcessMetrics({ store }), MetricConfigurationError);
    stop();
    assert.ok(collectStore(store).families.every((family) => family.name.startsWith('app_')));
    startProcessMetrics({ store, prefix: 'app_' })(); // stopped: may start again
    assert.throws(() => startProcessMetrics({ store, intervalMs: 0 }), /intervalMs must be a positive number/);
  });

  it('does not keep a process alive', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-process-'));
    dirs.push(dir);
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `import * as lib from ${JSON.stringify(ENTRY)}; lib.startProcessMetrics({ intervalMs: 10 }); setTimeout(() => {}, 200);`], {
      cwd: repoRoot, env: { ...process.env, PROM_MULTIPROC_DIR: dir }, stdio: 'inherit',
    });
    children.push(child);
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve('still running after 20 s'), 20_000);
      child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0);
    const { families } = await collectDirectory(dir);
    assert.equal(pids(families, 'process_resident_memory_bytes').length, 1);
  });
});
