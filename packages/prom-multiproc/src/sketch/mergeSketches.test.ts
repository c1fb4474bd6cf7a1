import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { entryKey } from '../format/pythonJson.js';
import { encodeQuantileFile, type QuantileRecord } from './quantileFile.js';
import { mergeQuantileFiles } from './mergeSketches.js';
import { QuantileSketch } from './quantileSketch.js';
import { interpolate } from './quantileSketch.js';

const KEY = entryKey('rpc_seconds', 'rpc_seconds_count', ['method'], ['get'], 'RPC latency');
const OTHER = entryKey('rpc_seconds', 'rpc_seconds_count', ['method'], ['put'], 'RPC latency');
const PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const NOW = 1_700_000_000_000;

function sketchOf(values: readonly number[], relativeAccuracy?: number): QuantileSketch {
  const sketch = new QuantileSketch({ relativeAccuracy });
  for (const value of values) sketch.add(value);
  return sketch;
}

function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const h = Math.min(Math.max(q * sorted.length - 0.5, 0), sorted.length - 1);
  const lower = Math.floor(h);
  return h === lower ? sorted[lower]! : interpolate(sorted[lower]!, sorted[lower + 1]!, h - lower);
}

function file(records: QuantileRecord[]): Uint8Array {
  return encodeQuantileFile({ writtenAtMs: NOW, records });
}

function record(key: string, slots: { startMs: number; values: number[] }[], maxAgeMs = 0, percentiles = PERCENTILES): QuantileRecord {
  return { key, percentiles, maxAgeMs, slots: slots.map((slot) => ({ startMs: slot.startMs, sketch: sketchOf(slot.values) })) };
}

describe('mergeQuantileFiles', () => {
  it('merges every process\'s observations: within 1% of the exact quantiles of the union (property)', () => {
    const latencies = fc.array(fc.double({ min: -12, max: 4, noNaN: true }).map(Math.exp), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(fc.array(latencies, { minLength: 1, maxLength: 6 }), (processes) => {
        const sources = processes.map((values, i) => ({ file: `quantiles_${i}.pmq`, bytes: file([record(KEY, [{ startMs: NOW, values }])]) }));
        const { series, problems, filesMerged } = mergeQuantileFiles(sources, NOW);
        assert.deepEqual(problems, []);
        assert.equal(filesMerged, processes.length);
        const merged = series.get(KEY)!;
        const union = processes.flat();
        assert.equal(merged.count, union.length);
        assert.deepEqual(merged.percentiles, PERCENTILES);
        for (const [i, q] of PERCENTILES.entries()) {
          const exact = exactQuantile(union, q);
          assert.ok(Math.abs(merged.values[i]! - exact) <= 0.01 * exact * (1 + 1e-9), `q=${q}: ${merged.values[i]} vs ${exact}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('keeps only the slots still in each series\' window at the scrape', () => {
    const windowed = record(KEY, [
      { startMs: NOW - 600_001, values: [1000] }, // older than the 10-minute window
      { startMs: NOW - 600_000, values: [1, 2] }, // exactly the window's age: still in, as in prom-client
      { startMs: NOW - 1_000, values: [3] },
    ], 600_000);
    const forever = record(OTHER, [{ startMs: 0, values: [7] }]);
    const { series } = mergeQuantileFiles([{ file: 'a', bytes: file([windowed, forever]) }], NOW);
    assert.equal(series.get(KEY)!.count, 3);
    assert.equal(series.get(KEY)!.values.at(-1), 3);
    assert.equal(series.get(OTHER)!.count, 1);
    // A dead process's observations age out: later, the series shows prom-client's empty window.
    const later = mergeQuantileFiles([{ file: 'a', bytes: file([windowed, forever]) }], NOW + 600_000).series;
    assert.deepEqual(later.get(KEY), { percentiles: PERCENTILES, values: PERCENTILES.map(() => 0), count: 0 });
    assert.equal(later.get(OTHER)!.count, 1);
  });

  it('leaves out a damaged file, naming it, and merges the others', () => {
    const good = file([record(KEY, [{ startMs: NOW, values: [1, 2, 3] }])]);
    const damaged = Buffer.from(file([record(KEY, [{ startMs: NOW, values: [1000, 2000] }])]));
    damaged[damaged.length - 2]! ^= 0x40; // in the file's checksum
    const truncated = good.subarray(0, 20);
    const { series, problems, filesMerged } = mergeQuantileFiles([
      { file: '/m/quantiles_1.pmq', bytes: good },
      { file: '/m/quantiles_2.pmq', bytes: damaged },
      { file: '/m/quantiles_3.pmq', bytes: truncated },
    ], NOW);
    assert.equal(filesMerged, 1);
    assert.equal(series.get(KEY)!.count, 3);
    assert.deepEqual(problems.map((p) => [p.file, p.fileLeftOut]), [['/m/quantiles_2.pmq', true], ['/m/quantiles_3.pmq', true]]);
    assert.match(problems[0]!.reason, /checksum mismatch/);
    assert.match(problems[1]!.reason, /truncated/);
  });

  it('shows the percentiles every process asks for, and leaves out a series of another accuracy', () => {
    const a = file([record(KEY, [{ startMs: NOW, values: [1, 2] }], 0, [0.5, 0.9])]);
    const b = file([record(KEY, [{ startMs: NOW, values: [3] }], 0, [0.99, 0.5])]);
    const c = file([{ key: KEY, percentiles: [0.5], maxAgeMs: 0, slots: [{ startMs: NOW, sketch: sketchOf([100], 0.05) }] }]);
    const { series, problems } = mergeQuantileFiles([{ file: 'a', bytes: a }, { file: 'b', bytes: b }, { file: 'c', bytes: c }], NOW);
    assert.deepEqual(series.get(KEY)!.percentiles, [0.5, 0.9, 0.99]);
    assert.equal(series.get(KEY)!.count, 3);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, 'c');
    assert.equal(problems[0]!.fileLeftOut, false);
    assert.match(problems[0]!.reason, /relative accuracy 0.05 there and 0.01 in other files/);
  });

  it('takes the accuracy of the first record that has slots', () => {
    const empty = file([{ key: KEY, percentiles: [0.5], maxAgeMs: 1000, slots: [] }]);
    const coarse = file([{ key: KEY, percentiles: [0.5], maxAgeMs: 0, slots: [{ startMs: NOW, sketch: sketchOf([100], 0.05) }] }]);
    const { series, problems } = mergeQuantileFiles([{ file: 'a', bytes: empty }, { file: 'b', bytes: coarse }], NOW);
    assert.deepEqual(problems, []);
    assert.equal(series.get(KEY)!.values[0], 100);
  });
});
