import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { entryKey } from '../format/pythonJson.js';
import { SketchFormatError } from './bytes.js';
import { decodeQuantileFile, encodeQuantileFile, type QuantileFileContents } from './quantileFile.js';
import { QuantileSketch } from './quantileSketch.js';

function sketchOf(values: readonly number[]): QuantileSketch {
  const sketch = new QuantileSketch();
  for (const value of values) sketch.add(value);
  return sketch;
}

const key = fc
  .tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.array(fc.tuple(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 })), { maxLength: 3 }))
  .map(([name, labels]) => entryKey(name, `${name}_count`, labels.map(([n]) => n), labels.map(([, v]) => v), 'help ünïcode'));
const record = fc.record({
  key,
  percentiles: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
  maxAgeMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3_600_000 })),
  slots: fc.array(
    fc.record({ startMs: fc.integer({ min: 0, max: 2e12 }), values: fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { maxLength: 30 }) }),
    { maxLength: 5 },
  ),
});
const contents = fc.record({ writtenAtMs: fc.integer({ min: 0, max: 2e12 }), records: fc.array(record, { maxLength: 5 }) }).map(
  ({ writtenAtMs, records }): QuantileFileContents => ({
    writtenAtMs,
    records: records.map((r) => ({ ...r, slots: r.slots.map((slot) => ({ startMs: slot.startMs, sketch: sketchOf(slot.values) })) })),
  }),
);

function sample(): Buffer {
  return encodeQuantileFile({
    writtenAtMs: 1_700_000_000_123,
    records: [
      { key: entryKey('rpc_seconds', 'rpc_seconds_count', ['method'], ['get'], 'RPC latency'), percentiles: [0.5, 0.99], maxAgeMs: 600_000, slots: [{ startMs: 1_700_000_000_000, sketch: sketchOf([0.1, 0.2, 3]) }] },
      { key: entryKey('size_bytes', 'size_bytes_count', [], [], 'Sizes'), percentiles: [0.9], maxAgeMs: 0, slots: [{ startMs: 1, sketch: sketchOf([10, 2000]) }] },
    ],
  });
}

describe('quantile file', () => {
  it('decodes what it encodes, and encodes it again byte for byte (property)', () => {
    fc.assert(
      fc.property(contents, (written) => {
        const bytes = encodeQuantileFile(written);
        const read = decodeQuantileFile(bytes);
        assert.equal(read.writtenAtMs, written.writtenAtMs);
        assert.deepEqual(read.records.map((r) => [r.key, r.percentiles, r.maxAgeMs, r.slots.map((s) => s.startMs)]),
          written.records.map((r) => [r.key, r.percentiles, r.maxAgeMs, r.slots.map((s) => s.startMs)]));
        assert.deepEqual(encodeQuantileFile(read), bytes);
      }),
      { numRuns: 150 },
    );
  });

  it('throws a SketchFormatError for every truncation and every flipped bit, never returning records', () => {
    const bytes = sample();
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => decodeQuantileFile(bytes.subarray(0, length)), (error: unknown) =>
        error instanceof SketchFormatError && /^quantile file: .*(truncated|checksum mismatch|not a quantile file)/.test(error.message));
    }
    for (let byte = 0; byte < bytes.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(bytes);
        damaged[byte]! ^= 1 << bit;
        assert.throws(() => decodeQuantileFile(damaged), SketchFormatError, `byte ${byte} bit ${bit}`);
      }
    }
  });

  it('names what is wrong', () => {
    assert.throws(() => decodeQuantileFile(Buffer.from('counter file, not ours')), /quantile file: does not start with "PMQF" \(found "coun"\): not a quantile file/);
    const future = sample();
    future[4] = 9;
    assert.throws(() => decodeQuantileFile(future), /quantile file: version 9, this library reads version 1/);
    assert.throws(() => decodeQuantileFile(Buffer.concat([sample(), Buffer.from([1, 2])])), /quantile file: 2 unexpected bytes after the end/);
    const badKey = encodeQuantileFile({ writtenAtMs: 0, records: [{ key: 'not json', percentiles: [], maxAgeMs: 0, slots: [] }] });
    assert.throws(() => decodeQuantileFile(badKey), /quantile file: record 1 of 1: the key is not a series key/);
    const badQuantile = encodeQuantileFile({ writtenAtMs: 0, records: [{ key: entryKey('a', 'a_count', [], [], 'h'), percentiles: [1.5], maxAgeMs: 0, slots: [] }] });
    assert.throws(() => decodeQuantileFile(badQuantile), /record 1 of 1: percentile 1 is 1.5, not from 0 to 1/);
  });
});
