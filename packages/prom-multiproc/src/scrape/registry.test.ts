// The scrape side as a Prometheus server sees it: text and OpenMetrics rendered by prom-client
// from the merge of a directory that two workers (two FileStores) wrote.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Counter as PromClientCounter, Gauge as PromClientGauge, Registry } from 'prom-client';
import { Counter } from '../metrics/counter.js';
import { register } from './promRegistry.js';
import { Gauge } from '../metrics/gauge.js';
import { Histogram } from '../metrics/histogram.js';
import { MultiprocessRegistry } from './registry.js';
import { setProblemReporter } from '../common/report.js';
import { FileStore } from '../storage/fileStore.js';
import { MemoryStore } from '../storage/memoryStore.js';

const ENV_NAMES = ['PROM_MULTIPROC_DIR', 'PROMETHEUS_MULTIPROC_DIR'] as const;
const savedEnv = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]));
let reports: Error[] = [];

// The registry must use the directory it is given, or none: not one from the environment.
before(() => {
  for (const name of ENV_NAMES) delete process.env[name];
});
after(() => {
  for (const name of ENV_NAMES) if (savedEnv[name] !== undefined) process.env[name] = savedEnv[name];
});
beforeEach(() => {
  reports = [];
  register.clear();
  setProblemReporter((error) => reports.push(error));
});
afterEach(() => setProblemReporter(undefined));

/** Exact lines, in order, each once; other lines may come between them. */
function assertLinesInOrder(text: string, expected: string[]): void {
  const lines = text.split('\n');
  let from = 0;
  for (const line of expected) {
    const at = lines.indexOf(line, from);
    assert.ok(at >= 0, `line ${JSON.stringify(line)} missing (or out of order) in:\n${text}`);
    assert.equal(lines.filter((candidate) => candidate === line).length, 1, `line ${JSON.stringify(line)} appears more than once`);
    from = at + 1;
  }
}

describe('MultiprocessRegistry over a directory written by two workers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-registry-'));
  const stores: FileStore[] = [];

  before(() => {
    // Observations that are exact in binary, so the sums can be compared exactly.
    for (const [identity, n] of [['w1', 1], ['w2', 2]] as const) {
      const store = new FileStore({ dir, identity });
      stores.push(store);
      new Counter({ name: 'x_total', help: 'Things done.', labelNames: ['kind'], store, registers: [] }).inc({ kind: 'a' }, n);
      const histogram = new Histogram({ name: 'latency_seconds', help: 'Latency.', buckets: [0.005, 1], store, registers: [] });
      histogram.observe(0.00390625);
      histogram.observe(0.5);
      histogram.observe(4 * n);
      new Gauge({ name: 'workers_busy', help: 'Busy workers.', store, registers: [] }).set(10 * n);
      store.flush();
    }
  });
  after(() => {
    for (const store of stores) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders the text exposition: counter as x_total, cumulative buckets, gauge per pid', async () => {
    const text = await new MultiprocessRegistry({ dir }).metrics();
    assertLinesInOrder(text, [
      '# HELP x_total Things done.',
      '# TYPE x_total counter',
      'x_total{kind="a"} 3',
    ]);
    assertLinesInOrder(text, [
      '# HELP latency_seconds Latency.',
      '# TYPE latency_seconds histogram',
      'latency_seconds_sum 13.0078125',
      'latency_seconds_bucket{le="0.005"} 2',
      'latency_seconds_bucket{le="1.0"} 4',
      'latency_seconds_bucket{le="+Inf"} 6',
      'latency_seconds_count 6',
    ]);
    assertLinesInOrder(text, [
      '# TYPE workers_busy gauge',
      'workers_busy{pid="w1"} 10',
      'workers_busy{pid="w2"} 20',
    ]);
    assert.ok(!text.includes('# EOF'));
    assert.ok(!text.includes('x_total_total'));
  });

  it('renders OpenMetrics: family x with x_total samples, ending with # EOF', async () => {
    const registry = new MultiprocessRegistry({ dir, contentType: Registry.OPENMETRICS_CONTENT_TYPE });
    assert.equal(registry.contentType, Registry.OPENMETRICS_CONTENT_TYPE);
    const text = await registry.metrics();
    assertLinesInOrder(text, ['# HELP x Things done.', '# TYPE x counter', 'x_total{kind="a"} 3']);
    assertLinesInOrder(text, [
      '# TYPE latency_seconds histogram',
      'latency_seconds_bucket{le="0.005"} 2',
      'latency_seconds_bucket{le="1.0"} 4',
      'latency_seconds_bucket{le="+Inf"} 6',
      'latency_seconds_count 6',
    ]);
    assertLinesInOrder(text, ['workers_busy{pid="w1"} 10', 'workers_busy{pid="w2"} 20']);
    assert.ok(!text.includes('# TYPE x_total'));
    assert.ok(text.endsWith('# EOF\n'), `does not end with # EOF:\n${text.slice(-80)}`);
  });

  it('serves a prom-client registry alongside; a name in both is served once, the merged one', async () => {
    const local = new Registry();
    new PromClientCounter({ name: 'x_total', help: 'Local copy.', registers: [local] }).inc(100);
    new PromClientGauge({ name: 'event_loop_lag', help: 'Local only.', registers: [local] }).set(0.25);
    const text = await new MultiprocessRegistry({ dir, include: [local] }).metrics();
    assertLinesInOrder(text, ['# TYPE event_loop_lag gauge', 'event_loop_lag 0.25']);
    assertLinesInOrder(text, ['# HELP x_total Things done.', '# TYPE x_total counter', 'x_total{kind="a"} 3']);
    assert.equal(text.match(/^# TYPE x_total /gm)?.length, 1);
    assert.ok(!text.includes('Local copy.') && !text.includes(' 100'), text);
    assert.ok(reports.some((error) => /x_total is both in the multiprocess directory and in a local registry/.test(error.message)));
  });

  it('reads the files anew on every scrape', async () => {
    const registry = new MultiprocessRegistry({ dir });
    assertLinesInOrder(await registry.metrics(), ['workers_busy{pid="w1"} 10']);
    const store = new FileStore({ dir, identity: 'w3' });
    try {
      new Gauge({ name: 'workers_busy', help: 'Busy workers.', store, registers: [] }).set(30);
      store.close();
      assertLinesInOrder(await registry.metrics(), ['workers_busy{pid="w1"} 10', 'workers_busy{pid="w2"} 20', 'workers_busy{pid="w3"} 30']);
    } finally {
      store.close();
      rmSync(path.join(dir, 'gauge_all_w3.db'), { force: true });
    }
  });

  it('serves the other files when one is unreadable, and says which', async () => {
    const bad = path.join(dir, 'counter_broken.db');
    writeFileSync(bad, '');
    try {
      const registry = new MultiprocessRegistry({ dir });
      assertLinesInOrder(await registry.metrics(), ['x_total{kind="a"} 3', 'latency_seconds_count 6']);
      assert.deepEqual(registry.lastCollection?.skipped.map((skipped) => skipped.file), [bad]);
      assert.ok(reports.some((error) => error.message.includes(bad)));
    } finally {
      rmSync(bad);
    }
  });
});

describe('MultiprocessRegistry in single-process mode (no directory)', () => {
  it('shows the values of the MemoryStore, with no pid label', async () => {
    const store = new MemoryStore({ identity: 'solo' });
    new Gauge({ name: 'queue_depth', help: 'Queue depth.', labelNames: ['queue'], store, registers: [] }).set({ queue: 'mail' }, 5);
    new Gauge({ name: 'temperature', help: 'Temperature.', multiprocessMode: 'mostrecent', store, registers: [] }).set(21.5);
    new Counter({ name: 'jobs', help: 'Jobs.', store, registers: [] }).inc(2);
    new Histogram({ name: 'size_bytes', help: 'Size.', buckets: [100], store, registers: [] }).observe(50);
    const text = await new MultiprocessRegistry({ store }).metrics();
    assertLinesInOrder(text, ['# TYPE queue_depth gauge', 'queue_depth{queue="mail"} 5']);
    assertLinesInOrder(text, ['temperature 21.5']);
    assertLinesInOrder(text, ['# TYPE jobs_total counter', 'jobs_total 2']);
    assertLinesInOrder(text, ['size_bytes_bucket{le="100.0"} 1', 'size_bytes_bucket{le="+Inf"} 1', 'size_bytes_count 1']);
    assert.ok(!text.includes('pid='), text);
  });
});
