// The byte layout: entry sizes and padding, round trips, growth, and what the reader does with
// bytes that are not a file of this format (it must throw FileFormatError, nothing else).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fixturesDir } from '../../../../test/helpers/fixtures.js';
import { oldFormatFile } from '../../../../test/helpers/oldFormat.js';
import {
  FileFormatError, HEADER_SIZE, INITIAL_FILE_SIZE, entrySize, grownCapacity, readEntries, readUsed, writeEntry, writeUsed,
  type Entry,
} from './format.js';

interface NewEntry {
  key: string;
  value: number;
  timestamp: number;
}

/** A file image holding `entries`, grown as the writer grows it. */
function fileWith(entries: readonly NewEntry[], capacity = INITIAL_FILE_SIZE): Buffer {
  const keys = entries.map((entry) => Buffer.from(entry.key, 'utf8'));
  const used = keys.reduce((total, key) => total + entrySize(key.length), HEADER_SIZE);
  const buffer = Buffer.alloc(grownCapacity(capacity, used));
  let offset = HEADER_SIZE;
  entries.forEach((entry, i) => {
    writeEntry(buffer, offset, keys[i]!, entry.value, entry.timestamp);
    offset += entrySize(keys[i]!.length);
  });
  writeUsed(buffer, offset);
  return buffer;
}

function assertFormatError(bytes: Uint8Array, message: RegExp): void {
  assert.throws(() => readEntries(bytes), (error: unknown) => {
    assert.ok(error instanceof FileFormatError, `expected FileFormatError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

/** Either the entries (checked by the caller) or a FileFormatError; anything else fails. */
function readOrFormatError(bytes: Uint8Array): Entry[] | FileFormatError {
  try {
    return readEntries(bytes);
  } catch (error) {
    if (error instanceof FileFormatError) return error;
    throw error;
  }
}

const goldenFile = (scenario: string, name: string): Buffer => readFileSync(path.join(fixturesDir(), scenario, 'files', name));

describe('entry layout', () => {
  it('pads every key length with 1 to 8 spaces, so the value is 8-byte aligned', () => {
    for (let keyLength = 0; keyLength <= 17; keyLength++) {
      const padding = entrySize(keyLength) - 4 - keyLength - 16;
      assert.equal(padding, 8 - ((keyLength + 4) % 8), `key length ${keyLength}`);
      assert.ok(padding >= 1 && padding <= 8, `key length ${keyLength}: padding ${padding}`);
      assert.equal(entrySize(keyLength) % 8, 0, `key length ${keyLength}: entry size`);

      const buffer = Buffer.alloc(64, 0xaa);
      const valueOffset = writeEntry(buffer, 8, Buffer.alloc(keyLength, 0x61), 1.5, 2.5);
      assert.equal(valueOffset, 8 + 4 + keyLength + padding);
      assert.equal(valueOffset % 8, 0);
      assert.equal(buffer.readInt32LE(8), keyLength);
      assert.ok(buffer.subarray(12 + keyLength, valueOffset).every((byte) => byte === 0x20), `key length ${keyLength}: pad bytes`);
      assert.equal(buffer.readDoubleLE(valueOffset), 1.5);
      assert.equal(buffer.readDoubleLE(valueOffset + 8), 2.5);
      assert.equal(buffer[valueOffset + 16], 0xaa, `key length ${keyLength}: wrote past the entry`);
    }
  });

  it('matches the sizes Python wrote for every key length modulo 8 (golden padding scenario)', () => {
    const bytes = goldenFile('padding', 'counter_61.db');
    const entries = readEntries(bytes);
    const lengths = new Set(entries.map((entry) => Buffer.byteLength(entry.key) % 8));
    assert.equal(lengths.size, 8, 'the golden file covers every key length modulo 8');
    let offset = HEADER_SIZE;
    for (const entry of entries) {
      assert.equal(entry.valueOffset, offset + entrySize(Buffer.byteLength(entry.key)) - 16);
      offset += entrySize(Buffer.byteLength(entry.key));
    }
    assert.equal(offset, bytes.readInt32LE(0));
  });
});

describe('writeEntry / readEntries', () => {
  const entryArb = fc.record({
    key: fc.string({ unit: fc.oneof(fc.constant('a'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), minLength: 1, maxLength: 40 }),
    value: fc.double(),
    timestamp: fc.double(),
  });

  it('reads back what was written: keys, values and timestamps bit for bit, and value offsets', () => {
    fc.assert(fc.property(fc.array(entryArb, { maxLength: 30 }), (entries) => {
      const read = readEntries(fileWith(entries));
      assert.equal(read.length, entries.length);
      let offset = HEADER_SIZE;
      read.forEach((entry, i) => {
        const written = entries[i]!;
        assert.equal(entry.key, written.key);
        assert.ok(Object.is(entry.value, written.value), `value ${entry.value} != ${written.value}`);
        assert.ok(Object.is(entry.timestamp, written.timestamp));
        const size = entrySize(Buffer.byteLength(written.key));
        assert.equal(entry.valueOffset, offset + size - 16);
        offset += size;
      });
    }));
  });

  it('reads a new file whose header is still 0 as empty, as Python does', () => {
    assert.deepEqual(readEntries(Buffer.alloc(INITIAL_FILE_SIZE)), []);
    assert.deepEqual(readEntries(fileWith([])), []);
  });

  it('accepts a Uint8Array view that does not start at offset 0 of its buffer', () => {
    const file = fileWith([{ key: 'k', value: 3, timestamp: 0 }]);
    const outer = new Uint8Array(file.length + 16);
    outer.set(file, 16);
    assert.deepEqual(readEntries(outer.subarray(16)).map((entry) => entry.value), [3]);
  });

  it('rejects padding that is not spaces (misaligned entries)', () => {
    const file = fileWith([{ key: 'abc', value: 1, timestamp: 0 }]);
    file[HEADER_SIZE + 4 + 3] = 0;
    assertFormatError(file, /not padded with spaces/);
  });
});

describe('grownCapacity', () => {
  it('starts at 64 KiB and doubles', () => {
    assert.equal(INITIAL_FILE_SIZE, 65536);
    assert.equal(grownCapacity(0, 10), 65536);
    assert.equal(grownCapacity(65536, 65536), 65536);
    assert.equal(grownCapacity(65536, 65537), 131072);
    assert.equal(grownCapacity(131072, 131073), 262144);
  });

  it('doubles as many times as one huge key needs', () => {
    assert.equal(grownCapacity(65536, 1_000_000), 1_048_576);
    assert.equal(grownCapacity(65536, 65536 * 8 + 1), 65536 * 16);
  });

  it('is always the smallest doubling of the current size that fits', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 1, max: 2 ** 30 }), (doublings, needed) => {
      const capacity = INITIAL_FILE_SIZE * 2 ** doublings;
      const grown = grownCapacity(capacity, needed);
      assert.ok(grown >= needed && grown >= capacity);
      assert.ok(Number.isInteger(Math.log2(grown / capacity)), `${grown} is not ${capacity} doubled`);
      if (grown > capacity) assert.ok(grown / 2 < needed, `${grown / 2} would have been enough for ${needed}`);
    }));
  });

  it('lets a file hold an entry whose key is larger than the whole initial file', () => {
    const key = 'k'.repeat(200_000);
    const file = fileWith([{ key: 'small', value: 1, timestamp: 0 }, { key, value: 2, timestamp: 0 }]);
    assert.equal(file.length, 262144);
    assert.deepEqual(readEntries(file).map((entry) => [entry.key.length, entry.value]), [[5, 1], [200_000, 2]]);
  });
});

describe('readEntries on bytes that are not a valid file', () => {
  it('names an empty (0-byte) file', () => {
    assertFormatError(Buffer.alloc(0), /empty \(0 bytes\)/);
  });

  it('names a file shorter than its header', () => {
    assertFormatError(Buffer.alloc(4), /4 bytes, shorter than its 8-byte header/);
    assertFormatError(Buffer.alloc(7), /7 bytes/);
  });

  it('rejects a used header larger than the file', () => {
    const file = fileWith([{ key: 'k', value: 1, timestamp: 0 }]);
    writeUsed(file, file.length + 8);
    assertFormatError(file, new RegExp(`says ${file.length + 8} bytes are used, but the file has ${file.length}`));
  });

  it('rejects a negative or too small used header', () => {
    const file = Buffer.alloc(64);
    writeUsed(file, -8);
    assertFormatError(file, /says -8 bytes are used/);
    writeUsed(file, 4);
    assertFormatError(file, /says 4 bytes are used/);
    assert.throws(() => readUsed(file), FileFormatError);
  });

  it('rejects negative, zero and huge key lengths with the offset', () => {
    for (const keyLength of [-1, -2147483648, 0, 2147483647, 1000]) {
      const file = fileWith([{ key: 'first', value: 1, timestamp: 0 }, { key: 'second', value: 2, timestamp: 0 }]);
      const second = HEADER_SIZE + entrySize(5);
      file.writeInt32LE(keyLength, second);
      assertFormatError(file, new RegExp(`offset ${second} has key length ${keyLength}\\b`));
    }
  });

  it('rejects used ending inside the 4 bytes of a key length', () => {
    const file = fileWith([{ key: 'k', value: 1, timestamp: 0 }]);
    writeUsed(file, file.readInt32LE(0) + 2);
    assertFormatError(file, /cut short/);
  });

  it('either reads a prefix of the entries or throws FileFormatError for every truncation of a golden file', () => {
    for (const [scenario, name] of [['padding', 'counter_61.db'], ['counters', 'counter_11.db']] as const) {
      const bytes = goldenFile(scenario, name);
      const all = readEntries(bytes);
      const used = bytes.readInt32LE(0);
      const boundaries = new Set([HEADER_SIZE, ...all.map((entry) => entry.valueOffset + 16)]);
      let parsedPrefixes = 0;
      for (let length = 0; length <= used + 64; length++) {
        // As copied or cut off: the header still says `used`.
        const cut = readOrFormatError(bytes.subarray(0, length));
        if (length < used) assert.ok(cut instanceof FileFormatError, `${name} cut at ${length}`);
        else assert.deepEqual(cut, all, `${name} cut at ${length}`);

        // As if the writer had stopped there: the header says exactly what is left.
        if (length < HEADER_SIZE) continue;
        const stopped = Buffer.from(bytes.subarray(0, length));
        writeUsed(stopped, length);
        const result = readOrFormatError(stopped);
        if (result instanceof FileFormatError) {
          assert.ok(!boundaries.has(length), `${name} stopped at entry boundary ${length}: ${result.message}`);
        } else {
          assert.deepEqual(result, all.slice(0, result.length), `${name} stopped at ${length}`);
          assert.ok(boundaries.has(length), `${name} stopped inside an entry at ${length} and still parsed`);
          parsedPrefixes++;
        }
      }
      assert.equal(parsedPrefixes, all.length + 1, `${name}: every entry boundary parses`);
    }
  });

  it('never throws anything but FileFormatError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      readOrFormatError(bytes);
    }), { numRuns: 2000 });
  });

  it('never throws anything but FileFormatError on random bytes behind a plausible header', () => {
    const arb = fc.uint8Array({ minLength: 8, maxLength: 600 }).chain((bytes) =>
      fc.integer({ min: HEADER_SIZE, max: bytes.length }).map((used) => {
        const buffer = Buffer.from(bytes);
        writeUsed(buffer, used);
        return buffer;
      }));
    fc.assert(fc.property(arb, (bytes) => {
      const result = readOrFormatError(bytes);
      if (!(result instanceof FileFormatError)) {
        for (const entry of result) assert.ok(entry.valueOffset + 16 <= bytes.readInt32LE(0));
      }
    }), { numRuns: 2000 });
  });

  it('never throws anything but FileFormatError when one byte of a valid file is changed', () => {
    const file = fileWith([
      { key: '["a", "a_total", {}, "h"]', value: 1, timestamp: 0 },
      { key: '["b", "b", {"x": "\\u00e9"}, "h"]', value: 2, timestamp: 5 },
    ]);
    const used = file.readInt32LE(0);
    fc.assert(fc.property(fc.integer({ min: 0, max: used - 1 }), fc.integer({ min: 0, max: 255 }), (offset, byte) => {
      const changed = Buffer.from(file.subarray(0, used + 64));
      changed[offset] = byte;
      readOrFormatError(changed);
    }), { numRuns: 2000 });
  });

  it('rejects a file of the 0.16/0.17 format, whose entries have no timestamp', () => {
    const keys = ['["requests", "requests_total", {}, "Requests."]', '["errors", "errors_total", {"code": "500"}, "Errors."]'];
    for (const count of [1, 2]) {
      assertFormatError(oldFormatFile(keys.slice(0, count), 7), /offset \d+ has key length -?\d+, which does not fit in used=\d+ \(a truncated file, or one written by another format\)/);
    }
  });
});
