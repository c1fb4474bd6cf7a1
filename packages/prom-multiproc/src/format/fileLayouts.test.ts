// Reading files along the layout of one decoded before (FileLayouts) gives exactly what
// decodeFile gives, whatever the files: rotated or reordered keys, keys added or missing,
// values of any bits, and damage (the same error); the bytes read are left as they were.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseFileName, type ParsedFileName } from './fileNames.js';
import { encodeFile } from './format.js';
import { decodeFile, type FileRecords } from './decode.js';
import { FileLayouts } from './fileLayouts.js';
import { entryKey } from './pythonJson.js';

const HISTOGRAM = (id: number): ParsedFileName => parseFileName(`histogram_${id}.db`)!;

function bucketKey(route: number, le: string): string {
  return entryKey('h', 'h_bucket', ['le', 'route'], [le, `/r${route}`], 'help');
}

/** A file's bytes in use, in memory of their own (as the scrape's read buffer is). */
function usedBytes(entries: { key: string; value: number; timestamp: number }[]): Buffer {
  const whole = encodeFile(entries);
  const used = whole.readInt32LE(0);
  const bytes = Buffer.allocUnsafeSlow(used);
  whole.copy(bytes, 0, 0, used);
  return bytes;
}

function plain(records: FileRecords | Error) {
  if (records instanceof Error) return records.message;
  return { keys: records.keys.map((key) => key.raw), values: [...records.values], timestamps: [...records.timestamps] };
}

function attempt(decode: () => FileRecords): FileRecords | Error {
  try {
    return decode();
  } catch (error) {
    return error as Error;
  }
}

const LES = ['0.1', '1.0', '+Inf'];
const allKeys = Array.from({ length: 30 }, (_, i) => bucketKey(Math.floor(i / LES.length), LES[i % LES.length]!));

describe('FileLayouts', () => {
  it('decodes rotated files along the first one, as decodeFile does', () => {
    const layouts = new FileLayouts();
    const cache = new Map();
    for (let id = 0; id < 6; id++) {
      const keys = [...allKeys.slice(id * 5), ...allKeys.slice(0, id * 5)];
      const bytes = usedBytes(keys.map((key, i) => ({ key, value: id * 100 + i, timestamp: 0 })));
      const before = Buffer.from(bytes);
      const records = layouts.decode(HISTOGRAM(id), bytes, cache);
      assert.deepEqual(plain(records), plain(decodeFile(HISTOGRAM(id), before, new Map())));
      if (id > 0) assert.ok(records.sameKeysAs !== undefined, 'a rotation holds the same keys');
      assert.ok(bytes.equals(before), 'the bytes are put back');
    }
    // One key left out: not the same keys.
    const fewer = usedBytes(allKeys.slice(1).map((key) => ({ key, value: 1, timestamp: 0 })));
    assert.equal(layouts.decode(HISTOGRAM(9), fewer, cache).sameKeysAs, undefined);
  });

  it('gives what decodeFile gives for any sequence of files, damaged ones included', () => {
    const entry = fc.record({
      key: fc.constantFrom(...allKeys),
      value: fc.oneof(fc.double(), fc.constant(Number.NaN)),
      timestamp: fc.constantFrom(0, 1.5),
    });
    // Mostly the same keys in runs of one order (rotated, a slice left out), as workers write them; or any keys.
    const value = fc.oneof(fc.double(), fc.constant(Number.NaN));
    const runs = fc.record({ rotation: fc.nat(29), from: fc.nat(29), left: fc.nat(8), values: fc.array(value, { minLength: 30, maxLength: 30 }) })
      .map(({ rotation, from, left, values }) => {
        const keys = [...allKeys.slice(rotation), ...allKeys.slice(0, rotation)];
        keys.splice(from, left);
        return keys.map((key, i) => ({ key, value: values[i]!, timestamp: 0 }));
      });
    const file = fc.record({
      entries: fc.oneof(runs, fc.array(entry, { minLength: 1, maxLength: 40 })),
      // A byte of the file to spoil (its key bytes or its framing), or none.
      damage: fc.option(fc.nat(), { nil: undefined }),
    });
    let sameKeysSeen = 0;
    const full = (keys: string[]) => keys.map((key, i) => ({ key, value: i, timestamp: 0 }));
    // The first file of each directory holds every key, as a layout that rotations match.
    fc.assert(fc.property(fc.array(file, { minLength: 1, maxLength: 8 }), (drawn) => {
      const files = [{ entries: full(allKeys), damage: undefined }, ...drawn];
      const layouts = new FileLayouts();
      const cache = new Map();
      files.forEach(({ entries, damage }, id) => {
        const bytes = usedBytes(entries);
        if (damage !== undefined) {
          const at = 8 + (damage % (bytes.length - 8));
          bytes[at] = bytes[at]! ^ 0x41;
        }
        const expected = attempt(() => decodeFile(HISTOGRAM(id), Buffer.from(bytes), new Map()));
        const before = Buffer.from(bytes);
        const records = attempt(() => layouts.decode(HISTOGRAM(id), bytes, cache));
        assert.deepEqual(plain(records), plain(expected));
        assert.ok(bytes.equals(before));
        if (!(records instanceof Error) && records.sameKeysAs !== undefined) {
          // Claimed to be another file's keys in another order: the same keys, as many times each.
          const sorted = (keys: readonly { raw: string }[]) => keys.map((key) => key.raw).sort();
          assert.deepEqual(sorted(records.keys), sorted(records.sameKeysAs));
          sameKeysSeen++;
        }
      });
    }), { numRuns: 300 });
    assert.ok(sameKeysSeen > 0, 'some files were found to hold the keys of another in another order');
  });
});
