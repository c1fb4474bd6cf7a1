// The golden files of Python prometheus_client 0.25: our collector must merge them to the
// families its collector produced, and replaying its operations through our API must write
// the same bytes.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  Counter, FileStore, Gauge, Histogram, PYTHON_DEFAULT_BUCKETS, Summary, collectDirectory, markProcessDead, type GaugeMode, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { parsePythonFloat } from '../packages/prom-multiproc/src/format/pythonFloat.js';
import { fixturesDir, readExpected, readOps, scenarios, type ExpectedFamily, type Op, type OpMetric } from './helpers/fixtures.js';

function sampleKey(sample: { name: string; labels: Record<string, string> }): string {
  const labels = Object.entries(sample.labels)
    .map(([name, value]) => [name, name === 'le' ? String(parsePythonFloat(value)) : value])
    .sort(([a], [b]) => (a! < b! ? -1 : 1));
  return `${sample.name}${JSON.stringify(labels)}`;
}

function assertSameFamilies(actual: MetricFamily[], expected: ExpectedFamily[], scenario: string): void {
  const byName = new Map(actual.map((family) => [family.name, family]));
  assert.deepEqual([...byName.keys()].sort(), expected.map((family) => family.name).sort(), `${scenario}: family names`);
  for (const want of expected) {
    const got = byName.get(want.name)!;
    assert.equal(got.type, want.type, `${scenario}/${want.name}: type`);
    assert.equal(got.help, want.help, `${scenario}/${want.name}: help`);
    const gotSamples = new Map(got.samples.map((sample) => [sampleKey(sample), sample.value]));
    assert.equal(gotSamples.size, got.samples.length, `${scenario}/${want.name}: duplicate samples`);
    assert.deepEqual([...gotSamples.keys()].sort(), want.samples.map(sampleKey).sort(), `${scenario}/${want.name}: samples`);
    for (const sample of want.samples) {
      const value = gotSamples.get(sampleKey(sample))!;
      // Sums of floats may differ in the last bit with the order files are read in.
      const tolerance = Math.abs(sample.value) * 1e-12;
      assert.ok(Math.abs(value - sample.value) <= tolerance, `${scenario}/${sampleKey(sample)}: ${value} != ${sample.value}`);
    }
  }
}

type AnyMetric = Counter | Gauge | Histogram | Summary;

function createMetric(metric: OpMetric, store: FileStore): AnyMetric {
  // Each scenario replays its own process: its metrics join no registry.
  const config = { name: metric.name, help: metric.help, labelNames: metric.labelNames ?? [], store, registers: [] };
  switch (metric.type) {
    case 'counter': return new Counter(config);
    case 'gauge': return new Gauge({ ...config, multiprocessMode: (metric.mode ?? 'all') as GaugeMode });
    // Python's default bounds where the fixture gave none: the files were written by Python.
    case 'histogram': return new Histogram({ ...config, buckets: metric.buckets ?? PYTHON_DEFAULT_BUCKETS });
    case 'summary': return new Summary(config);
  }
}

/** Applies the operations through the public API, one store per process identity. */
function replay(ops: Op[], dir: string): void {
  let now = 0;
  const stores = new Map<number, FileStore>();
  const metrics = new Map<string, AnyMetric>();
  for (const op of ops) {
    if (op.op === 'mark_process_dead') {
      stores.get(op.pid)?.flush();
      markProcessDead(op.pid, dir);
      continue;
    }
    let store = stores.get(op.pid);
    if (store === undefined) {
      store = new FileStore({ dir, identity: op.pid, now: () => now });
      stores.set(op.pid, store);
    }
    const spec = op.metric!;
    const metricKey = `${op.pid}/${spec.name}`;
    let metric = metrics.get(metricKey);
    if (metric === undefined) {
      metric = createMetric(spec, store);
      metrics.set(metricKey, metric);
    }
    const child = (metric.labelNames.length > 0 ? metric.labels(op.labels ?? {}) : metric.labels()) as {
      inc?(v: number): void; dec?(v: number): void; set?(v: number): void; observe?(v: number): void;
    };
    now = op.timestamp ?? 0;
    const value = op.value!;
    switch (op.op) {
      case 'inc': child.inc!(value); break;
      case 'dec': child.dec!(value); break;
      case 'set': child.set!(value); break;
      case 'observe': child.observe!(value); break;
    }
    // Python writes through on every call; flushing here also keeps the order of deletes and writes.
    store.flush();
  }
  for (const store of stores.values()) store.close();
}

describe('golden files of the Python client', () => {
  const all = scenarios();
  it('has the scenarios the fixtures README lists', () => {
    for (const name of ['counters', 'gauges', 'growth', 'histograms', 'http_seed', 'padding', 'summaries']) {
      assert.ok(all.includes(name), `scenario ${name} missing from ${fixturesDir()}`);
    }
  });

  for (const scenario of all) {
    describe(scenario, () => {
      const filesDir = path.join(fixturesDir(), scenario, 'files');

      it('merges files/ to the families of expected.json', async () => {
        const collection = await collectDirectory(filesDir);
        assert.deepEqual(collection.skipped, []);
        assertSameFamilies(collection.families, readExpected(scenario), scenario);
      });

      it('replaying ops.jsonl writes files byte-identical to files/', () => {
        const ops = readOps(scenario);
        assert.ok(ops.length > 0, `${scenario} has no ops.jsonl`);
        const dir = mkdtempSync(path.join(tmpdir(), `golden-${scenario}-`));
        try {
          replay(ops, dir);
          const expectedNames = readdirSync(filesDir).sort();
          assert.deepEqual(readdirSync(dir).sort(), expectedNames);
          for (const name of expectedNames) {
            const ours = readFileSync(path.join(dir, name));
            const theirs = readFileSync(path.join(filesDir, name));
            assert.equal(ours.length, theirs.length, `${scenario}/${name}: size`);
            const firstDifference = ours.findIndex((byte, i) => byte !== theirs[i]);
            assert.equal(firstDifference, -1, `${scenario}/${name}: first differing byte at offset ${firstDifference}`);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
