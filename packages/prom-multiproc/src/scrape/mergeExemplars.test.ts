import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { entryKey } from '../format/pythonJson.js';
import { setProblemReporter } from '../common/report.js';
import { encodeExemplarFile, type Exemplar } from '../format/exemplarFormat.js';
import { ExemplarsBySample, mergeExemplars } from './mergeExemplars.js';

const counterKey = entryKey('jobs', 'jobs_total', ['queue'], ['a'], 'Jobs done');
const bucketKey = (le: string) => entryKey('latency', 'latency_bucket', ['route', 'le'], ['/', le], 'Latency');

function file(name: string, exemplars: [string, Exemplar][]) {
  return { file: `/metrics/${name}`, bytes: encodeExemplarFile(exemplars) };
}

const at = (trace: string, timestamp: number, value = 1): Exemplar => ({ labels: { trace_id: trace }, value, timestamp });

describe('mergeExemplars', () => {
  const warnings: string[] = [];
  before(() => setProblemReporter((error) => warnings.push(error.message)));
  after(() => setProblemReporter(undefined));

  it('keeps, per series and per bucket, the latest exemplar among the processes', () => {
    const merged = mergeExemplars([
      file('exemplars_1.pmx', [[counterKey, at('one', 10)], [bucketKey('0.5'), at('one-b', 30, 0.4)]]),
      file('exemplars_2.pmx', [[counterKey, at('two', 20)], [bucketKey('1.0'), at('two-b', 5, 0.9)]]),
      file('exemplars_3.pmx', [[counterKey, at('three', 15)], [bucketKey('0.5'), at('three-b', 25, 0.2)]]),
    ]);
    assert.deepEqual(
      [...merged].map(([key, exemplar]) => [key, exemplar.labels.trace_id]).sort(),
      [[counterKey, 'two'], [bucketKey('0.5'), 'one-b'], [bucketKey('1.0'), 'two-b']].sort(),
    );
  });

  it('decides a tie for the file given first, so every scrape answers alike', () => {
    const merged = mergeExemplars([file('exemplars_a.pmx', [[counterKey, at('first', 7)]]), file('exemplars_b.pmx', [[counterKey, at('second', 7)]])]);
    assert.equal(merged.get(counterKey)!.labels.trace_id, 'first');
  });

  it('leaves a corrupt file out, reports it by name once, and merges the others', () => {
    warnings.length = 0;
    const files = [
      file('exemplars_1.pmx', [[counterKey, at('one', 10)]]),
      { file: '/metrics/exemplars_2.pmx', bytes: Buffer.from('{"format":"prom-multiproc-exemplars","vers') },
      file('exemplars_3.pmx', [[bucketKey('0.5'), at('three', 1)]]),
    ];
    for (let scrape = 0; scrape < 2; scrape++) {
      const merged = mergeExemplars(files);
      assert.deepEqual([...merged.keys()], [counterKey, bucketKey('0.5')]);
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /\/metrics\/exemplars_2\.pmx/);
    assert.match(warnings[0]!, /not JSON/);
  });
});

describe('ExemplarsBySample', () => {
  it('finds a merged sample\'s exemplar by its name and labels, in any order, whatever the help', () => {
    const otherHelp = entryKey('jobs', 'jobs_total', ['queue'], ['b'], 'Jobs (older help text)');
    const index = new ExemplarsBySample(new Map([[counterKey, at('a', 1)], [otherHelp, at('b', 2)]]));
    assert.equal(index.get('jobs_total', { queue: 'a' })?.labels.trace_id, 'a');
    assert.equal(index.get('jobs_total', { queue: 'b' })?.labels.trace_id, 'b');
    assert.equal(index.get('jobs_total', { queue: 'c' }), undefined);
    assert.equal(index.get('jobs', { queue: 'a' }), undefined);
  });

  it('matches a bucket by the number its le names, as the merge writes it', () => {
    const index = new ExemplarsBySample(new Map([[bucketKey('1'), at('one', 1)], [bucketKey('+Inf'), at('inf', 1)]]));
    assert.equal(index.get('latency_bucket', { le: '1.0', route: '/' })?.labels.trace_id, 'one');
    assert.equal(index.get('latency_bucket', { route: '/', le: '+Inf' })?.labels.trace_id, 'inf');
    assert.equal(index.get('latency_bucket', { route: '/', le: '2.0' }), undefined);
  });

  it('keeps the latest when keys differing in help only name one sample, and skips keys that are not entry keys', () => {
    const older = entryKey('jobs', 'jobs_total', ['queue'], ['a'], 'old help');
    const index = new ExemplarsBySample(new Map([[older, at('new', 9)], [counterKey, at('old', 3)], ['not a key', at('x', 99)]]));
    assert.equal(index.size, 1);
    assert.equal(index.get('jobs_total', { queue: 'a' })?.labels.trace_id, 'new');
  });
});
