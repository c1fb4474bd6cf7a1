// Keys found by their stored bytes: whatever the hash gives (every key in one bucket, two
// buckets, the real hash), and in whatever order files list their keys (the follower guess
// wrong), a file decodes to the keys its bytes say, and the merge of many files is the merge of
// the same entries decoded from strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeEntries, decodeFile, useStoredKeyTable, type DecodedKey, type FileRecords, type KeyCache } from './decode.js';
import { encodeFile, entrySize, readEntries } from './format.js';
import { parseFileName } from './fileNames.js';
import { entryKey } from './pythonJson.js';
import { hashWords, StoredKeyTable, type WordsHash } from './storedKeyTable.js';
import { mergeFiles } from '../scrape/merge.js';

const words = (...values: number[]) => Int32Array.from(values);

describe('StoredKeyTable', () => {
  it('keeps keys apart that share a hash, a length or a prefix', () => {
    const table = new StoredKeyTable<string>(() => 7);
    const keys = [words(1, 2, 3), words(1, 2, 4), words(1, 2), words(1, 2, 3, 0), words(9)];
    keys.forEach((key, i) => {
      assert.equal(table.find(key, 0, key.length), undefined);
      table.add(key, 0, key.length, `k${i}`);
    });
    keys.forEach((key, i) => assert.equal(table.find(key, 0, key.length)?.value, `k${i}`));
    // Found inside a larger run of words, as in a file's bytes.
    const file = words(5, 5, 1, 2, 4, 5);
    assert.equal(table.find(file, 2, 3)?.value, 'k1');
  });

  it('still finds every key after growing many times', () => {
    const table = new StoredKeyTable<number>();
    for (let i = 0; i < 5000; i++) table.add(words(i, i * 31), 0, 2, i);
    for (let i = 0; i < 5000; i++) assert.equal(table.find(words(i, i * 31), 0, 2)?.value, i);
    assert.equal(table.find(words(5000, 5000 * 31), 0, 2), undefined);
  });

  it('keeps its own copy of every key across its chunks of words, a key longer than a chunk too', () => {
    const table = new StoredKeyTable<number>();
    const source = new Int32Array(3);
    // 50,000 keys of 3 words fill more than one chunk; the long key gets a chunk of its own.
    const long = Int32Array.from({ length: 100_000 }, (_, i) => i * 7);
    for (let i = 0; i < 50_000; i++) {
      source.set([i, -i, i * 3]);
      if (i === 30_000) table.add(long, 0, long.length, -1);
      table.add(source, 0, 3, i);
    }
    source.fill(0); // the table copied the words: changing the source changes nothing
    for (let i = 0; i < 50_000; i++) {
      const found = table.find(words(i, -i, i * 3), 0, 3);
      assert.equal(found?.value, i);
      assert.deepEqual([...found!.chunk.subarray(found!.start, found!.start + found!.count)], [i, -i | 0, i * 3]);
    }
    assert.equal(table.find(long, 0, long.length)?.value, -1);
    assert.equal(table.find(long, 0, long.length - 1), undefined);
    assert.equal(table.find(words(-1, 1, -3), 0, 3), undefined);
  });

  it('tries the follower first and falls back to the hash when the guess is wrong', () => {
    let hashes = 0;
    const table = new StoredKeyTable<string>((w, s, c) => (hashes++, hashWords(w, s, c)));
    const a = table.add(words(1), 0, 1, 'a');
    table.add(words(2), 0, 1, 'b', a);
    table.add(words(3), 0, 1, 'c');
    hashes = 0;
    assert.equal(table.find(words(2), 0, 1, a)?.value, 'b');
    assert.equal(hashes, 0, 'the follower matched without a hash');
    assert.equal(table.find(words(3), 0, 1, a)?.value, 'c');
    assert.equal(hashes, 1);
    assert.equal(a.follower?.value, 'c', 'the follower is what came after last time');
  });
});

const COUNTER = parseFileName('counter_1.db')!;
const HISTOGRAM = parseFileName('histogram_1.db')!;

/** Entries of a file, and the same entries decoded from strings (the reference). */
function reference(file: typeof COUNTER, bytes: Buffer): FileRecords {
  return decodeEntries(file, readEntries(bytes));
}

function sameRecords(actual: FileRecords, expected: FileRecords): void {
  assert.deepEqual(actual.keys.map((key) => key.raw), expected.keys.map((key) => key.raw));
  assert.deepEqual([...actual.values], [...expected.values]);
  assert.deepEqual([...actual.timestamps], [...expected.timestamps]);
}

function cacheWith(hash: WordsHash): KeyCache {
  const cache: KeyCache = new Map();
  useStoredKeyTable(cache, new StoredKeyTable<DecodedKey>(hash));
  return cache;
}

const HASHES: [string, WordsHash][] = [
  ['every key in one bucket', () => 0],
  ['two buckets', (w, s, c) => hashWords(w, s, c) & 1],
  ['the real hash', hashWords],
];

describe('decoding keys by their bytes', () => {
  const labelValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('a', 'b', 'é', '日本', '\u{1F600}', 'x"y', 'a\\b'));
  const keySet = fc.uniqueArray(fc.tuple(fc.constantFrom('c', 'd'), labelValue), { minLength: 1, maxLength: 12, selector: ([m, v]) => `${m}\u0000${v}` });

  for (const [name, hash] of HASHES) {
    it(`gives the keys the bytes say, in files of any order (${name})`, () => {
      fc.assert(
        fc.property(keySet, fc.array(fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 6 }), (keys, files) => {
          const cache = cacheWith(hash);
          const decoded: FileRecords[] = [];
          const expected: FileRecords[] = [];
          files.forEach((picks, f) => {
            const entries = picks.map((pick, i) => {
              const [metric, value] = keys[pick % keys.length]!;
              return { key: entryKey(metric, `${metric}_total`, ['l'], [value], 'help'), value: pick + i / 4, timestamp: f };
            });
            const bytes = encodeFile(entries);
            const records = decodeFile(COUNTER, bytes, cache);
            sameRecords(records, reference(COUNTER, bytes));
            decoded.push(records);
            expected.push(reference(COUNTER, bytes));
          });
          assert.deepEqual(mergeFiles(decoded), mergeFiles(expected));
        }),
        { numRuns: 60 },
      );
    });
  }

  it('merges histogram buckets right when every key collides', () => {
    const cache = cacheWith(() => 0);
    const bucket = (route: string, le: string, value: number) => ({ key: entryKey('h', 'h_bucket', ['le', 'route'], [le, route], 'help'), value, timestamp: 0 });
    const first = encodeFile([bucket('/a', '1.0', 1), bucket('/a', '+Inf', 2), bucket('/b', '1.0', 3), bucket('/b', '+Inf', 4)]);
    const second = encodeFile([bucket('/b', '+Inf', 40), bucket('/a', '1.0', 10), bucket('/b', '1.0', 30), bucket('/a', '+Inf', 20)]);
    const merged = mergeFiles([decodeFile(HISTOGRAM, first, cache), decodeFile(HISTOGRAM, second, cache)]);
    const expected = mergeFiles([reference(HISTOGRAM, first), reference(HISTOGRAM, second)]);
    assert.deepEqual(merged, expected);
    const counts = merged[0]!.samples.filter((sample) => sample.name === 'h_count').map((sample) => [sample.labels.route, sample.value]);
    assert.deepEqual(counts, [['/a', 33], ['/b', 77]]);
  });

  it('takes two byte sequences that decode to the same text as one key, as a decode of each entry did', () => {
    // 0xfe and 0xff are each invalid UTF-8: both decode as U+FFFD.
    const withByte = (byte: number) => {
      const text = Buffer.from(entryKey('c', 'c_total', ['l'], ['?'], 'help'));
      text[text.indexOf('?')] = byte;
      return text;
    };
    const cache: KeyCache = new Map();
    const a = decodeFile(COUNTER, encodeRaw(withByte(0xfe), 1), cache);
    const b = decodeFile(COUNTER, encodeRaw(withByte(0xff), 2), cache);
    assert.equal(a.keys[0], b.keys[0]);
    assert.equal(mergeFiles([a, b])[0]!.samples[0]!.value, 3);
  });
});

/** A file of one entry whose key is the given bytes (which encodeFile, taking text, cannot write). */
function encodeRaw(key: Buffer, value: number): Buffer {
  const bytes = encodeFile([{ key: 'x'.repeat(key.length), value, timestamp: 0 }]);
  key.copy(bytes, 12);
  return bytes;
}

describe('the padding of entries whose key is known', () => {
  // Keys whose length leaves several bytes of padding after them.
  const first = entryKey('c', 'c_total', ['l'], ['abc'], 'help');
  const second = entryKey('c', 'c_total', ['l'], ['abcd'], 'help');
  const firstLength = Buffer.byteLength(first);
  const secondStart = 8 + entrySize(firstLength);
  /** The first and the last padding byte of the entry at `start` with a key of `length` bytes. */
  const padding = (start: number, length: number) => [start + 4 + length, start + entrySize(length) - 17];

  it('is still checked: a known key followed by other bytes than spaces is an error, wherever the entry is', () => {
    const cache: KeyCache = new Map();
    const good = encodeFile([{ key: first, value: 1, timestamp: 0 }, { key: second, value: 2, timestamp: 0 }]);
    // Both keys known, the second as the first's follower.
    for (let i = 0; i < 2; i++) assert.deepEqual([...decodeFile(COUNTER, good, cache).values], [1, 2]);
    const cases: [number, RegExp][] = [
      ...padding(8, firstLength).map((at): [number, RegExp] => [at, /entry at offset 8 is not padded with spaces/]),
      ...padding(secondStart, Buffer.byteLength(second)).map((at): [number, RegExp] => [at, new RegExp(`entry at offset ${secondStart} is not padded with spaces`)]),
    ];
    for (const [at, error] of cases) {
      assert.equal(good[at], 0x20);
      const bad = Buffer.from(good);
      bad[at] = 0x78;
      assert.throws(() => decodeFile(COUNTER, bad, cache), error, `a byte at ${at}`);
    }
  });
});
