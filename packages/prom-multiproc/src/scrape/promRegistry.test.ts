// The registry model and the exposition, side by side with prom-client 15 in one process (no
// directory): the same calls on both modules must give the same text, JSON and errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as promClient from 'prom-client';
import { emptyRegistersAroundEachTest } from '../../../../test/helpers/sideBySide.js';
import * as ours from '../index.js';

type Client = typeof promClient;
const clients: [string, Client][] = [['prom-client', promClient], ['prom-multiproc', ours as unknown as Client]];

emptyRegistersAroundEachTest();

/** Runs `scenario` on both clients and returns both results. */
async function both<T>(scenario: (client: Client) => Promise<T> | T): Promise<{ expected: T; actual: T }> {
  const expected = await scenario(promClient);
  const actual = await scenario(ours as unknown as Client);
  return { expected, actual };
}

function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('drop-in for prom-client in one process', () => {
  it('renders the same text for every metric type, labelled and not', async () => {
    const { expected, actual } = await both(async (client) => {
      const counter = new client.Counter({ name: 'jobs_total', help: 'Jobs done.', labelNames: ['queue'] });
      counter.inc({ queue: 'a' });
      counter.labels('b').inc(2.5);
      new client.Counter({ name: 'bare', help: 'A counter named without _total.' }).inc(3);
      const gauge = new client.Gauge({ name: 'depth', help: 'Queue "depth"\nnow.', labelNames: ['queue'] });
      gauge.set({ queue: 'a' }, 7);
      gauge.labels('b').dec(2);
      new client.Gauge({ name: 'idle', help: 'Never set.' });
      const histogram = new client.Histogram({ name: 'latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 1] });
      histogram.observe({ route: '/x' }, 0.05);
      histogram.labels('/y').observe(3);
      new client.Histogram({ name: 'unlabelled_seconds', help: 'No labels.' }).observe(0.3);
      return client.register.metrics();
    });
    assert.equal(actual, expected);
  });

  it('renders the same OpenMetrics (counter families without _total, # EOF)', async () => {
    const { expected, actual } = await both(async (client) => {
      client.register.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE as never);
      try {
        new client.Counter({ name: 'jobs_total', help: 'Jobs.' }).inc();
        new client.Counter({ name: 'bare', help: 'Bare.' }).inc(2);
        new client.Gauge({ name: 'g', help: 'G.' }).set(1.5);
        return await client.register.metrics();
      } finally {
        client.register.setContentType(client.Registry.PROMETHEUS_CONTENT_TYPE as never);
      }
    });
    assert.equal(actual, expected);
  });

  it('gives the same JSON', async () => {
    const { expected, actual } = await both(async (client) => {
      new client.Counter({ name: 'c_total', help: 'C.', labelNames: ['a'] }).inc({ a: 'x' }, 2);
      new client.Histogram({ name: 'h', help: 'H.', buckets: [1, 2] }).observe(1.5);
      new client.Gauge({ name: 'g', help: 'G.' }).set(4);
      return plain(await client.register.getMetricsAsJSON());
    });
    assert.deepEqual(actual, expected);
  });

  it('registers in register by default, in the given registries, nowhere with registers: []', async () => {
    const { expected, actual } = await both(async (client) => {
      const own = new client.Registry();
      new client.Counter({ name: 'in_default', help: 'h' });
      new client.Counter({ name: 'in_own', help: 'h', registers: [own] });
      new client.Counter({ name: 'nowhere', help: 'h', registers: [] });
      return {
        defaultNames: client.register.getMetricsAsArray().map((metric) => metric.name),
        ownNames: own.getMetricsAsArray().map((metric) => metric.name),
        ownText: await own.metrics(),
        found: (client.register.getSingleMetric('in_default') as { name?: string } | undefined)?.name,
        single: await client.register.getSingleMetricAsString('in_default'),
      };
    });
    assert.deepEqual(actual, expected);
  });

  it('throws on a second metric of one name, and accepts it again after removeSingleMetric or clear', async () => {
    const { expected, actual } = await both(async (client) => {
      new client.Counter({ name: 'twice', help: 'h' });
      let message = '';
      try {
        new client.Gauge({ name: 'twice', help: 'h' });
      } catch (error) {
        message = (error as Error).message;
      }
      client.register.removeSingleMetric('twice');
      new client.Counter({ name: 'twice', help: 'h' }).inc(5);
      client.register.clear();
      const again = new client.Counter({ name: 'twice', help: 'h' });
      again.inc();
      return { message, text: await client.register.metrics() };
    });
    assert.deepEqual(actual, expected);
    assert.match(actual.message, /already been registered/);
  });

  it('a refused second metric of a name leaves nothing behind (the try { new } catch { getSingleMetric } pattern)', async () => {
    const { expected, actual } = await both(async (client) => {
      const counter = new client.Counter({ name: 'reloaded', help: 'h', labelNames: ['a'] });
      counter.inc({ a: 'x' });
      try {
        new client.Counter({ name: 'reloaded', help: 'h' });
      } catch {
        (client.register.getSingleMetric('reloaded') as promClient.Counter).inc({ a: 'x' });
      }
      return client.register.metrics();
    });
    assert.equal(actual, expected);
  });

  it('refuses a second metric stored under the same name: counters x and x_total, a gauge x and a counter x_total', () => {
    new ours.Counter({ name: 'x', help: 'h' });
    assert.throws(() => new ours.Counter({ name: 'x_total', help: 'h' }), /already been registered \(as x: both are stored as x/);
    new ours.Counter({ name: 'jobs_total', help: 'h' });
    assert.throws(() => new ours.Gauge({ name: 'jobs', help: 'h' }), /already been registered \(as jobs_total/);
    // Outside any registry the store refuses a mix of types under one name.
    new ours.Counter({ name: 'loose_total', help: 'h', registers: [] });
    assert.throws(() => new ours.Gauge({ name: 'loose', help: 'h', registers: [] }), /a counter loose_total of this process is stored under the same name/);
  });

  it('resetMetrics, setDefaultLabels and Registry.merge behave alike', async () => {
    const { expected, actual } = await both(async (client) => {
      const a = new client.Registry();
      const b = new client.Registry();
      const counter = new client.Counter({ name: 'ca', help: 'h', labelNames: ['x'], registers: [a] });
      counter.inc({ x: '1' }, 4);
      new client.Gauge({ name: 'gb', help: 'h', registers: [b] }).set(2);
      const merged = client.Registry.merge([a, b]);
      merged.setDefaultLabels({ service: 'api', x: 'default' });
      const before = await merged.metrics();
      const json = plain(await merged.getMetricsAsJSON());
      merged.resetMetrics();
      return { before, json, after: await merged.metrics() };
    });
    assert.deepEqual(actual, expected);
  });

  it('default labels sit where prom-client puts them: after a bucket\'s le, before a histogram\'s own labels', async () => {
    const { expected, actual } = await both(async (client) => {
      const registry = new client.Registry();
      registry.setDefaultLabels({ app: 'shop', route: 'shadowed' });
      const histogram = new client.Histogram({ name: 'latency', help: 'h', labelNames: ['route'], buckets: [1], registers: [registry] });
      histogram.observe({ route: '/a' }, 0.5);
      new client.Histogram({ name: 'plain_latency', help: 'h', buckets: [1], registers: [registry] }).observe(2);
      new client.Counter({ name: 'hits', help: 'h', labelNames: ['route'], registers: [registry] }).inc({ route: '/a' });
      return { text: await registry.metrics(), json: plain(await registry.getMetricsAsJSON()) };
    });
    assert.deepEqual(actual, expected);
    assert.match(actual.text, /latency_bucket\{le="1",app="shop",route="\/a"\} 1/);
  });

  it('runs collect() before serving, with the metric as this', async () => {
    const { expected, actual } = await both(async (client) => {
      let calls = 0;
      new client.Gauge({
        name: 'collected',
        help: 'h',
        collect() {
          calls++;
          (this as promClient.Gauge).set(calls * 10);
        },
      });
      const first = await client.register.metrics();
      const second = await client.register.metrics();
      return { first, second };
    });
    assert.deepEqual(actual, expected);
    assert.match(actual.second, /collected 20/);
  });

  it('takes partial label objects, leaving the label out, and rejects unknown labels', async () => {
    const { expected, actual } = await both(async (client) => {
      const counter = new client.Counter({ name: 'partial', help: 'h', labelNames: ['method', 'endpoint'] });
      counter.labels({ method: 'GET' }).inc();
      counter.inc({ endpoint: '/a' }, 2);
      let unknown = false;
      try {
        counter.inc({ other: 'x' } as never);
      } catch {
        unknown = true;
      }
      return { unknown, text: await client.register.metrics() };
    });
    assert.deepEqual(actual, expected);
    assert.equal(actual.unknown, true);
  });

  it("uses prom-client's default buckets, and its timers with labels at start and end", async () => {
    const { expected, actual } = await both(async (client) => {
      const histogram = new client.Histogram({ name: 'd', help: 'h', labelNames: ['a', 'b'] });
      const end = histogram.startTimer({ a: '1' });
      end({ b: '2' });
      const text = await client.register.metrics();
      // The elapsed time differs between the two runs: compare the bucket layout and counts.
      return text.split('\n').filter((line) => !line.startsWith('d_sum')).map((line) => line.replace(/^(d_bucket\{le="[^"]+",a="1",b="2"\}) \d+$/, '$1 n'));
    });
    assert.deepEqual(actual, expected);
    assert.ok(actual.some((line) => line.startsWith('d_bucket{le="10"')), 'le 10 is among the default buckets');
  });

  it('metric.get() returns the same object as prom-client', async () => {
    const { expected, actual } = await both(async (client) => {
      const gauge = new client.Gauge({ name: 'got', help: 'h', labelNames: ['k'] });
      gauge.set({ k: 'v' }, 3);
      return plain(await gauge.get());
    });
    assert.deepEqual(actual, expected);
  });

  it('rejects content types prom-client rejects', () => {
    for (const [name, client] of clients) {
      assert.throws(() => new (client.Registry as unknown as new (type: string) => unknown)('text/html'), /Content type text\/html is unsupported/, name);
      assert.throws(() => client.register.setContentType('text/html' as never), /unsupported/, name);
    }
  });
});
