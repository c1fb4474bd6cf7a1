// One suite, run against every SeriesStore: what metrics and the collector rely on must hold
// for memory and for files alike. Behaviour only one store has is tested at the end.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { FileKind } from '../format/fileNames.js';
import { readEntries } from '../format/format.js';
import type { RawEntry } from '../format/decode.js';
import { entryKey } from '../format/pythonJson.js';
import type { Cell } from './cell.js';
import { setProblemReporter } from '../common/report.js';
import { FileStore } from './fileStore.js';
import { MemoryStore } from './memoryStore.js';
import type { SeriesStore, StoreOptions } from './store.js';

interface Implementation {
  name: string;
  create(options?: StoreOptions): SeriesStore;
}

const tempDirs: string[] = [];
const openStores: SeriesStore[] = [];
let nextIdentity = 100;

after(() => {
  for (const store of openStores) store.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-store-'));
  tempDirs.push(dir);
  return dir;
}

const implementations: Implementation[] = [
  { name: 'MemoryStore', create: (options = {}) => new MemoryStore({ identity: nextIdentity++, ...options }) },
  {
    name: 'FileStore',
    create: (options = {}) => {
      const store = new FileStore({ dir: tempDir(), identity: nextIdentity++, ...options });
      openStores.push(store);
      return store;
    },
  },
];

/** What a metric does on a change: set the value, then tell the owner once. */
function record(cell: Cell, value: number, timestamp = 0): void {
  cell.value = value;
  cell.timestamp = timestamp;
  if (!cell.dirty) cell.owner.onDirty(cell);
}

function key(metric: string, labels: Record<string, string> = {}): string {
  return entryKey(metric, metric, Object.keys(labels), Object.values(labels), 'help');
}

function simple(entries: Map<FileKind, RawEntry[]>): [FileKind, [string, number, number][]][] {
  return [...entries].map(([kind, list]) => [kind, list.map((entry) => [entry.key, entry.value, entry.timestamp])]);
}

for (const implementation of implementations) {
  describe(`SeriesStore conformance: ${implementation.name}`, () => {
    it('gives the same cell for the same kind and key, and another for another kind or key', () => {
      const store = implementation.create();
      const cell = store.cell('gauge_all', key('g'));
      assert.strictEqual(store.cell('gauge_all', key('g')), cell);
      assert.notStrictEqual(store.cell('gauge_max', key('g')), cell);
      assert.notStrictEqual(store.cell('gauge_all', key('g', { a: '1' })), cell);
      assert.notStrictEqual(store.cell('counter', key('g')), cell);
    });

    it('creates series at 0 with timestamp 0, visible before any change', () => {
      const store = implementation.create();
      const cell = store.cell('counter', key('c'));
      assert.equal(cell.value, 0);
      assert.equal(cell.timestamp, 0);
      assert.deepEqual(simple(store.entries()), [['counter', [[key('c'), 0, 0]]]]);
    });

    it('returns from entries() what was recorded, by kind, in the order series were created', () => {
      const store = implementation.create();
      record(store.cell('counter', key('b')), 2);
      record(store.cell('counter', key('a')), 1);
      record(store.cell('gauge_mostrecent', key('m')), 7, 1700000000.5);
      record(store.cell('histogram', key('h', { le: '+Inf' })), 3);
      record(store.cell('counter', key('b')), 20);
      const entries = new Map(simple(store.entries()));
      assert.deepEqual([...entries.keys()].sort(), ['counter', 'gauge_mostrecent', 'histogram']);
      assert.deepEqual(entries.get('counter'), [[key('b'), 20, 0], [key('a'), 1, 0]]);
      assert.deepEqual(entries.get('gauge_mostrecent'), [[key('m'), 7, 1700000000.5]]);
      assert.deepEqual(entries.get('histogram'), [[key('h', { le: '+Inf' }), 3, 0]]);
    });

    it('keeps every value as recorded: fractions, negatives, -0, huge, NaN and infinities', () => {
      const store = implementation.create();
      const values = [0.1 + 0.2, -3.5, -0, 1e300, Number.MIN_VALUE, Infinity, -Infinity, NaN];
      values.forEach((value, i) => record(store.cell('gauge_all', key(`v${i}`)), value, i));
      const read = store.entries().get('gauge_all')!;
      assert.equal(read.length, values.length);
      read.forEach((entry, i) => {
        assert.ok(Object.is(entry.value, values[i]), `value ${i}: ${entry.value}`);
        assert.equal(entry.timestamp, i);
      });
    });

    it('writes a change of the timestamp alone, on series made before and after the first timestamp', () => {
      const store = implementation.create();
      const before = Array.from({ length: 40 }, (_, i) => store.cell('gauge_mostrecent', key('m', { i: String(i) })));
      before.forEach((cell) => record(cell, 5));
      store.entries();
      record(before[3]!, 5, 1234.5);
      const after = Array.from({ length: 40 }, (_, i) => store.cell('gauge_mostrecent', key('n', { i: String(i) })));
      after.forEach((cell) => record(cell, 5));
      store.entries();
      record(after[39]!, 5, 99);
      record(before[3]!, 5, 0);
      const timestamps = store.entries().get('gauge_mostrecent')!.map((entry) => entry.timestamp);
      assert.deepEqual(timestamps, [...before, ...after].map((_, i) => (i === 79 ? 99 : 0)));
    });

    it('keeps changes made after entries() was called', () => {
      const store = implementation.create();
      const cell = store.cell('counter', key('c'));
      record(cell, 1);
      assert.equal(store.entries().get('counter')![0]!.value, 1);
      record(cell, 2);
      record(cell, 3);
      assert.equal(store.entries().get('counter')![0]!.value, 3);
    });

    it('keeps keys with non-ASCII, escaped and long label values', () => {
      const store = implementation.create();
      const keys = [key('u', { user: '\u00fc\u65e5\u{1f600}' }), key('q', { path: 'a"b\\c\nd' }), key('l', { v: 'x'.repeat(5000) })];
      keys.forEach((k, i) => record(store.cell('counter', k), i + 1));
      assert.deepEqual(simple(store.entries()), [['counter', keys.map((k, i) => [k, i + 1, 0])]]);
    });

    it('holds thousands of series (past the first 64 KiB of a file)', () => {
      const store = implementation.create();
      const count = 3000;
      for (let i = 0; i < count; i++) record(store.cell('counter', key('many', { i: String(i) })), i);
      const read = store.entries().get('counter')!;
      assert.equal(read.length, count);
      read.forEach((entry, i) => {
        assert.equal(entry.key, key('many', { i: String(i) }));
        assert.equal(entry.value, i);
      });
    });

    it('has the identity it was given, as text, and process.pid by default', () => {
      assert.equal(implementation.create({ identity: 42 }).identity, '42');
      assert.equal(implementation.create({ identity: 'worker-3' }).identity, 'worker-3');
      const byDefault = implementation.name === 'FileStore'
        ? new FileStore({ dir: tempDir() })
        : new MemoryStore();
      openStores.push(byDefault);
      assert.equal(byDefault.identity, String(process.pid));
    });

    it('uses the clock it was given, and wall-clock seconds by default', () => {
      assert.equal(implementation.create({ now: () => 12.5 }).now(), 12.5);
      const seconds = implementation.create().now();
      assert.ok(Math.abs(seconds - Date.now() / 1000) < 5, `${seconds} is not now in seconds`);
    });

    it('with a key source, finds the same cell, and reports and removes series by the keys the source makes', () => {
      const store = implementation.create();
      const made: string[] = [];
      const source = { keyOf: (values: readonly string[]) => (made.push(values[0]!), key('m', { a: values[0]! })) };
      const one = store.cell('counter', key('m', { a: '1' }), source, ['1']);
      const two = store.cell('counter', key('m', { a: '2' }), source, ['2']);
      record(one, 1);
      record(two, 2);
      assert.equal(store.cell('counter', key('m', { a: '1' }), source, ['1']), one);
      assert.notEqual(store.cell('counter', key('m', { a: '3' })), one);
      assert.deepEqual(simple(store.entries()), [['counter', [[key('m', { a: '1' }), 1, 0], [key('m', { a: '2' }), 2, 0], [key('m', { a: '3' }), 0, 0]]]]);
      assert.equal(store.removeEntries('counter', (k) => k === key('m', { a: '1' })), 1);
      assert.deepEqual(simple(store.entries()), [['counter', [[key('m', { a: '2' }), 2, 0], [key('m', { a: '3' }), 0, 0]]]]);
      assert.notEqual(store.cell('counter', key('m', { a: '1' }), source, ['1']), one);
      // A memory store keeps no key text given with a source: it asked the source for them.
      if (store.dir === undefined) assert.ok(made.includes('1') && made.includes('2'));
    });

    it('removeEntries takes the matching series out; the same key asked for again starts from 0', () => {
      const store = implementation.create();
      const [a, b, c] = ['a', 'b', 'c'].map((name) => store.cell('counter', key(name)));
      record(a!, 1);
      record(b!, 2);
      store.flush();
      record(c!, 3); // pending when the removal comes
      assert.equal(store.removeEntries('counter', (entry) => entry === key('b')), 1);
      assert.equal(store.removeEntries('counter', (entry) => entry === key('b')), 0);
      assert.equal(store.removeEntries('gauge_livesum', () => true), 0);
      assert.deepEqual(simple(store.entries()), [['counter', [[key('a'), 1, 0], [key('c'), 3, 0]]]]);
      const again = store.cell('counter', key('b'));
      assert.notEqual(again, b);
      assert.equal(again.value, 0);
      record(a!, 10); // surviving cells keep writing to their (moved) entries
      record(again, 5);
      assert.deepEqual(simple(store.entries()), [['counter', [[key('a'), 10, 0], [key('c'), 3, 0], [key('b'), 5, 0]]]]);
    });

    it('flushes and closes without losing what entries() reports', () => {
      const store = implementation.create();
      record(store.cell('summary', key('s')), 4);
      store.flush();
      store.flush();
      assert.deepEqual(simple(store.entries()), [['summary', [[key('s'), 4, 0]]]]);
      store.close();
      store.close();
    });
  });
}

describe('SeriesStore: what only one implementation does', () => {
  it('MemoryStore has no directory', () => {
    assert.equal(new MemoryStore().dir, undefined);
  });

  it('FileStore writes per-identity files named by kind, readable by the format reader', () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: 'w1' });
    record(store.cell('counter', key('c')), 5);
    record(store.cell('gauge_livesum', key('g')), 6);
    store.close();
    assert.deepEqual(readdirSync(dir).sort(), ['counter_w1.db', 'gauge_livesum_w1.db']);
    assert.deepEqual(readEntries(readFileSync(path.join(dir, 'counter_w1.db'))).map((e) => [e.key, e.value]), [[key('c'), 5]]);
    assert.equal(store.dir, path.resolve(dir));
  });

  it('FileStore writes a change at the end of the event-loop turn, without flush()', async () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: 'turn' });
    openStores.push(store);
    record(store.cell('counter', key('c')), 9);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(readEntries(readFileSync(path.join(dir, 'counter_turn.db'))).map((e) => e.value), [9]);
  });

  it('FileStore with the identity of a previous run continues from its values', () => {
    const dir = tempDir();
    const first = new FileStore({ dir, identity: 'again' });
    record(first.cell('counter', key('c')), 3);
    first.close();
    const second = new FileStore({ dir, identity: 'again' });
    openStores.push(second);
    const cell = second.cell('counter', key('c'));
    assert.equal(cell.value, 3);
    record(cell, cell.value + 1);
    record(second.cell('counter', key('d')), 1);
    assert.deepEqual(simple(second.entries()), [['counter', [[key('c'), 4, 0], [key('d'), 1, 0]]]]);
  });

  it('FileStore with the identity of a previous run keeps its timestamps, and writes a timestamp set back to 0', () => {
    const dir = tempDir();
    const first = new FileStore({ dir, identity: 'stamps' });
    record(first.cell('gauge_mostrecent', key('a')), 1, 10);
    record(first.cell('gauge_mostrecent', key('b')), 2, 20);
    first.close();
    const second = new FileStore({ dir, identity: 'stamps' });
    openStores.push(second);
    assert.equal(second.cell('gauge_mostrecent', key('b')).timestamp, 20);
    record(second.cell('gauge_mostrecent', key('a')), 1, 0);
    assert.deepEqual(simple(second.entries()), [['gauge_mostrecent', [[key('a'), 1, 0], [key('b'), 2, 20]]]]);
  });

  it('FileStore finds a key as the same cell whether its entry is written or still pending, and keeps keys alike but for their length apart', () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: 'find' });
    openStores.push(store);
    const written = store.cell('counter', key('c', { a: '1' }));
    store.flush();
    const pending = store.cell('counter', key('c', { a: '2' }));
    assert.equal(store.cell('counter', key('c', { a: '1' })), written);
    assert.equal(store.cell('counter', key('c', { a: '2' })), pending);
    // Stored, a key is padded with spaces: "k" and "k " differ in their length word only.
    const short = store.cell('counter', 'k');
    const spaced = store.cell('counter', 'k ');
    assert.notEqual(short, spaced);
    store.flush();
    assert.equal(store.cell('counter', 'k '), spaced);
    assert.equal(store.cell('counter', 'k'), short);
    assert.equal(store.entries().get('counter')!.length, 4);
  });

  it('FileStore writes a burst of new series ahead of the flush, but moves the header only at the flush', () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: 'burst' });
    openStores.push(store);
    record(store.cell('counter', key('first')), 1);
    store.flush();
    const cells = Array.from({ length: 2000 }, (_, i) => store.cell('counter', key('c', { i: String(i) })));
    cells.forEach((cell, i) => record(cell, i));
    const file = path.join(dir, 'counter_burst.db');
    // More than the pending buffer holds went to the file, past what the header says is used.
    assert.ok(readFileSync(file).subarray(1000, 60_000).some((byte) => byte !== 0));
    assert.deepEqual(readEntries(readFileSync(file)).map((e) => e.value), [1]);
    store.flush();
    const entries = readEntries(readFileSync(file));
    assert.equal(entries.length, 2001);
    assert.deepEqual(entries.slice(1).map((e) => e.value), cells.map((_, i) => i));
    assert.equal(store.cell('counter', key('c', { i: '1500' })), cells[1500]);
  });

  it('FileStore closed still hands out cells for the kinds it had open; a value recorded then is reported, not written', () => {
    const store = new FileStore({ dir: tempDir(), identity: 'closed' });
    const reports: string[] = [];
    setProblemReporter((error) => reports.push(error.message));
    try {
      record(store.cell('counter', key('c')), 1);
      store.close();
      record(store.cell('counter', key('c')), 2);
      record(store.cell('counter', key('d')), 3);
      store.flush();
      assert.equal(reports.length, 1, reports.join('\n'));
      assert.match(reports[0]!, /recorded after the metrics store .* was closed; it is counted in memory only/);
    } finally {
      setProblemReporter(undefined);
    }
  });

  it('FileStore refuses an identity that cannot name a file, and a missing directory', () => {
    assert.throws(() => new FileStore({ dir: tempDir(), identity: 'has_underscore' }), /cannot name a metrics file/);
    assert.throws(() => new FileStore({ dir: path.join(tempDir(), 'missing'), identity: 'x' }), /does not exist/);
  });
});
