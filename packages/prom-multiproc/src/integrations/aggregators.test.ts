// The aggregators, side by side with prom-client's, on what registries really give
// (getMetricsAsJSON of several registries, one per would-be cluster worker) and on random samples.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client';
import { AggregatorFactory, aggregators, type AggregatorName, type MetricJson, type SampleJson } from './aggregators.js';

type Reference = (metrics: readonly MetricJson[]) => unknown;
const reference = createRequire(import.meta.url)('prom-client/lib/metricAggregators') as {
  aggregators: Record<AggregatorName, Reference>;
  AggregatorFactory(combine: (samples: SampleJson[]) => number): Reference;
};
const NAMES: AggregatorName[] = ['sum', 'first', 'omit', 'average', 'min', 'max'];

/** What three workers' registries give for one family of each type, with different values each. */
async function workerMetrics(): Promise<MetricJson[][]> {
  const perWorker: MetricJson[][] = [];
  for (const n of [1, 2, 5]) {
    const registry = new Registry();
    const registers = [registry];
    const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'code'], registers });
    requests.inc({ route: '/a', code: 200 }, n);
    requests.inc({ code: '500', route: '/a' }, 1);
    if (n !== 2) requests.inc({ route: `/only-${n}`, code: 200 });
    const busy = new Gauge({ name: 'busy', help: 'Busy.', labelNames: ['pool'], registers, aggregator: 'max' });
    busy.set({ pool: 'x' }, n * 1.5);
    busy.set({ pool: 'y' }, -n);
    const latency = new Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1], registers });
    latency.observe({ route: '/a' }, 0.05 * n);
    latency.observe({ route: '/a' }, 2);
    const sizes = new Summary({ name: 'sizes', help: 'Sizes.', percentiles: [0.5, 0.9], registers, aggregator: 'average' });
    sizes.observe(n);
    sizes.observe(10 * n);
    perWorker.push(await registry.getMetricsAsJSON() as unknown as MetricJson[]);
  }
  return perWorker;
}

/** The same metric from every worker, by name, as AggregatorRegistry gathers them. */
function byName(perWorker: MetricJson[][]): Map<string, MetricJson[]> {
  const gathered = new Map<string, MetricJson[]>();
  for (const metrics of perWorker) for (const metric of metrics) gathered.set(metric.name, [...(gathered.get(metric.name) ?? []), metric]);
  return gathered;
}

describe('aggregators', () => {
  it('give what prom-client\'s give for every family type and every aggregator', async () => {
    const gathered = byName(await workerMetrics());
    assert.equal(gathered.size, 4);
    for (const [metricName, metrics] of gathered) {
      for (const name of NAMES) {
        assert.deepStrictEqual(aggregators[name](metrics), reference.aggregators[name](metrics), `${name} of ${metricName}`);
      }
    }
  });

  it('sum adds each series across workers and keeps the first worker\'s labels and sample names', async () => {
    const gathered = byName(await workerMetrics());
    const requests = aggregators.sum(gathered.get('requests_total')!)!;
    assert.deepStrictEqual(requests.values, [
      { value: 8, labels: { route: '/a', code: 200 } },
      { value: 3, labels: { code: '500', route: '/a' } },
      { value: 1, labels: { route: '/only-1', code: 200 } },
      { value: 1, labels: { route: '/only-5', code: 200 } },
    ]);
    assert.equal(requests.aggregator, 'sum');
    const latency = aggregators.sum(gathered.get('latency_seconds')!)!;
    assert.deepStrictEqual(latency.values.find((value) => value.metricName === 'latency_seconds_count'), {
      value: 6, labels: { route: '/a' }, metricName: 'latency_seconds_count',
    });
    assert.deepStrictEqual(latency.values.find((value) => value.labels.le === 0.1), {
      value: 2, labels: { le: 0.1, route: '/a' }, metricName: 'latency_seconds_bucket',
    });
  });

  it('give undefined for no metrics, and omit for any', async () => {
    for (const name of NAMES) assert.equal(aggregators[name]([]), undefined, name);
    const gathered = byName(await workerMetrics());
    assert.equal(aggregators.omit(gathered.get('busy')!), undefined);
  });

  it('match prom-client on random samples: label order, number and string values, undefined labels, NaN and infinities', () => {
    const labelValue = fc.oneof(fc.constantFrom('a', 'b', '1', '', 'x y'), fc.constantFrom(1, 2), fc.constant(undefined));
    const labels = fc.dictionary(fc.constantFrom('route', 'code', 'le', 'z'), labelValue, { maxKeys: 3 });
    const value = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0));
    const sample = fc.record({ value, labels, metricName: fc.constantFrom(undefined, '', 'm_bucket', 'm_sum') }, { requiredKeys: ['value', 'labels'] });
    const metric = fc.record({
      name: fc.constant('m'), help: fc.constant('M.'), type: fc.constantFrom('counter', 'gauge', 'histogram'),
      aggregator: fc.constantFrom('sum', 'max', undefined), values: fc.array(sample, { maxLength: 8 }),
    });
    fc.assert(fc.property(fc.array(metric, { maxLength: 4 }), (metrics) => {
      for (const name of NAMES) assert.deepStrictEqual(aggregators[name](metrics), reference.aggregators[name](metrics), name);
    }), { numRuns: 1500 });
  });

  it('AggregatorFactory makes aggregators as prom-client\'s does', async () => {
    const median = (samples: SampleJson[]): number => samples.map((sample) => sample.value).sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
    const gathered = byName(await workerMetrics());
    for (const metrics of gathered.values()) {
      assert.deepStrictEqual(AggregatorFactory(median)(metrics), reference.AggregatorFactory(median)(metrics));
    }
    assert.deepStrictEqual(AggregatorFactory(median)(gathered.get('busy')!)!.values, [
      { value: 3, labels: { pool: 'x' } },
      { value: -2, labels: { pool: 'y' } },
    ]);
  });

  it('keep apart label sets that prom-client\'s key runs together', () => {
    // prom-client keys both samples "a:1,b:2," and adds them into one series: a difference on purpose.
    const metrics: MetricJson[] = [{
      name: 'm', help: 'M.', type: 'gauge', aggregator: 'sum',
      values: [{ value: 1, labels: { a: '1,b:2' } }, { value: 2, labels: { a: '1', b: '2' } }],
    }];
    assert.deepStrictEqual(aggregators.sum(metrics)!.values, [
      { value: 1, labels: { a: '1,b:2' } },
      { value: 2, labels: { a: '1', b: '2' } },
    ]);
    assert.equal((reference.aggregators.sum(metrics) as { values: unknown[] }).values.length, 1);
  });
});
