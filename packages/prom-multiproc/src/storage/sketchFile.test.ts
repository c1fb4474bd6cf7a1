import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { entryKey } from '../format/pythonJson.js';
import { setProblemReporter } from '../common/report.js';
import { decodeQuantileFile } from '../sketch/quantileFile.js';
import { SlidingWindow } from '../sketch/slidingWindow.js';
import { QuantileFileWriter, quantileFileWriter, type QuantileSeriesSource } from './sketchFile.js';
import { readDirectoryQuantiles } from '../scrape/sketchFileReader.js';

const KEY = entryKey('job_seconds', 'job_seconds_count', ['queue'], ['mail'], 'Job time');
const OTHER = entryKey('job_seconds', 'job_seconds_count', ['queue'], ['sms'], 'Job time');

const dirs: string[] = [];
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'pm-quantile-file-'));
  dirs.push(dir);
  return dir;
}

const reports: string[] = [];
before(() => setProblemReporter((error) => reports.push(error.message)));
after(() => {
  setProblemReporter(undefined);
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const writers: QuantileFileWriter[] = [];
afterEach(() => {
  for (const writer of writers.splice(0)) writer.close();
});

function writerFor(dir: string, identity: string, writeIntervalMs = 60_000): QuantileFileWriter {
  const writer = quantileFileWriter({ dir, identity, writeIntervalMs });
  writers.push(writer);
  return writer;
}

/** A series source over a window, as a summary's quantiles are. */
function seriesOf(key: string, values: readonly number[], options: { maxAgeSeconds?: number; ageBuckets?: number } = {}): QuantileSeriesSource & { window: SlidingWindow } {
  const window = new SlidingWindow(options);
  for (const value of values) window.observe(value);
  return { window, record: () => ({ key, percentiles: [0.5, 0.99], maxAgeMs: window.maxAgeMs, slots: window.liveSlots() }) };
}

function recordsIn(file: string): { key: string; count: number }[] {
  return decodeQuantileFile(fs.readFileSync(file)).records.map((record) => ({
    key: record.key,
    count: record.slots.reduce((sum, slot) => sum + slot.sketch.count, 0),
  }));
}

describe('QuantileFileWriter', () => {
  it('writes the whole file through a temporary name and a rename, owner and group only', () => {
    const dir = scratch();
    const writer = writerFor(dir, 'w1');
    writer.register(KEY, seriesOf(KEY, [1, 2, 3]));
    writer.flush();
    assert.deepEqual(fs.readdirSync(dir), ['quantiles_w1.pmq']);
    assert.equal(fs.statSync(writer.path).mode & 0o777, 0o640);
    assert.deepEqual(recordsIn(writer.path), [{ key: KEY, count: 3 }]);
    const inode = fs.statSync(writer.path).ino;
    writer.register(OTHER, seriesOf(OTHER, [4]));
    writer.flush();
    assert.notEqual(fs.statSync(writer.path).ino, inode, 'a new file renamed over the old, not a rewrite in place');
    assert.deepEqual(recordsIn(writer.path), [{ key: KEY, count: 3 }, { key: OTHER, count: 1 }]);
    writer.unregister(KEY);
    writer.flush();
    assert.deepEqual(recordsIn(writer.path), [{ key: OTHER, count: 1 }]);
    assert.deepEqual(fs.readdirSync(dir), ['quantiles_w1.pmq']);
  });

  it('writes at most once per interval however often the series change', async () => {
    const dir = scratch();
    const interval = 100;
    const writer = writerFor(dir, 'w2', interval);
    const series = seriesOf(KEY, []);
    writer.register(KEY, series);
    const started = performance.now();
    let observed = 0;
    while (performance.now() - started < 6 * interval) {
      series.window.observe(++observed);
      writer.changed();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const elapsed = performance.now() - started;
    // Timers may fire late on a busy machine, never early: writes can only be fewer.
    assert.ok(writer.writes <= Math.floor(elapsed / interval) + 1, `${writer.writes} writes in ${elapsed} ms`);
    assert.ok(writer.writes >= 2, `${writer.writes} writes in ${elapsed} ms`);
    await sleep(interval * 3);
    assert.deepEqual(recordsIn(writer.path), [{ key: KEY, count: observed }], 'the last change is written within an interval');
  });

  it('a process taking an identity over adopts its file; unwindowed records of a series stay one however often it restarts', () => {
    const dir = scratch();
    for (let run = 1; run <= 4; run++) {
      const writer = quantileFileWriter({ dir, identity: 'w3', writeIntervalMs: 60_000 });
      writer.register(KEY, seriesOf(KEY, [run]));
      writer.close();
      const records = recordsIn(writer.path);
      assert.ok(records.length <= 2, `run ${run}: ${records.length} records`);
      assert.equal(records.reduce((sum, r) => sum + r.count, 0), run, `run ${run}: every run's observation is kept`);
    }
  });

  it('lets adopted windowed slots age out', () => {
    const dir = scratch();
    const clock = { now: 1_000_000 };
    const first = quantileFileWriter({ dir, identity: 'w4', now: () => clock.now });
    const window = new SlidingWindow({ maxAgeSeconds: 10, ageBuckets: 2, now: () => clock.now });
    window.observe(5);
    first.register(KEY, { record: () => ({ key: KEY, percentiles: [0.5], maxAgeMs: window.maxAgeMs, slots: window.liveSlots() }) });
    first.close();
    const second = quantileFileWriter({ dir, identity: 'w4', now: () => clock.now });
    writers.push(second);
    second.flush();
    assert.deepEqual(recordsIn(second.path), [{ key: KEY, count: 1 }]);
    clock.now += 10_001;
    second.changed();
    second.flush();
    assert.deepEqual(recordsIn(second.path), []);
  });

  it('starts a damaged file anew, reporting it', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'quantiles_w5.pmq'), 'PMQF garbage');
    const writer = writerFor(dir, 'w5');
    assert.ok(reports.some((r) => r.includes('quantiles_w5.pmq') && r.includes('left by an earlier process') && r.includes('version 32')), reports.join('\n'));
    writer.register(KEY, seriesOf(KEY, [1]));
    writer.flush();
    assert.deepEqual(recordsIn(writer.path), [{ key: KEY, count: 1 }]);
  });

  it('reports a failed write once, keeps the quantiles, and writes them when it can again', async () => {
    const dir = scratch();
    const writer = writerFor(dir, 'w6', 20);
    writer.register(KEY, seriesOf(KEY, [1, 2]));
    fs.rmSync(dir, { recursive: true });
    writer.flush();
    const failed = reports.filter((r) => r.includes('could not write') && r.includes('quantiles_w6.pmq'));
    assert.equal(failed.length, 1);
    await sleep(60); // a retry or two while the directory is gone: still one report
    assert.equal(reports.filter((r) => r.includes('could not write') && r.includes('quantiles_w6.pmq')).length, 1);
    fs.mkdirSync(dir);
    const deadline = Date.now() + 5000;
    while (!fs.existsSync(writer.path) && Date.now() < deadline) await sleep(10);
    assert.deepEqual(recordsIn(writer.path), [{ key: KEY, count: 2 }]);
  });

  it('refuses an identity that cannot name a file', () => {
    assert.throws(() => new QuantileFileWriter({ dir: scratch(), identity: 'a_b' }), /cannot name a quantile file/);
  });
});

describe('readDirectoryQuantiles', () => {
  it('merges every side file of the directory and leaves a damaged or unsafe one out, naming it', async () => {
    const dir = scratch();
    for (const [identity, values] of [['p1', [1, 2, 3]], ['p2', [10, 20]]] as const) {
      const writer = writerFor(dir, identity);
      writer.register(KEY, seriesOf(KEY, values));
      writer.flush();
    }
    fs.writeFileSync(path.join(dir, 'quantiles_p3.pmq'), Buffer.from('PMQF\u0001 not really'));
    fs.symlinkSync(path.join(dir, 'quantiles_p1.pmq'), path.join(dir, 'quantiles_p4.pmq'));
    fs.writeFileSync(path.join(dir, 'quantiles_p5.db'), 'not ours');
    fs.writeFileSync(path.join(dir, 'counter_p1.db'), '');
    const before = reports.length;
    const { series, skipped, filesMerged } = await readDirectoryQuantiles(dir);
    assert.equal(filesMerged, 2);
    const merged = series.get(KEY)!;
    assert.equal(merged.count, 5);
    assert.deepEqual(merged.percentiles, [0.5, 0.99]);
    assert.ok(Math.abs(merged.values[0]! - 3) <= 0.03, `median ${merged.values[0]}`);
    assert.deepEqual(skipped.map((s) => [path.basename(s.file), s.damaged]), [['quantiles_p3.pmq', true], ['quantiles_p4.pmq', false]]);
    const newReports = reports.slice(before);
    assert.equal(newReports.length, 2);
    assert.match(newReports[0]!, /quantiles_p3\.pmq out of the summary quantiles: quantile file: truncated/);
    assert.match(newReports[1]!, /quantiles_p4\.pmq out of the summary quantiles: .*ELOOP/);
  });

  it('has nothing to merge in a directory without side files', async () => {
    const { series, skipped } = await readDirectoryQuantiles(scratch());
    assert.equal(series.size, 0);
    assert.deepEqual(skipped, []);
  });

  it('merges a single value exactly', async () => {
    const dir = scratch();
    const writer = writerFor(dir, 'p1');
    writer.register(KEY, seriesOf(KEY, [0.25]));
    writer.flush();
    assert.deepEqual((await readDirectoryQuantiles(dir)).series.get(KEY)!.values, [0.25, 0.25]);
  });
});
