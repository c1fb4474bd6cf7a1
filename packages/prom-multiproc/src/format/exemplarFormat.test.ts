import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFileName } from './fileNames.js';
import { entryKey } from './pythonJson.js';
import {
  decodeExemplarFile, encodeExemplarFile, exemplarFileName, ExemplarFileError, isExemplarFileName, parseExemplarFileName,
  parseExemplarTemporaryName, type Exemplar,
} from './exemplarFormat.js';

const counterKey = entryKey('jobs', 'jobs_total', ['queue'], ['a'], 'Jobs done');
const bucketKey = entryKey('latency', 'latency_bucket', ['route', 'le'], ['/', '0.5'], 'Latency');

describe('exemplar file names', () => {
  it('are exemplars_<identity>.pmx, which no collector of .db files takes for a metrics file', () => {
    assert.equal(exemplarFileName('w1'), 'exemplars_w1.pmx');
    assert.equal(parseExemplarFileName('exemplars_w1.pmx'), 'w1');
    assert.equal(parseExemplarFileName('exemplars_1234-t2.pmx'), '1234-t2');
    assert.equal(parseFileName('exemplars_w1.pmx'), undefined);
    assert.ok(!exemplarFileName('w1').endsWith('.db'));
  });

  it('refuse identities that cannot name a file, and other names', () => {
    for (const name of ['exemplars_.pmx', 'exemplars_a_b.pmx', 'exemplars_w1.db', 'counter_w1.db', 'exemplars_w 1.pmx', 'xexemplars_w1.pmx']) {
      assert.equal(parseExemplarFileName(name), undefined, name);
    }
  });

  it('tell the temporary names a file is written under, with the identity and the writer', () => {
    assert.deepEqual(parseExemplarTemporaryName('exemplars_w1.pmx.4242-0a1b2c3d.tmp'), { identity: 'w1', pid: 4242 });
    assert.equal(parseExemplarTemporaryName('counter_w1.db.4242-0a1b2c3d.tmp'), undefined);
    assert.equal(parseExemplarTemporaryName('exemplars_w1.pmx.tmp'), undefined);
    assert.ok(isExemplarFileName('exemplars_w1.pmx'));
    assert.ok(isExemplarFileName('exemplars_w1.pmx.1-deadbeef.tmp'));
    assert.ok(!isExemplarFileName('counter_w1.db'));
  });
});

describe('exemplar file contents', () => {
  it('read back what was written: keys, labels in their order, values and timestamps exactly', () => {
    const written = new Map<string, Exemplar>([
      [counterKey, { labels: { trace_id: 'abc', span_id: 'def' }, value: 1, timestamp: 1700000000.123 }],
      [bucketKey, { labels: { zeta: 'é "quoted"\n\\', alpha: '🙂' }, value: 0.1 + 0.2, timestamp: 1700000001.000001 }],
    ]);
    const read = decodeExemplarFile(encodeExemplarFile(written));
    assert.deepEqual([...read], [...written]);
    assert.deepEqual(Object.keys(read.get(bucketKey)!.labels), ['zeta', 'alpha']);
  });

  it('keep values JSON has no numbers for, and a label named __proto__ as a label', () => {
    const written = new Map<string, Exemplar>([
      // fromEntries, as a literal __proto__ would set the prototype.
      ['a', { labels: Object.fromEntries([['__proto__', 'x']]), value: NaN, timestamp: 1 }],
      ['b', { labels: {}, value: Infinity, timestamp: 2 }],
      ['c', { labels: {}, value: -Infinity, timestamp: 3 }],
    ]);
    const read = decodeExemplarFile(encodeExemplarFile(written));
    assert.ok(Number.isNaN(read.get('a')!.value));
    assert.equal(Object.getOwnPropertyDescriptor(read.get('a')!.labels, '__proto__')?.value, 'x');
    assert.equal(read.get('b')!.value, Infinity);
    assert.equal(read.get('c')!.value, -Infinity);
  });

  it('writes one exemplar a line, and an empty file that reads back empty', () => {
    const text = encodeExemplarFile([[counterKey, { labels: { trace_id: 'abc' }, value: 1, timestamp: 5 }]]).toString('utf8');
    assert.match(text, /^\{"format":"prom-multiproc-exemplars","version":1,"exemplars":\[\n\[.*\]\n\]\}\n$/);
    assert.equal(decodeExemplarFile(encodeExemplarFile([])).size, 0);
  });

  it('refuses anything but a whole file of this format, saying why', () => {
    const whole = encodeExemplarFile([[counterKey, { labels: { trace_id: 'abc' }, value: 1, timestamp: 5 }]]);
    const cases: [Uint8Array, RegExp][] = [
      [whole.subarray(0, whole.length - 5), /not JSON/],
      [Buffer.from([0xff, 0xfe, 0x00]), /not UTF-8/],
      [Buffer.from('{"format":"other","version":1,"exemplars":[]}'), /not a prom-multiproc-exemplars file/],
      [Buffer.from('[]'), /not a prom-multiproc-exemplars file/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":2,"exemplars":[]}'), /version is 2/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":{}}'), /not an array/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":[["k",[],1]]}'), /exemplar 0: is not a 4-element array/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":[[1,[],1,2]]}'), /entry key is not a string/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":[["k",[["a",1]],1,2]]}'), /not a \[name, value\] pair/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":[["k",[],"1",2]]}'), /value is not a number/],
      [Buffer.from('{"format":"prom-multiproc-exemplars","version":1,"exemplars":[["k",[],1,null]]}'), /timestamp is not a finite number/],
    ];
    for (const [bytes, reason] of cases) {
      assert.throws(() => decodeExemplarFile(bytes), (error: unknown) => error instanceof ExemplarFileError && reason.test(error.message), String(reason));
    }
  });

  it('keeps the later of two exemplars a file gives for one key', () => {
    const text = '{"format":"prom-multiproc-exemplars","version":1,"exemplars":[["k",[["t","new"]],1,9],["k",[["t","old"]],1,3]]}';
    assert.equal(decodeExemplarFile(Buffer.from(text)).get('k')!.labels.t, 'new');
  });
});
