import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry, Summary } from 'prom-client';
import { entryKey } from '../format/pythonJson.js';
import { quantileFileWriter } from './sketchFile.js';
import { readDirectoryQuantiles } from '../scrape/sketchFileReader.js';
import { DEFAULT_PERCENTILES, SummaryQuantiles, checkPercentiles, quantileKey } from './summaryQuantiles.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'pm-summary-quantiles-'));
  dirs.push(dir);
  return dir;
}

const KEY = quantileKey('http_seconds', ['route'], ['/a'], 'HTTP time');

describe('SummaryQuantiles', () => {
  it('files quantiles under the key of the series\' _count sample', () => {
    assert.equal(KEY, entryKey('http_seconds', 'http_seconds_count', ['route'], ['/a'], 'HTTP time'));
  });

  it('in memory, answers as prom-client does, within 1%, with prom-client\'s default percentiles', async () => {
    // Distinct and fewer than 200, so that prom-client's t-digest keeps them exactly.
    const values = Array.from({ length: 150 }, (_, i) => ((i * 7919) % 150) / 100 + 0.001);
    const ours = new SummaryQuantiles(undefined, KEY);
    const theirs = new Summary({ name: 'reference', help: 'h', registers: [new Registry()] });
    for (const value of values) {
      ours.observe(value);
      theirs.observe(value);
    }
    assert.deepEqual(ours.percentiles, DEFAULT_PERCENTILES);
    const reference = (await theirs.get()).values.filter((v) => v.labels.quantile !== undefined).map((v) => v.value);
    for (const [i, value] of ours.values().entries()) {
      assert.ok(Math.abs(value - reference[i]!) <= 0.01 * reference[i]! + 1e-12, `q=${ours.percentiles[i]}: ${value} vs ${reference[i]}`);
    }
    assert.equal(ours.windowCount(), 150);
  });

  it('shows 0 for every percentile when its window is empty, as prom-client does', () => {
    const clock = { now: 0 };
    const quantiles = new SummaryQuantiles(undefined, KEY, { percentiles: [0.5, 0.9], maxAgeSeconds: 60, ageBuckets: 3, now: () => clock.now });
    assert.deepEqual(quantiles.values(), [0, 0]);
    quantiles.observe(4);
    assert.deepEqual(quantiles.values(), [4, 4]);
    clock.now = 60_001;
    assert.deepEqual(quantiles.values(), [0, 0]);
    quantiles.observe(2);
    quantiles.reset();
    assert.deepEqual(quantiles.values(), [0, 0]);
  });

  it('refuses percentiles outside 0..1 and values prom-client rejects', () => {
    assert.throws(() => checkPercentiles([0.5, 1.5]), /a percentile is a number from 0 to 1, not 1.5/);
    assert.throws(() => checkPercentiles([NaN]), RangeError);
    assert.deepEqual(checkPercentiles([]), []);
    const quantiles = new SummaryQuantiles(undefined, KEY);
    assert.throws(() => quantiles.observe(Infinity), RangeError);
    assert.throws(() => quantiles.observe(NaN), RangeError);
  });

  it('with a directory, writes to the process\'s side file, which the scrape merges; remove() takes the series out', async () => {
    const dir = scratch();
    const target = { dir, identity: 'sq1', writeIntervalMs: 60_000 };
    const a = new SummaryQuantiles(target, KEY, { percentiles: [0.5] });
    const otherKey = quantileKey('http_seconds', ['route'], ['/b'], 'HTTP time');
    const b = new SummaryQuantiles(target, otherKey, { percentiles: [0.5] });
    a.observe(1);
    a.observe(3);
    b.observe(10);
    const writer = quantileFileWriter(target);
    writer.flush();
    let { series } = await readDirectoryQuantiles(dir);
    assert.deepEqual([...series.keys()].sort(), [KEY, otherKey].sort());
    assert.equal(series.get(KEY)!.count, 2);
    assert.deepEqual(series.get(otherKey)!.values, [10]);
    b.remove();
    b.observe(11); // counted in memory only now
    writer.flush();
    ({ series } = await readDirectoryQuantiles(dir));
    assert.deepEqual([...series.keys()], [KEY]);
    writer.close();
  });

  it('reset() forgets what a predecessor of the identity left too', async () => {
    const dir = scratch();
    const target = { dir, identity: 'sq2', writeIntervalMs: 60_000 };
    const first = new SummaryQuantiles(target, KEY);
    first.observe(1);
    quantileFileWriter(target).close();
    const second = new SummaryQuantiles(target, KEY);
    second.observe(2);
    const writer = quantileFileWriter(target);
    writer.flush();
    assert.equal((await readDirectoryQuantiles(dir)).series.get(KEY)!.count, 2);
    second.reset();
    writer.flush();
    assert.equal((await readDirectoryQuantiles(dir)).series.get(KEY)!.count, 0);
    writer.close();
  });
});
