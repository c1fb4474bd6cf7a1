// A file too large to read whole is decoded a window at a time (LargeMetricsFile): whatever
// the window, and wherever its ends cut the entries, the records are those decodeFile gives
// for the whole bytes, and a damaged file fails with the same message. Small files and small
// windows here; test/largeFiles.test.ts reads a real 257 MiB file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseFileName } from './fileNames.js';
import { FileFormatError, HEADER_SIZE, encodeFile, readUsed } from './format.js';
import { decodeFile, type FileRecords } from './decode.js';
import { entryKey } from './pythonJson.js';
import { writeSparseFile } from '../../../../test/helpers/sparseFile.js';
import {
  LargeMetricsFile, ReadBuffer, TooLargeToReadWhole, WHOLE_READ_MAX_BYTES, openMetricsFile, readMetricsFile, readOpenMetricsFile,
} from './readMetricsFile.js';

const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const COUNTER = parseFileName('counter_1.db')!;
let files = 0;

function written(bytes: Buffer): string {
  const file = path.join(dir, `counter_${files++}.db`);
  writeFileSync(file, bytes);
  return file;
}

/** The file's records, read a window of `windowBytes` at a time, or what the read threw. */
function decodedInWindows(file: string, windowBytes: number): FileRecords | Error {
  const fd = openMetricsFile(file);
  const used = readUsed(readOpenMetricsFile(fd, new ReadBuffer()));
  try {
    return decodeFile(COUNTER, new LargeMetricsFile(fd, used, windowBytes));
  } catch (error) {
    return error as Error;
  }
}

function decodedWhole(bytes: Buffer): FileRecords | Error {
  try {
    return decodeFile(COUNTER, bytes);
  } catch (error) {
    return error as Error;
  }
}

function sameRecords(actual: FileRecords | Error, expected: FileRecords | Error): void {
  if (expected instanceof Error) {
    assert.ok(actual instanceof FileFormatError, `expected "${expected.message}", got ${actual instanceof Error ? actual.message : 'records'}`);
    assert.equal(actual.message, expected.message);
    return;
  }
  assert.ok(!(actual instanceof Error), (actual as Error).message);
  assert.deepEqual(actual.keys.map((key) => key.raw), expected.keys.map((key) => key.raw));
  assert.deepEqual([...actual.values], [...expected.values]);
  assert.deepEqual([...actual.timestamps], [...expected.timestamps]);
}

const entries = fc.array(
  fc.record({
    label: fc.string({ unit: 'binary', maxLength: 120 }),
    value: fc.double(),
    timestamp: fc.double({ noNaN: true }),
  }),
  { maxLength: 40 },
);

describe('a file read a window at a time', () => {
  it('gives the records of the whole bytes, whatever the window and wherever it cuts', () => {
    fc.assert(
      fc.property(entries, fc.integer({ min: 8, max: 600 }), (list, windowBytes) => {
        const bytes = encodeFile(list.map(({ label, value, timestamp }) => ({ key: entryKey('m', 'm_total', ['l'], [label], 'H.'), value, timestamp })));
        sameRecords(decodedInWindows(written(bytes), windowBytes), decodedWhole(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('fails on damage with the message the whole read gives', () => {
    fc.assert(
      fc.property(entries, fc.nat(), fc.nat(255), fc.integer({ min: 8, max: 600 }), (list, at, byte, windowBytes) => {
        const bytes = encodeFile(list.map(({ label, value, timestamp }) => ({ key: entryKey('m', 'm_total', ['l'], [label], 'H.'), value, timestamp })));
        const used = readUsed(bytes);
        bytes[HEADER_SIZE + (at % Math.max(1, used - HEADER_SIZE))] = byte;
        sameRecords(decodedInWindows(written(bytes), windowBytes), decodedWhole(bytes.subarray(0, used)));
      }),
      { numRuns: 300 },
    );
  });

  it('is scanned once, and closes its descriptor when the scan ends', () => {
    const bytes = encodeFile([{ key: entryKey('m', 'm_total', [], [], 'H.'), value: 1, timestamp: 0 }]);
    const fd = openMetricsFile(written(bytes));
    const large = new LargeMetricsFile(fd, readUsed(bytes), 16);
    assert.equal(decodeFile(COUNTER, large).values[0], 1);
    assert.throws(() => closeSync(fd), { code: 'EBADF' });
    assert.throws(() => decodeFile(COUNTER, large), /scanned once/);
  });
});

describe('readMetricsFile', () => {
  /** A sparse file of `size` bytes whose header says `used`. */
  function sparse(size: number, used: number): string {
    const file = path.join(dir, `counter_sparse${files++}.db`);
    writeSparseFile(file, size, used);
    return file;
  }

  it(`reads up to ${WHOLE_READ_MAX_BYTES} bytes in use whole, and more a window at a time`, () => {
    const small = readMetricsFile(sparse(WHOLE_READ_MAX_BYTES + 4096, 4096));
    assert.ok(Buffer.isBuffer(small) && small.length === 4096);
    const file = sparse(WHOLE_READ_MAX_BYTES + 4096, WHOLE_READ_MAX_BYTES + 8);
    const large = readMetricsFile(file);
    assert.ok(large instanceof LargeMetricsFile && large.used === WHOLE_READ_MAX_BYTES + 8);
    // Zeros are no entries: the first window says so, and nothing more is read.
    assert.throws(() => decodeFile(COUNTER, large), (error) => error instanceof FileFormatError && /offset 8 has key length 0/.test(error.message));
    // Through a descriptor the caller reads into its own buffer (the scrape cache), it is not read at all.
    const fd = openMetricsFile(file);
    try {
      assert.throws(() => readOpenMetricsFile(fd, new ReadBuffer()), TooLargeToReadWhole);
    } finally {
      closeSync(fd);
    }
  });

  it('reads the same bytes, and fails the same way, when told what a file of its kind held', () => {
    const small = encodeFile([{ key: entryKey('c', 'c_total', [], [], 'h'), value: 1, timestamp: 0 }]);
    const large = encodeFile(Array.from({ length: 300 }, (_, i) => ({ key: entryKey('c', 'c_total', ['i'], [`${i}`], 'h'), value: i, timestamp: 0 })));
    const empty = Buffer.alloc(64 * 1024);
    const fifo = path.join(dir, 'counter_fifo.db');
    const hasFifo = spawnSync('mkfifo', [fifo]).status === 0;
    const outcome = (file: string, expectedUsed?: number): string => {
      try {
        return readMetricsFile(file, new ReadBuffer(), expectedUsed).toString('hex');
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    };
    const files = [written(small), written(large), written(empty), dir, ...(hasFifo ? [fifo] : [])];
    for (const file of files) {
      for (const expectedUsed of [1, readUsed(small), readUsed(large), 1024 * 1024]) {
        assert.equal(outcome(file, expectedUsed), outcome(file), `${file} read with ${expectedUsed} expected`);
      }
    }
    if (hasFifo) assert.match(outcome(fifo, readUsed(small)), /a FIFO/);
  });

  it('rejects a header claiming more than the file holds before reading it, however large the file', () => {
    assert.throws(
      () => readMetricsFile(sparse(1024 * 1024 * 1024, 2 ** 31 - 1)),
      (error) => error instanceof FileFormatError && error.message === 'header says 2147483647 bytes are used, but the file has 1073741824',
    );
  });
});
