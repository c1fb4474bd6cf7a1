// The merge rules, one by one, on records built in memory: no directory, no files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFileName } from '../format/fileNames.js';
import { FileFormatError, HEADER_SIZE, entrySize, writeEntry, writeUsed } from '../format/format.js';
import { Merger, mergeFiles, type MetricFamily, type Sample } from './merge.js';
import { decodeEntries, decodeFile, type FileRecords } from '../format/decode.js';
import { parsePythonFloat } from '../format/pythonFloat.js';
import { entryKey } from '../format/pythonJson.js';

type Labels = Record<string, string>;
/** [metric name, sample name, labels, value, timestamp?] */
type Row = [string, string, Labels, number, number?];

function file(name: string, rows: Row[], help = 'help'): FileRecords {
  const parsed = parseFileName(name);
  assert.ok(parsed, `${name} is a metrics file name`);
  return decodeEntries(parsed, rows.map(([metric, sample, labels, value, timestamp = 0]) => ({
    key: entryKey(metric, sample, Object.keys(labels), Object.values(labels), help),
    value,
    timestamp,
  })));
}

function family(families: MetricFamily[], name: string): MetricFamily {
  const found = families.find((candidate) => candidate.name === name);
  assert.ok(found, `family ${name} in [${families.map((f) => f.name).join(', ')}]`);
  return found;
}

/** Samples as comparable tuples, keeping their order; labels sorted by name. */
function rows(samples: Sample[]): [string, Labels, number][] {
  return samples.map((sample) => [sample.name, Object.fromEntries(Object.entries(sample.labels).sort()), sample.value]);
}

describe('counters', () => {
  it('keeps apart label sets whose values hold what separates labels in their ids', () => {
    const sets: Labels[] = [{ a: 'x,b:y' }, { a: 'x', b: 'y' }, { a: 'x",b:"y' }, { a: 'x,', b: 'y' }, { a: 'x', b: ',y' }, { a: '' }, {}];
    const families = mergeFiles([
      file('counter_1.db', sets.map((labels, i): Row => ['c', 'c_total', labels, i + 1])),
      file('counter_2.db', sets.map((labels, i): Row => ['c', 'c_total', labels, 10 * (i + 1)])),
    ]);
    assert.deepEqual(rows(family(families, 'c').samples), sets.map((labels, i) => ['c_total', Object.fromEntries(Object.entries(labels).sort()), 11 * (i + 1)]));
  });

  it('sums each label set across files', () => {
    const families = mergeFiles([
      file('counter_1.db', [['c', 'c_total', { a: 'x' }, 1], ['c', 'c_total', { a: 'y' }, 10]]),
      file('counter_2.db', [['c', 'c_total', { a: 'x' }, 2]]),
      file('counter_3.db', [['c', 'c_total', { a: 'x' }, 4], ['c', 'c_total', { a: 'z' }, 0]]),
    ]);
    const c = family(families, 'c');
    assert.equal(c.type, 'counter');
    assert.deepEqual(rows(c.samples), [['c_total', { a: 'x' }, 7], ['c_total', { a: 'y' }, 10], ['c_total', { a: 'z' }, 0]]);
  });

  it('treats label sets with the same labels in another order as one', () => {
    const families = mergeFiles([
      file('counter_1.db', [['c', 'c_total', { a: '1', b: '2' }, 1]]),
      decodeEntries(parseFileName('counter_2.db')!, [
        { key: '["c", "c_total", {"b": "2", "a": "1"}, "help"]', value: 2, timestamp: 0 },
      ]),
    ]);
    assert.deepEqual(rows(family(families, 'c').samples), [['c_total', { a: '1', b: '2' }, 3]]);
  });
});

/** A histogram's rows with these bounds (+Inf added), for one label set. */
function histogramRows(name: string, bounds: string[], labels: Labels = {}): Row[] {
  return [[name, `${name}_sum`, labels, 1], ...[...bounds, '+Inf'].map((le): Row => [name, `${name}_bucket`, { ...labels, le }, 1])];
}

describe('bucket layouts', () => {
  const express = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5'];
  const python = ['0.005', '0.01', '0.025', '0.05', '0.075', '0.1', '0.25', '0.5', '0.75', '1.0', '2.5', '5.0', '7.5', '10.0'];

  it('finds a histogram whose files have different bounds, with the first file of each layout', () => {
    const merger = new Merger();
    merger.add(file('histogram_1.db', [...histogramRows('latency', express, { route: '/a' }), ...histogramRows('latency', express, { route: '/b' })]));
    merger.add(file('histogram_2.db', histogramRows('latency', express, { route: '/a' })));
    merger.add(file('histogram_4242.db', [...histogramRows('latency', python, { route: '/a' }), ...histogramRows('jobs', ['1'])]));
    merger.add(file('histogram_4243.db', histogramRows('latency', python)));
    merger.add(file('histogram_3.db', histogramRows('jobs', ['1.0'])));
    assert.deepEqual(merger.bucketConflicts(), [{
      family: 'latency',
      layouts: [
        { bounds: [...express.map(Number), Infinity], file: parseFileName('histogram_1.db') },
        { bounds: [...python.map(Number), Infinity], file: parseFileName('histogram_4242.db') },
      ],
    }]);
  });

  it('finds none when the bounds are equal in value, however written', () => {
    const merger = new Merger();
    merger.add(file('histogram_1.db', histogramRows('h', ['1', '1e+07'])));
    merger.add(file('histogram_2.db', histogramRows('h', ['1.0', '10000000.0'])));
    assert.deepEqual(merger.bucketConflicts(), []);
  });
});

describe('merges sharing decoded keys', () => {
  it('keep their sums apart when they interleave, as two scrapes of one cache may', () => {
    // Both files' records hold the same decoded keys, whose merge scratch space each merger writes.
    const one = file('counter_1.db', [['c', 'c_total', { route: '/a' }, 2]]);
    const two = { ...one, file: parseFileName('counter_2.db')!, values: Float64Array.of(5) };
    const first = new Merger();
    const second = new Merger();
    first.add(one);
    second.add(one);
    first.add(two);
    second.add(one);
    const total = (merger: Merger) => merger.result()[0]!.samples[0]!.value;
    assert.equal(total(first), 7);
    assert.equal(total(second), 4);
  });
});

describe('summaries', () => {
  it('sums _count and _sum across files, and has no quantiles', () => {
    const families = mergeFiles([
      file('summary_1.db', [['s', 's_count', {}, 2], ['s', 's_sum', {}, 0.5]]),
      file('summary_2.db', [['s', 's_count', {}, 3], ['s', 's_sum', {}, 1.25]]),
    ]);
    const s = family(families, 's');
    assert.equal(s.type, 'summary');
    assert.deepEqual(rows(s.samples), [['s_count', {}, 5], ['s_sum', {}, 1.75]]);
  });
});

describe('histograms', () => {
  it('sums non-cumulative buckets across files, sorts them by bound and makes them cumulative', () => {
    const families = mergeFiles([
      file('histogram_1.db', [
        ['h', 'h_sum', {}, 10],
        ['h', 'h_bucket', { le: '+Inf' }, 1],
        ['h', 'h_bucket', { le: '1.0' }, 2],
        ['h', 'h_bucket', { le: '0.5' }, 3],
      ]),
      file('histogram_2.db', [
        ['h', 'h_sum', {}, 5],
        ['h', 'h_bucket', { le: '1e+07' }, 4],
        ['h', 'h_bucket', { le: '0.5' }, 1],
        ['h', 'h_bucket', { le: '+Inf' }, 0],
        // As the reference writes 1e10, and as 0.05 would be written.
        ['h', 'h_bucket', { le: '1e+010' }, 6],
        ['h', 'h_bucket', { le: '0.05' }, 8],
      ]),
    ]);
    const h = family(families, 'h');
    assert.equal(h.type, 'histogram');
    assert.deepEqual(rows(h.samples), [
      ['h_sum', {}, 15],
      ['h_bucket', { le: '0.05' }, 8],
      ['h_bucket', { le: '0.5' }, 12],
      ['h_bucket', { le: '1.0' }, 14],
      ['h_bucket', { le: '1e+07' }, 18],
      ['h_bucket', { le: '1e+010' }, 24],
      ['h_bucket', { le: '+Inf' }, 25],
      ['h_count', {}, 25],
    ]);
  });

  it('merges bounds written differently but equal in value', () => {
    const families = mergeFiles([
      file('histogram_1.db', [['h', 'h_bucket', { le: '1.0' }, 1], ['h', 'h_bucket', { le: '+Inf' }, 0]]),
      file('histogram_2.db', [['h', 'h_bucket', { le: '1' }, 2], ['h', 'h_bucket', { le: 'inf' }, 1]]),
    ]);
    assert.deepEqual(rows(family(families, 'h').samples), [
      ['h_bucket', { le: '1.0' }, 3], ['h_bucket', { le: '+Inf' }, 4], ['h_count', {}, 4],
    ]);
  });

  it('keeps each label set together: _sum, buckets, _count, never interleaved', () => {
    const families = mergeFiles([
      file('histogram_1.db', [
        ['h', 'h_sum', { path: '/a' }, 1],
        ['h', 'h_sum', { path: '/b' }, 2],
        ['h', 'h_bucket', { path: '/b', le: '+Inf' }, 1],
        ['h', 'h_bucket', { path: '/a', le: '+Inf' }, 0],
        ['h', 'h_bucket', { path: '/b', le: '0.1' }, 2],
        ['h', 'h_bucket', { path: '/a', le: '0.1' }, 3],
      ]),
      file('histogram_2.db', [
        ['h', 'h_sum', { path: '/b' }, 4],
        ['h', 'h_bucket', { path: '/b', le: '0.1' }, 1],
        ['h', 'h_bucket', { path: '/b', le: '+Inf' }, 0],
        ['h', 'h_sum', { path: '/a' }, 8],
        ['h', 'h_bucket', { path: '/a', le: '+Inf' }, 1],
        ['h', 'h_bucket', { path: '/a', le: '0.1' }, 0],
      ]),
    ]);
    assert.deepEqual(rows(family(families, 'h').samples), [
      ['h_sum', { path: '/a' }, 9],
      ['h_bucket', { le: '0.1', path: '/a' }, 3],
      ['h_bucket', { le: '+Inf', path: '/a' }, 4],
      ['h_count', { path: '/a' }, 4],
      ['h_sum', { path: '/b' }, 6],
      ['h_bucket', { le: '0.1', path: '/b' }, 3],
      ['h_bucket', { le: '+Inf', path: '/b' }, 4],
      ['h_count', { path: '/b' }, 4],
    ]);
  });

  it('rejects a bucket whose le is not a number when reading the file', () => {
    const key = Buffer.from(entryKey('h', 'h_bucket', ['le'], ['abc'], 'help'));
    const bytes = Buffer.alloc(256);
    writeEntry(bytes, HEADER_SIZE, key, 1, 0);
    writeUsed(bytes, HEADER_SIZE + entrySize(key.length));
    assert.throws(() => decodeFile(parseFileName('histogram_1.db')!, bytes), (error: unknown) => {
      assert.ok(error instanceof FileFormatError);
      assert.match(error.message, /le="abc" of h_bucket is not a number/);
      return true;
    });
    // Elsewhere le is an ordinary label (a gauge's sample is named as the gauge).
    const gaugeKey = Buffer.from(entryKey('h', 'h', ['le'], ['abc'], 'help'));
    const gaugeBytes = Buffer.alloc(256);
    writeEntry(gaugeBytes, HEADER_SIZE, gaugeKey, 1, 0);
    writeUsed(gaugeBytes, HEADER_SIZE + entrySize(gaugeKey.length));
    const gauge = decodeFile(parseFileName('gauge_all_1.db')!, gaugeBytes);
    assert.equal(gauge.keys[0]!.labels.le, 'abc');
  });

  it('rejects keys that are not keys of this format', () => {
    const key = Buffer.from('["h", "h_sum", {}]');
    const bytes = Buffer.alloc(256);
    writeEntry(bytes, HEADER_SIZE, key, 1, 0);
    writeUsed(bytes, HEADER_SIZE + entrySize(key.length));
    assert.throws(() => decodeFile(parseFileName('histogram_1.db')!, bytes), FileFormatError);
  });
});

describe('gauges', () => {
  const values = (mode: string, name = 'g'): FileRecords[] => [
    file(`gauge_${mode}_1.db`, [[name, name, { k: 'a' }, 5, 100], [name, name, { k: 'b' }, -1, 100]]),
    file(`gauge_${mode}_2.db`, [[name, name, { k: 'a' }, 3, 300]]),
    file(`gauge_${mode}_3.db`, [[name, name, { k: 'a' }, 9, 200]]),
  ];

  for (const mode of ['all', 'liveall']) {
    it(`${mode}: one series per file, with pid = the file's identity`, () => {
      const g = family(mergeFiles(values(mode)), 'g');
      assert.equal(g.type, 'gauge');
      assert.deepEqual(rows(g.samples), [
        ['g', { k: 'a', pid: '1' }, 5],
        ['g', { k: 'b', pid: '1' }, -1],
        ['g', { k: 'a', pid: '2' }, 3],
        ['g', { k: 'a', pid: '3' }, 9],
      ]);
    });
  }

  const aggregated: [string, number][] = [['min', 3], ['max', 9], ['sum', 17], ['mostrecent', 3]];
  for (const [base, expected] of aggregated) {
    for (const mode of [base, `live${base}`]) {
      it(`${mode}: one series per label set, without pid`, () => {
        assert.deepEqual(rows(family(mergeFiles(values(mode)), 'g').samples), [['g', { k: 'a' }, expected], ['g', { k: 'b' }, -1]]);
      });
    }
  }

  for (const mode of ['mostrecent', 'livemostrecent']) {
    it(`${mode}: takes the strictly newest timestamp; a series only ever at timestamp 0 is left out`, () => {
      const families = mergeFiles([
        file(`gauge_${mode}_1.db`, [['g', 'g', { k: 'a' }, 5, 100], ['g', 'g', { k: 'never' }, 42, 0]]),
        file(`gauge_${mode}_2.db`, [['g', 'g', { k: 'a' }, 7, 200], ['g', 'g', { k: 'never' }, 43, 0]]),
        // Same timestamp as the best so far: not newer, so not taken.
        file(`gauge_${mode}_3.db`, [['g', 'g', { k: 'a' }, 9, 200]]),
        file(`gauge_${mode}_4.db`, [['g', 'g', { k: 'a' }, 11, 0]]),
      ]);
      assert.deepEqual(rows(family(families, 'g').samples), [['g', { k: 'a' }, 7]]);
    });
  }

  it('min and max see negative values and zero', () => {
    const files = (mode: string): FileRecords[] => [
      file(`gauge_${mode}_1.db`, [['g', 'g', {}, 0]]),
      file(`gauge_${mode}_2.db`, [['g', 'g', {}, -4]]),
      file(`gauge_${mode}_3.db`, [['g', 'g', {}, 2]]),
    ];
    assert.deepEqual(rows(family(mergeFiles(files('min')), 'g').samples), [['g', {}, -4]]);
    assert.deepEqual(rows(family(mergeFiles(files('livemax')), 'g').samples), [['g', {}, 2]]);
  });

  it('replaces a pid label stored in the key with the file identity, or drops it', () => {
    const stored = (mode: string): FileRecords[] => [
      file(`gauge_${mode}_7.db`, [['g', 'g', { k: 'a', pid: '999' }, 5]]),
      file(`gauge_${mode}_8.db`, [['g', 'g', { k: 'a', pid: '998' }, 6]]),
    ];
    assert.deepEqual(rows(family(mergeFiles(stored('all')), 'g').samples), [['g', { k: 'a', pid: '7' }, 5], ['g', { k: 'a', pid: '8' }, 6]]);
    assert.deepEqual(rows(family(mergeFiles(stored('max')), 'g').samples), [['g', { k: 'a' }, 6]]);
  });
});

describe('families', () => {
  it('takes the help text from the first key seen', () => {
    const families = mergeFiles([
      file('counter_1.db', [['c', 'c_total', {}, 1]], 'first help'),
      file('counter_2.db', [['c', 'c_total', {}, 2]], 'second help'),
    ]);
    assert.equal(family(families, 'c').help, 'first help');
  });

  it('keeps families of different types apart and merges nothing else into them', () => {
    const families = mergeFiles([
      file('counter_1.db', [['c', 'c_total', {}, 1]]),
      file('gauge_sum_1.db', [['g', 'g', {}, 2]]),
      file('summary_1.db', [['s', 's_count', {}, 1], ['s', 's_sum', {}, 3]]),
    ]);
    assert.deepEqual(families.map((f) => [f.name, f.type]).sort(), [['c', 'counter'], ['g', 'gauge'], ['s', 'summary']]);
  });

  it('gives no families for no files, and none for empty files', () => {
    assert.deepEqual(mergeFiles([]), []);
    assert.deepEqual(mergeFiles([file('counter_1.db', [])]), []);
  });
});

describe('parsePythonFloat', () => {
  it('reads what Python float() reads for bucket bounds', () => {
    assert.equal(parsePythonFloat('0.005'), 0.005);
    assert.equal(parsePythonFloat('1e+07'), 1e7);
    assert.equal(parsePythonFloat('1e+010'), 1e10);
    assert.equal(parsePythonFloat('+Inf'), Infinity);
    assert.equal(parsePythonFloat('inf'), Infinity);
    assert.equal(parsePythonFloat('-Inf'), -Infinity);
    assert.ok(Number.isNaN(parsePythonFloat('NaN')));
    assert.equal(parsePythonFloat(' 2.5 '), 2.5);
    assert.equal(parsePythonFloat('.5'), 0.5);
  });

  it('rejects what float() rejects', () => {
    for (const text of ['abc', '', '0x10', '1e', '1,5', 'Infinite', '--1']) {
      assert.throws(() => parsePythonFloat(text), FileFormatError, text);
    }
  });
});
