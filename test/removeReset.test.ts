// remove(), reset() and clear() in multiprocess mode: a removed series leaves this process's
// file (the file is written anew and renamed over the old one), so it leaves the merge as far
// as this process contributed it, while readers (ours, and a Python-style reader) never see a
// broken or missing file, and a counter goes back by exactly this process's share.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Counter, FileStore, Gauge, Histogram, MemoryStore, MetricConfigurationError, Summary, collectDirectory, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { collectStore } from '../packages/prom-multiproc/src/scrape/collector.js';
import { readEntries } from '../packages/prom-multiproc/src/format/format.js';
import { repoRoot } from './helpers/fixtures.js';

const WRITER = fileURLToPath(new URL('./helpers/removeWriter.ts', import.meta.url));

const dirs: string[] = [];
const stores: FileStore[] = [];
after(() => {
  for (const store of stores) store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-remove-'));
  dirs.push(dir);
  return dir;
}

function store(dir: string, identity: string): FileStore {
  const opened = new FileStore({ dir, identity });
  stores.push(opened);
  return opened;
}

/** name{labels} → value, labels sorted, the collector's own families left out. */
function samples(families: MetricFamily[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const family of families) {
    for (const sample of family.samples) {
      const labels = Object.keys(sample.labels).sort().map((name) => `${name}=${sample.labels[name]}`).join(',');
      out[`${sample.name}{${labels}}`] = sample.value;
    }
  }
  return out;
}

async function scrape(dir: string): Promise<Record<string, number>> {
  const { families, skipped } = await collectDirectory(dir);
  assert.deepEqual(skipped, []);
  return samples(families);
}

/**
 * Reads a file the way the reference client's reader does, in Python: `used`, then each entry
 * (length, key, space padding to 8 bytes, value, timestamp), the key as JSON. Written from the
 * format description, with the standard library only.
 */
const PYTHON_READER = `
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
used = struct.unpack_from('i', data, 0)[0]
pos, out = 8, []
while pos < used:
    n = struct.unpack_from('i', data, pos)[0]
    key = data[pos + 4:pos + 4 + n].decode('utf-8')
    pos += 4 + n + (8 - (n + 4) % 8)
    value, timestamp = struct.unpack_from('dd', data, pos)
    pos += 16
    out.append([json.loads(key), value])
print(json.dumps(out))
`;

function readWithPython(file: string): [string[], number][] {
  const result = spawnSync('python3', ['-c', PYTHON_READER, file], { encoding: 'utf8' });
  assert.equal(result.status, 0, `python3: ${result.error?.message ?? result.stderr}`);
  return (JSON.parse(result.stdout) as [unknown[], number][]).map(([key, value]) => [[key[0] as string, key[1] as string, JSON.stringify(key[2])], value]);
}

describe('remove(), reset() and clear() in multiprocess mode', { timeout: 120_000 }, () => {
  it('remove() takes one label set of one process out of the merge; the counter drops by exactly that share', async () => {
    const dir = tempDir();
    const [a, b] = [store(dir, 'a'), store(dir, 'b')];
    const counters = [a, b].map((s) => new Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['queue'], store: s, registers: [] }));
    counters[0]!.inc({ queue: 'x' }, 2);
    counters[0]!.inc({ queue: 'y' }, 3);
    counters[1]!.inc({ queue: 'x' }, 5);
    a.flush();
    b.flush();
    assert.equal((await scrape(dir))['jobs_total{queue=x}'], 7);

    const held = counters[0]!.labels('x');
    counters[0]!.remove('x');
    held.inc(100); // a child obtained before the removal counts in memory only
    a.flush();
    const after = await scrape(dir);
    assert.equal(after['jobs_total{queue=x}'], 5, "only process b's share is left");
    assert.equal(after['jobs_total{queue=y}'], 3);

    counters[0]!.labels('x').inc(); // the label set again: a new series of a, from 0
    a.flush();
    assert.equal((await scrape(dir))['jobs_total{queue=x}'], 6);
    assert.equal(counters[0]!.labels({ queue: 'x' }) === held, false);
  });

  it('remove() of a histogram or summary label set takes every sample of it; a gauge\'s pid series goes', async () => {
    const dir = tempDir();
    const a = store(dir, 'a');
    const histogram = new Histogram({ name: 'h', help: 'h', labelNames: ['k'], buckets: [1], store: a, registers: [] });
    const summary = new Summary({ name: 's', help: 's', labelNames: ['k'], store: a, registers: [] });
    const gauge = new Gauge({ name: 'g', help: 'g', labelNames: ['k'], store: a, registers: [] });
    for (const k of ['gone', 'kept']) {
      histogram.observe({ k }, 0.5);
      summary.observe({ k }, 2);
      gauge.set({ k }, 1);
    }
    histogram.remove('gone');
    summary.remove({ k: 'gone' });
    gauge.remove('gone');
    a.flush();
    assert.deepEqual(Object.keys(await scrape(dir)).filter((key) => key.includes('gone')), []);
    assert.deepEqual(await scrape(dir), {
      'h_sum{k=kept}': 0.5, 'h_bucket{k=kept,le=1.0}': 1, 'h_bucket{k=kept,le=+Inf}': 1, 'h_count{k=kept}': 1,
      's_count{k=kept}': 1, 's_sum{k=kept}': 2, 'g{k=kept,pid=a}': 1,
    });
  });

  it('writes the file a fresh writer of the surviving series would write, readable by a Python-style reader', () => {
    const dir = tempDir();
    const [a, fresh] = [store(dir, 'a'), store(dir, 'fresh')];
    const make = (s: FileStore) => new Counter({ name: 'c', help: 'Help "quoted" \u00e9.', labelNames: ['k'], store: s, registers: [] });
    const ours = make(a);
    const reference = make(fresh);
    for (const k of ['one', 'two', 'three', 'four']) ours.inc({ k }, k.length);
    a.flush();
    ours.remove('two');
    ours.inc({ k: 'four' }, 0.5); // pending when nothing else is: written by the next flush
    ours.remove({ k: 'one' });
    a.flush();
    for (const k of ['three', 'four']) reference.inc({ k }, k.length);
    reference.inc({ k: 'four' }, 0.5);
    fresh.flush();
    const rewritten = readFileSync(path.join(dir, 'counter_a.db'));
    assert.ok(rewritten.equals(readFileSync(path.join(dir, 'counter_fresh.db'))), 'byte for byte');
    assert.deepEqual(readWithPython(path.join(dir, 'counter_a.db')), [
      [['c', 'c_total', '{"k":"three"}'], 5],
      [['c', 'c_total', '{"k":"four"}'], 4.5],
    ]);
  });

  it('reset() removes every series of the metric from this process, those of an earlier run of the identity too', async () => {
    const dir = tempDir();
    const first = new FileStore({ dir, identity: 'w' });
    new Counter({ name: 'r_total', help: 'h', labelNames: ['k'], store: first, registers: [] }).inc({ k: 'old' }, 9);
    new Counter({ name: 'other_total', help: 'h', store: first, registers: [] }).inc(4);
    first.close();

    const restarted = store(dir, 'w');
    const counter = new Counter({ name: 'r_total', help: 'h', labelNames: ['k'], store: restarted, registers: [] });
    const unlabelled = new Gauge({ name: 'u', help: 'h', multiprocessMode: 'max', store: restarted, registers: [] });
    const other = new Counter({ name: 'other_total', help: 'h', store: restarted, registers: [] });
    counter.inc({ k: 'new' }, 1);
    unlabelled.set(8);
    restarted.flush();
    assert.deepEqual(await scrape(dir), { 'r_total{k=old}': 9, 'r_total{k=new}': 1, 'other_total{}': 4, 'u{}': 8 });
    counter.reset();
    unlabelled.reset();
    restarted.flush();
    assert.deepEqual(await scrape(dir), { 'other_total{}': 4, 'u{}': 0 });
    counter.clear(); // Python's name; nothing left to remove
    counter.inc({ k: 'new' }, 2);
    other.inc();
    restarted.flush();
    assert.deepEqual(await scrape(dir), { 'r_total{k=new}': 2, 'other_total{}': 5, 'u{}': 0 });
    assert.deepEqual(readEntries(readFileSync(path.join(dir, 'counter_w.db'))).map((entry) => entry.value), [5, 2]);
  });

  it('works alike in single-process mode, and refuses what has no label set to remove', () => {
    const memory = new MemoryStore();
    const counter = new Counter({ name: 'm_total', help: 'h', labelNames: ['k'], store: memory, registers: [] });
    counter.inc({ k: 'a' }, 1);
    counter.inc({ k: 'b' }, 2);
    counter.remove('a');
    assert.deepEqual(samples(collectStore(memory).families), { 'm_total{k=b}': 2 });
    counter.reset();
    assert.deepEqual(samples(collectStore(memory).families), {});
    assert.throws(() => new Counter({ name: 'n_total', help: 'h', store: memory, registers: [] }).remove(), MetricConfigurationError);
    assert.throws(() => counter.remove('a', 'b'), /takes 1 label value/);
  });

  it('while a writer process removes and re-adds series, concurrent scrapes never fail and never lose a series it keeps', async () => {
    const dir = tempDir();
    const rounds = 150;
    const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, String(rounds)], {
      cwd: repoRoot,
      env: { ...process.env, PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: 'writer' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    writer.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    let running = true;
    void exited.then(() => (running = false));
    let scrapes = 0;
    let lastSteady = 0;
    while (running) {
      const seen = await scrape(dir); // asserts no file was skipped
      const steady = seen['churn_events_total{series=steady}'];
      if (steady !== undefined) {
        assert.ok(steady >= lastSteady, `the kept counter went back from ${lastSteady} to ${steady}`);
        assert.equal(seen['churn_sizes_count{series=steady}'], seen['churn_sizes_bucket{le=10.0,series=steady}']);
        lastSteady = steady;
        scrapes++;
      } else {
        assert.equal(lastSteady, 0, 'a kept series vanished from a scrape');
      }
    }
    assert.equal(await exited, 0, stderr);
    assert.ok(scrapes >= 10, `only ${scrapes} scrapes overlapped the writer`);
    const final = await scrape(dir);
    assert.equal(final['churn_events_total{series=steady}'], rounds);
    for (let i = 0; i < 5; i++) {
      const value = final[`churn_events_total{series=churn${i}}`];
      // Removed every round: only the last round's increment is left; the others keep the sum.
      assert.equal(value, i % 2 === 0 ? undefined : (rounds * (rounds + 1)) / 2, `churn${i}`);
    }
    assert.deepEqual(readdirSync(dir).sort(), ['counter_writer.db', 'gauge_livesum_writer.db', 'histogram_writer.db']);
  });
});
