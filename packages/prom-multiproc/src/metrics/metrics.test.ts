// The prom-client-shaped API of the four metric types, against a MemoryStore and against a
// FileStore in a temp directory (read back through the real merge of the files).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { collectDirectory, collectStore } from '../scrape/collector.js';
import { MetricConfigurationError } from '../common/errors.js';
import type { MetricFamily, Sample } from '../scrape/merge.js';
import { register } from '../scrape/promRegistry.js';
import { entryKey } from '../format/pythonJson.js';
import { FileStore } from '../storage/fileStore.js';
import { MemoryStore } from '../storage/memoryStore.js';
import type { SeriesStore } from '../storage/store.js';
import { Counter } from './counter.js';
import { Gauge } from './gauge.js';
import { Histogram } from './histogram.js';
import { Summary } from './summary.js';

interface StoreKind {
  name: string;
  create(options?: { now?: () => number }): SeriesStore;
  families(store: SeriesStore): Promise<MetricFamily[]>;
}

const tempDirs: string[] = [];
const openStores: SeriesStore[] = [];
let nextIdentity = 1;

// Every metric joins the global registry, which takes one metric per name, as prom-client's does.
beforeEach(() => register.clear());

after(() => {
  for (const store of openStores) store.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const storeKinds: StoreKind[] = [
  {
    name: 'MemoryStore',
    create: (options = {}) => new MemoryStore({ identity: nextIdentity++, ...options }),
    families: async (store) => collectStore(store).families,
  },
  {
    name: 'FileStore',
    create: (options = {}) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-metrics-'));
      tempDirs.push(dir);
      const store = new FileStore({ dir, identity: nextIdentity++, ...options });
      openStores.push(store);
      return store;
    },
    families: async (store) => {
      store.flush();
      const collection = await collectDirectory(store.dir!);
      assert.deepEqual(collection.skipped, []);
      return collection.families;
    },
  },
];

function samplesOf(families: MetricFamily[], name: string): Sample[] | undefined {
  return families.find((family) => family.name === name)?.samples;
}

function valueOf(families: MetricFamily[], family: string, sample: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samplesOf(families, family)?.find((s) => s.name === sample && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value;
}

/** Throws MetricConfigurationError whose message names the metric (and matches `detail`). */
function assertConfigError(action: () => unknown, metricName: string, detail?: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof MetricConfigurationError, `expected MetricConfigurationError, got ${String(error)}`);
    assert.ok(error.message.includes(metricName), `"${error.message}" does not name ${metricName}`);
    if (detail !== undefined) assert.match(error.message, detail);
    return true;
  });
}

for (const kind of storeKinds) {
  describe(`metrics with a ${kind.name}`, () => {
    describe('labels', () => {
      it('finds the same series by position and by name, with numbers as text', async () => {
        const store = kind.create();
        const counter = new Counter({ name: 'requests', help: 'Requests.', labelNames: ['method', 'code'], store, registers: [] });
        counter.labels('GET', 200).inc();
        counter.labels({ code: '200', method: 'GET' }).inc(2);
        counter.inc({ method: 'GET', code: 200 }, 4);
        counter.labels('POST', '500').inc(0.5);
        assert.strictEqual(counter.labels('GET', '200'), counter.labels({ method: 'GET', code: 200 }));
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'requests', 'requests_total', { method: 'GET', code: '200' }), 7);
        assert.equal(valueOf(families, 'requests', 'requests_total', { method: 'POST', code: '500' }), 0.5);
        assert.equal(samplesOf(families, 'requests')!.length, 2);
      });

      it('rejects a wrong number of label values', () => {
        const store = kind.create();
        const counter = new Counter({ name: 'two_labels', help: 'h', labelNames: ['a', 'b'], store, registers: [] });
        assertConfigError(() => counter.labels('x'), 'two_labels', /takes 2 label value\(s\) \[a, b\], but 1 were given/);
        assertConfigError(() => counter.labels('x', 'y', 'z'), 'two_labels');
        const plain = new Counter({ name: 'no_labels', help: 'h', store, registers: [] });
        assertConfigError(() => plain.labels('x'), 'no_labels', /has no labels/);
      });

      it('rejects an unknown label name; a label left out of an object is left out of the series, as in prom-client', async () => {
        const store = kind.create();
        const gauge = new Gauge({ name: 'temperature', help: 'h', labelNames: ['room', 'floor'], store, registers: [] });
        assertConfigError(() => gauge.labels({ room: 'a', wing: '1' } as never), 'temperature', /no label "wing"/);
        assertConfigError(() => gauge.set({ wing: '1' } as never, 1), 'temperature');
        gauge.labels({ room: 'a' }).set(3);
        gauge.set({ floor: '2' }, 4);
        gauge.set({}, 5);
        const samples = (await kind.families(store)).find((family) => family.name === 'temperature')!.samples
          .map(({ labels: { pid: _pid, ...labels }, value }) => ({ ...labels, value }) as Record<string, unknown> & { value: number });
        assert.deepEqual(samples.sort((a, b) => a.value - b.value), [{ room: 'a', value: 3 }, { floor: '2', value: 4 }, { value: 5 }]);
        assertConfigError(() => gauge.labels('a'), 'temperature', /takes 2 label value/);
        // No labels at all on a labelled metric: prom-client records the series without labels.
        const counter = new Counter({ name: 'unlabelled_use', help: 'h', labelNames: ['a'], store, registers: [] });
        counter.inc();
        counter.inc({ a: null as never });
        const counted = (await kind.families(store)).find((family) => family.name === 'unlabelled_use')!.samples;
        assert.deepEqual(counted.map((sample) => [{ ...sample.labels }, sample.value]), [[{}, 1], [{ a: 'null' }, 1]]);
      });
    });

    describe('validation', () => {
      it('rejects invalid metric names, naming them', () => {
        const store = kind.create();
        for (const name of ['bad-name', '1starts_with_digit', 'has space', '']) {
          assertConfigError(() => new Counter({ name, help: 'h', store, registers: [] }), JSON.stringify(name), /invalid metric name/);
        }
      });

      it('rejects invalid label names, naming the metric', () => {
        const store = kind.create();
        assertConfigError(() => new Counter({ name: 'bad_label', help: 'h', labelNames: ['bad-label'], store, registers: [] }), 'bad_label', /"bad-label"/);
        assertConfigError(() => new Counter({ name: 'dunder_label', help: 'h', labelNames: ['__x'], store, registers: [] }), 'dunder_label', /__/);
        assertConfigError(() => new Counter({ name: 'twice_label', help: 'h', labelNames: ['a', 'a'], store, registers: [] }), 'twice_label', /twice/);
      });

      it('reserves le on histograms, quantile on summaries and pid on gauges', () => {
        const store = kind.create();
        assertConfigError(() => new Histogram({ name: 'h_le', help: 'h', labelNames: ['le'], store, registers: [] }), 'h_le', /le is reserved/);
        assertConfigError(() => new Summary({ name: 's_quantile', help: 'h', labelNames: ['quantile'], store, registers: [] }), 's_quantile', /quantile is reserved/);
        assertConfigError(() => new Gauge({ name: 'g_pid', help: 'h', labelNames: ['pid'], store, registers: [] }), 'g_pid', /pid is reserved/);
        // Reserved only where the type needs the name.
        new Counter({ name: 'c_le', help: 'h', labelNames: ['le', 'pid', 'quantile'], store, registers: [] }).labels('1', '2', '3').inc();
      });

      it('rejects a negative, NaN or infinite counter increment', () => {
        const store = kind.create();
        const counter = new Counter({ name: 'only_up', help: 'h', store, registers: [] });
        assertConfigError(() => counter.inc(-1), 'only_up', /It is not possible to decrease a counter \(increment -1\)/);
        assertConfigError(() => counter.inc(NaN), 'only_up', /finite number/);
        assertConfigError(() => counter.inc(Infinity), 'only_up', /finite number/);
        assertConfigError(() => counter.inc('1' as never), 'only_up', /Value is not a valid number: "1"/);
      });

      it('creates no series for a value it rejects, whatever the type', async () => {
        const store = kind.create();
        const counter = new Counter({ name: 'rejected_c', help: 'h', labelNames: ['route'], store, registers: [] });
        assertConfigError(() => counter.inc({ route: '/negative' }, -1), 'rejected_c', /It is not possible to decrease a counter/);
        assertConfigError(() => counter.inc({ route: '/string' }, '5' as never), 'rejected_c', /Value is not a valid number: "5"/);
        assertConfigError(() => counter.inc({ route: '/nan' }, NaN), 'rejected_c', /Value is not a valid number: NaN/);
        const gauge = new Gauge({ name: 'rejected_g', help: 'h', labelNames: ['room'], store, registers: [] });
        assertConfigError(() => gauge.set({ room: 'set' }, '5' as never), 'rejected_g', /Value is not a valid number: "5"/);
        assertConfigError(() => gauge.inc({ room: 'inc' }, '5' as never), 'rejected_g', /Delta is not a valid number: "5"/);
        assertConfigError(() => gauge.dec({ room: 'dec' }, '5' as never), 'rejected_g', /Delta is not a valid number: "5"/);
        const recent = new Gauge({ name: 'rejected_recent', help: 'h', labelNames: ['room'], multiprocessMode: 'mostrecent', store, registers: [] });
        assertConfigError(() => recent.inc({ room: 'inc' }), 'rejected_recent', /use set\(\)/);
        const histogram = new Histogram({ name: 'rejected_h', help: 'h', labelNames: ['route'], store, registers: [] });
        assertConfigError(() => histogram.observe({ route: '/string' }, '0.5' as never), 'rejected_h', /Value is not a valid number: "0.5"/);
        assertConfigError(() => histogram.observe({ route: '/nan' }, NaN), 'rejected_h', /Value is not a valid number: NaN/);
        const summary = new Summary({ name: 'rejected_s', help: 'h', labelNames: ['route'], store, registers: [] });
        assertConfigError(() => summary.observe({ route: '/object' }, {} as never), 'rejected_s', /Value is not a valid number: \{\}/);
        const families = await kind.families(store);
        for (const name of ['rejected_c', 'rejected_g', 'rejected_recent', 'rejected_h', 'rejected_s']) {
          assert.equal(samplesOf(families, name), undefined, `${name} has no series`);
        }
      });

      it('decrements a gauge by a number only (a string is not negated into one)', () => {
        const store = kind.create();
        const gauge = new Gauge({ name: 'dec_string', help: 'h', store, registers: [] });
        assertConfigError(() => gauge.labels().dec('2' as never), 'dec_string', /Delta is not a valid number: "2"/);
      });

      it('rejects observing NaN', () => {
        const store = kind.create();
        const histogram = new Histogram({ name: 'latency_nan', help: 'h', store, registers: [] });
        assertConfigError(() => histogram.observe(NaN), 'latency_nan', /not NaN/);
        const summary = new Summary({ name: 'size_nan', help: 'h', store, registers: [] });
        assertConfigError(() => summary.observe(NaN), 'size_nan', /not NaN/);
      });

      it('rejects inc() and dec() on the mostrecent gauge modes', () => {
        const store = kind.create();
        for (const multiprocessMode of ['mostrecent', 'livemostrecent'] as const) {
          const gauge = new Gauge({ name: `last_${multiprocessMode}`, help: 'h', multiprocessMode, store });
          assertConfigError(() => gauge.inc(), `last_${multiprocessMode}`, /use set\(\)/);
          assertConfigError(() => gauge.dec(2), `last_${multiprocessMode}`, /use set\(\)/);
          gauge.set(3);
        }
      });

      it('rejects an unknown multiprocessMode', () => {
        const store = kind.create();
        assertConfigError(() => new Gauge({ name: 'g_mode', help: 'h', multiprocessMode: 'average' as never, store, registers: [] }), 'g_mode', /unknown multiprocessMode "average"/);
      });

      it('rejects buckets that are not strictly increasing numbers', () => {
        const store = kind.create();
        assertConfigError(() => new Histogram({ name: 'h_unsorted', help: 'h', buckets: [1, 0.5], store, registers: [] }), 'h_unsorted', /strictly increasing/);
        assertConfigError(() => new Histogram({ name: 'h_duplicate', help: 'h', buckets: [1, 1], store, registers: [] }), 'h_duplicate', /strictly increasing/);
        assertConfigError(() => new Histogram({ name: 'h_nan_bucket', help: 'h', buckets: [NaN], store, registers: [] }), 'h_nan_bucket');
        assertConfigError(() => new Histogram({ name: 'h_empty', help: 'h', buckets: [], store, registers: [] }), 'h_empty');
      });

      it('rejects percentiles outside 0 to 1 on a Summary', () => {
        const store = kind.create();
        assert.throws(() => new Summary({ name: 's_pct', help: 'h', percentiles: [0.5, 1.5], store, registers: [] }), /percentile is a number from 0 to 1/);
      });

      it('needs a help text', () => {
        const store = kind.create();
        assertConfigError(() => new Counter({ name: 'no_help', store } as never), 'no_help', /help/);
      });
    });

    describe('counters', () => {
      it('stores x_total and x identically, as Python does', async () => {
        const store = kind.create();
        const withTotal = new Counter({ name: 'jobs_total', help: 'Jobs.', store, registers: [] });
        const without = new Counter({ name: 'jobs', help: 'Jobs.', store, registers: [] });
        withTotal.inc(2);
        without.inc(3);
        const entries = store.entries().get('counter')!;
        assert.deepEqual(entries.map((entry) => [entry.key, entry.value]), [[entryKey('jobs', 'jobs_total', [], [], 'Jobs.'), 5]]);
        assert.equal(valueOf(await kind.families(store), 'jobs', 'jobs_total'), 5);
      });
    });

    describe('creation of series', () => {
      it('creates a label-less series at construction, at 0, for every type', async () => {
        const store = kind.create();
        new Counter({ name: 'c0', help: 'h', store, registers: [] });
        new Gauge({ name: 'g0', help: 'h', multiprocessMode: 'sum', store, registers: [] });
        new Summary({ name: 's0', help: 'h', store, registers: [] });
        new Histogram({ name: 'h0', help: 'h', buckets: [0.005, 1], store, registers: [] });
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'c0', 'c0_total'), 0);
        assert.equal(valueOf(families, 'g0', 'g0'), 0);
        assert.equal(valueOf(families, 's0', 's0_count'), 0);
        assert.equal(valueOf(families, 's0', 's0_sum'), 0);
        assert.deepEqual(samplesOf(families, 'h0')!.map((s) => [s.name, s.labels.le, s.value]), [
          ['h0_sum', undefined, 0], ['h0_bucket', '0.005', 0], ['h0_bucket', '1.0', 0], ['h0_bucket', '+Inf', 0], ['h0_count', undefined, 0],
        ]);
      });

      it('creates no series for a labelled metric until labels() is called', async () => {
        const store = kind.create();
        const counter = new Counter({ name: 'lazy', help: 'h', labelNames: ['a'], store, registers: [] });
        const histogram = new Histogram({ name: 'lazy_h', help: 'h', labelNames: ['a'], buckets: [1], store, registers: [] });
        let families = await kind.families(store);
        assert.equal(samplesOf(families, 'lazy'), undefined);
        assert.equal(samplesOf(families, 'lazy_h'), undefined);
        counter.labels('x');
        histogram.labels('y');
        families = await kind.families(store);
        assert.equal(valueOf(families, 'lazy', 'lazy_total', { a: 'x' }), 0);
        assert.equal(valueOf(families, 'lazy_h', 'lazy_h_count', { a: 'y' }), 0);
        assert.equal(valueOf(families, 'lazy_h', 'lazy_h_bucket', { a: 'y', le: '1.0' }), 0);
      });
    });

    describe('gauges', () => {
      it('sets, increments and decrements, by label set', async () => {
        const store = kind.create();
        const gauge = new Gauge({ name: 'queue', help: 'h', labelNames: ['q'], multiprocessMode: 'sum', store, registers: [] });
        gauge.set({ q: 'a' }, 10);
        gauge.inc({ q: 'a' });
        gauge.dec({ q: 'a' }, 4);
        gauge.labels('b').inc(2.5);
        gauge.labels('b').dec();
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'queue', 'queue', { q: 'a' }), 7);
        assert.equal(valueOf(families, 'queue', 'queue', { q: 'b' }), 1.5);
      });

      it('setToCurrentTime uses the store clock, and the mostrecent modes store it as the timestamp', async () => {
        const store = kind.create({ now: () => 1700000000.25 });
        const plain = new Gauge({ name: 'last_run', help: 'h', multiprocessMode: 'max', store, registers: [] });
        const recent = new Gauge({ name: 'last_seen', help: 'h', multiprocessMode: 'mostrecent', store, registers: [] });
        plain.setToCurrentTime();
        recent.setToCurrentTime();
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'last_run', 'last_run'), 1700000000.25);
        assert.equal(valueOf(families, 'last_seen', 'last_seen'), 1700000000.25);
        const entries = [...store.entries().values()].flat();
        const timestampOf = (name: string): number | undefined => entries.find((entry) => entry.key.startsWith(`["${name}"`))?.timestamp;
        assert.equal(timestampOf('last_run'), 0);
        assert.equal(timestampOf('last_seen'), 1700000000.25);
      });

      it('startTimer sets the seconds elapsed and returns them', async () => {
        const store = kind.create();
        const gauge = new Gauge({ name: 'took', help: 'h', multiprocessMode: 'max', store, registers: [] });
        const end = gauge.startTimer();
        await new Promise((resolve) => setTimeout(resolve, 20));
        const seconds = end();
        assert.ok(seconds >= 0.015 && seconds < 10, `${seconds} s`);
        assert.equal(valueOf(await kind.families(store), 'took', 'took'), seconds);
      });
    });

    describe('histograms and summaries', () => {
      it('counts observations in the first bucket whose bound is >= the value', async () => {
        const store = kind.create();
        const histogram = new Histogram({ name: 'size', help: 'h', buckets: [1, 10], store, registers: [] });
        for (const value of [0.5, 1, 1.0000001, 10, 11, -5]) histogram.observe(value);
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'size', 'size_bucket', { le: '1.0' }), 3);
        assert.equal(valueOf(families, 'size', 'size_bucket', { le: '10.0' }), 5);
        assert.equal(valueOf(families, 'size', 'size_bucket', { le: '+Inf' }), 6);
        assert.equal(valueOf(families, 'size', 'size_count'), 6);
        assert.equal(valueOf(families, 'size', 'size_sum'), 0.5 + 1 + 1.0000001 + 10 + 11 - 5);
      });

      it('histogram startTimer observes the seconds elapsed and returns them', async () => {
        const store = kind.create();
        const histogram = new Histogram({ name: 'request_seconds', help: 'h', labelNames: ['route'], store, registers: [] });
        const end = histogram.startTimer({ route: '/a' });
        await new Promise((resolve) => setTimeout(resolve, 20));
        const seconds = end();
        assert.ok(seconds >= 0.015 && seconds < 10, `${seconds} s`);
        const families = await kind.families(store);
        const sum = valueOf(families, 'request_seconds', 'request_seconds_sum', { route: '/a' })!;
        assert.ok(sum > 0);
        assert.equal(sum, seconds);
        assert.equal(valueOf(families, 'request_seconds', 'request_seconds_count', { route: '/a' }), 1);
      });

      it('summary observes, and its startTimer records the seconds', async () => {
        const store = kind.create();
        const summary = new Summary({ name: 'payload', help: 'h', labelNames: ['kind'], store, registers: [] });
        summary.observe({ kind: 'json' }, 100);
        summary.labels('json').observe(50);
        const end = summary.startTimer({ kind: 'timer' });
        const seconds = end();
        assert.ok(seconds >= 0);
        const families = await kind.families(store);
        assert.equal(valueOf(families, 'payload', 'payload_count', { kind: 'json' }), 2);
        assert.equal(valueOf(families, 'payload', 'payload_sum', { kind: 'json' }), 150);
        assert.equal(valueOf(families, 'payload', 'payload_count', { kind: 'timer' }), 1);
        assert.equal(valueOf(families, 'payload', 'payload_sum', { kind: 'timer' }), seconds);
      });
    });
  });
}

describe('metrics with a FileStore: what reaches the files', () => {
  it('labels the gauges of an all-mode metric with the store identity', async () => {
    const store = storeKinds[1]!.create();
    new Gauge({ name: 'workers', help: 'h', store, registers: [] }).set(4);
    const families = await storeKinds[1]!.families(store);
    assert.deepEqual(samplesOf(families, 'workers'), [{ name: 'workers', labels: { pid: store.identity }, value: 4 }]);
  });
});
