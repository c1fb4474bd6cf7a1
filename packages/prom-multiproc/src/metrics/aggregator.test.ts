// prom-client's `aggregator` in multiprocess mode: a gauge's aggregator picks its merge mode, and
// `omit` keeps any metric out of the directory, served by its own process only.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { collectDirectory } from '../scrape/collector.js';
import { Registry } from '../scrape/promRegistry.js';
import { FileStore } from '../storage/fileStore.js';
import { Counter } from './counter.js';
import { Gauge, MODE_OF_AGGREGATOR } from './gauge.js';

const dir = mkdtempSync(path.join(tmpdir(), 'pm-aggregator-'));
const stores: FileStore[] = [];
after(() => {
  for (const store of stores) store.close();
  rmSync(dir, { recursive: true, force: true });
});

function worker(identity: string): FileStore {
  const store = new FileStore({ dir, identity });
  stores.push(store);
  return store;
}

describe('aggregator in multiprocess mode', () => {
  it('merges each gauge as its aggregator says, across two processes', async () => {
    const cases = [['sum', 7], ['min', 3], ['max', 4], ['first', 4]] as const;
    for (const [identity, value] of [['a', 3], ['b', 4]] as const) {
      const store = worker(identity);
      for (const [aggregator] of cases) new Gauge({ name: `g_${aggregator}`, help: 'h', aggregator, store, registers: [] }).set(value);
      new Gauge({ name: 'g_average', help: 'h', aggregator: 'average', store, registers: [] }).set(value);
      store.flush();
    }
    const families = new Map((await collectDirectory(dir)).families.map((family) => [family.name, family]));
    for (const [aggregator, expected] of cases) {
      assert.deepEqual(families.get(`g_${aggregator}`)!.samples.map((sample) => sample.value), [expected], aggregator);
    }
    // average: one series per live process, which avg() over pid turns into the average.
    assert.deepEqual(families.get('g_average')!.samples.map((sample) => [sample.labels.pid, sample.value]).sort(), [['a', 3], ['b', 4]]);
    assert.equal(new Gauge({ name: 'g_mode', help: 'h', aggregator: 'max', registers: [], store: stores[0]! }).multiprocessMode, MODE_OF_AGGREGATOR.max);
  });

  it('omit keeps a metric out of the directory; its own registry still serves it', async () => {
    const store = worker('c');
    const registry = new Registry();
    const omitted = new Counter({ name: 'local_only_total', help: 'h', aggregator: 'omit', store, registers: [registry] });
    omitted.inc(5);
    store.flush();
    assert.ok(!(await collectDirectory(dir)).families.some((family) => family.name === 'local_only'));
    assert.ok(!readdirSync(dir).some((name) => name === 'counter_c.db'), 'no counter file for the omitted metric');
    assert.match(await registry.metrics(), /^local_only_total 5$/m);
  });

  it('refuses an aggregator prom-client does not have', () => {
    assert.throws(() => new Gauge({ name: 'g_bad', help: 'h', aggregator: 'median' as never, registers: [] }), /unknown aggregator "median"/);
  });
});
