// Exemplars in one process (no directory), side by side with prom-client 15: the same calls on
// both modules must give the same OpenMetrics text, apart from the exemplars' timestamps (the
// time of each call), which are checked to lie within the scenario and then blanked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as promClient from 'prom-client';
import { emptyRegistersAroundEachTest } from '../../../../test/helpers/sideBySide.js';
import * as ours from '../index.js';

// Both modules are called through our declarations: prom-client's type exemplar labels as the
// metric's own label names and declare no constructor arguments for Registry.
type Client = typeof ours;
const theirs = promClient as unknown as Client;

emptyRegistersAroundEachTest();

function openMetricsRegistry(client: Client): ours.Registry {
  return new client.Registry(client.Registry.OPENMETRICS_CONTENT_TYPE);
}

// ` # {labels} value timestamp` at the end of a sample line (the tests' label values hold no ` # {`).
const EXEMPLAR_TIMESTAMP = /( # \{.*\} \S+) (\S+)$/gm;

/**
 * Runs `scenario` and returns its text with each exemplar timestamp replaced by `<t>`, after
 * checking that it is a time in seconds taken while the scenario ran.
 */
async function textOf(client: Client, scenario: (client: Client) => Promise<string>): Promise<string> {
  const from = Date.now() / 1000;
  const text = await scenario(client);
  const to = Date.now() / 1000;
  return text.replace(EXEMPLAR_TIMESTAMP, (line, head: string, timestamp: string) => {
    const seconds = Number(timestamp);
    assert.ok(seconds >= from && seconds <= to, `${client === theirs ? 'prom-client' : 'prom-multiproc'}: timestamp of ${line} is not within [${from}, ${to}]`);
    return `${head} <t>`;
  });
}

/** Runs `scenario` on prom-client, then on ours, and returns both texts, timestamps blanked. */
async function both(scenario: (client: Client) => Promise<string>): Promise<{ expected: string; actual: string }> {
  const expected = await textOf(theirs, scenario);
  const actual = await textOf(ours, scenario);
  return { expected, actual };
}

/** The error `action` throws, as its class name and message. */
function thrown(action: () => unknown): { name: string; message: string } {
  try {
    action();
  } catch (error) {
    return { name: (error as Error).constructor.name, message: (error as Error).message };
  }
  assert.fail('expected an error');
}

describe('exemplars as prom-client keeps and writes them', () => {
  it('counters, labelled and not: the latest exemplar per series, kept when an inc gives none', async () => {
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const jobs = new client.Counter({ name: 'ex_jobs_total', help: 'Jobs.', labelNames: ['queue', 'shard'], enableExemplars: true, registers: [registry] });
      jobs.inc({ labels: { queue: 'a', shard: 1 }, value: 2, exemplarLabels: { trace_id: 'first' } });
      jobs.inc({ labels: { queue: 'a', shard: 1 }, value: 3, exemplarLabels: { trace_id: 'second', span_id: 7 } });
      jobs.inc({ labels: { queue: 'a', shard: 1 }, value: 4 });
      jobs.inc({ labels: { queue: 'b', shard: 2 }, exemplarLabels: { trace_id: 'quote " backslash \\ newline \n' } });
      jobs.inc({ labels: { queue: 'c', shard: 3 }, value: 5 });
      // An increment of 0 still takes the exemplar, with the value 1, as prom-client has it.
      jobs.inc({ labels: { queue: 'd', shard: 4 }, value: 0, exemplarLabels: { trace_id: 'zero' } });
      const bare = new client.Counter({ name: 'ex_bare', help: 'Bare.', enableExemplars: true, registers: [registry] });
      bare.inc({ value: 1.5, exemplarLabels: { trace_id: 'bare' } });
      bare.inc();
      new client.Counter({ name: 'ex_untouched', help: 'No exemplar yet.', enableExemplars: true, registers: [registry] });
      return registry.metrics();
    });
    assert.match(actual, /^ex_jobs_total\{queue="a",shard="1"\} 9 # \{trace_id="second",span_id="7"\} 3 <t>$/m);
    assert.match(actual, /^ex_bare_total 2\.5 # \{trace_id="bare"\} 1\.5 <t>$/m);
    assert.equal(actual, expected);
  });

  it('histograms, labelled and not: each exemplar on the bucket its value was counted in', async () => {
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const latency = new client.Histogram({
        name: 'ex_latency_seconds', help: 'Latency.', labelNames: ['route'], buckets: [0.1, 0.5, 1], enableExemplars: true, registers: [registry],
      });
      latency.observe({ labels: { route: '/a' }, value: 0.05, exemplarLabels: { trace_id: 'fast' } });
      latency.observe({ labels: { route: '/a' }, value: 0.07, exemplarLabels: { trace_id: 'faster-later' } });
      latency.observe({ labels: { route: '/a' }, value: 0.5, exemplarLabels: { trace_id: 'on-the-bound' } });
      latency.observe({ labels: { route: '/a' }, value: 30, exemplarLabels: { trace_id: 'slow' } });
      latency.observe({ labels: { route: '/a' }, value: 0.7 });
      latency.observe({ labels: { route: '/a' }, value: 0.8, exemplarLabels: {} });
      latency.observe({ labels: { route: '/b' }, value: 0.2, exemplarLabels: { trace_id: 'b', user: 42 } });
      // A child from labels() observes without exemplars, in both.
      latency.labels('/c').observe(0.3);
      const bare = new client.Histogram({ name: 'ex_bare_seconds', help: 'Bare.', buckets: [1, 2], enableExemplars: true, registers: [registry] });
      bare.observe({ value: 1.5, exemplarLabels: { trace_id: 'bare' } });
      return registry.metrics();
    });
    assert.match(actual, /^ex_latency_seconds_bucket\{le="0\.1",route="\/a"\} 2 # \{trace_id="faster-later"\} 0\.07 <t>$/m);
    assert.match(actual, /^ex_latency_seconds_bucket\{le="\+Inf",route="\/a"\} 6 # \{trace_id="slow"\} 30 <t>$/m);
    assert.match(actual, /^ex_latency_seconds_bucket\{le="1",route="\/a"\} 5$/m, 'no exemplar: its observations had none');
    assert.equal(actual, expected);
  });

  it('startTimer: labels and exemplar labels given at the start, at the end, or both', async () => {
    const durations: number[] = [];
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const latency = new client.Histogram({
        name: 'ex_timed_seconds', help: 'Timed.', labelNames: ['code', 'route'], buckets: [30, 60], enableExemplars: true, registers: [registry],
      });
      const end = latency.startTimer({ code: 200 }, { trace_id: 'start', span_id: 'start' });
      const seconds = end({ route: '/a' }, { span_id: 'end' });
      // Durations differ from run to run: the text is compared with each run's in its place.
      durations.push(seconds);
      const text = await registry.metrics();
      assert.ok(text.includes(` # {trace_id="start",span_id="end"} ${seconds} `), text);
      return text.split(String(seconds)).join('<seconds>');
    });
    assert.ok(durations.every((seconds) => seconds >= 0 && seconds < 30), durations.join(' '));
    assert.match(actual, /^ex_timed_seconds_bucket\{le="30",code="200",route="\/a"\} 1 # \{trace_id="start",span_id="end"\} <seconds> <t>$/m);
    assert.equal(actual, expected);
  });

  it('getMetricsAsJSON() gives the same exemplar objects ({ labelSet, value, timestamp })', async () => {
    const results: unknown[] = [];
    for (const client of [theirs, ours]) {
      const registry = openMetricsRegistry(client);
      const jobs = new client.Counter({ name: 'ex_json_total', help: 'Json.', labelNames: ['queue'], enableExemplars: true, registers: [registry] });
      jobs.inc({ labels: { queue: 'a' }, value: 2, exemplarLabels: { trace_id: 'a' } });
      jobs.inc({ labels: { queue: 'b' } });
      const latency = new client.Histogram({ name: 'ex_json_seconds', help: 'Json.', buckets: [1], enableExemplars: true, registers: [registry] });
      latency.observe({ value: 0.5, exemplarLabels: { trace_id: 'in-1' } });
      latency.observe({ value: 3, exemplarLabels: { trace_id: 'in-inf' } });
      const from = Date.now() / 1000;
      const json = JSON.stringify(await registry.getMetricsAsJSON(), (key, value: unknown) => {
        if (key !== 'timestamp') return value;
        assert.ok(typeof value === 'number' && value <= Date.now() / 1000 && value > from - 60, String(value));
        return '<t>';
      });
      results.push(JSON.parse(json));
    }
    assert.deepEqual(results[1], results[0]);
  });

  it('the global register, once OpenMetrics, takes metrics with exemplars; as Prometheus text it writes them without', async () => {
    const { expected, actual } = await both(async (client) => {
      client.register.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
      try {
        const jobs = new client.Counter({ name: 'ex_global', help: 'Global.', enableExemplars: true });
        jobs.inc({ exemplarLabels: { trace_id: 'global' } });
        const openMetrics = await client.register.metrics();
        client.register.setContentType(client.Registry.PROMETHEUS_CONTENT_TYPE);
        return `${openMetrics}\n${await client.register.metrics()}`;
      } finally {
        client.register.setContentType(client.Registry.PROMETHEUS_CONTENT_TYPE);
      }
    });
    assert.match(actual, /# \{trace_id="global"\} 1 <t>/);
    assert.equal(actual, expected);
  });

  it('reset() and remove() take the exemplars with the series', async () => {
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const jobs = new client.Counter({ name: 'ex_removed_total', help: 'Removed.', labelNames: ['queue'], enableExemplars: true, registers: [registry] });
      jobs.inc({ labels: { queue: 'a' }, exemplarLabels: { trace_id: 'a' } });
      jobs.inc({ labels: { queue: 'b' }, exemplarLabels: { trace_id: 'b' } });
      jobs.remove('a');
      jobs.inc({ labels: { queue: 'a' } });
      const latency = new client.Histogram({ name: 'ex_reset_seconds', help: 'Reset.', buckets: [1], enableExemplars: true, registers: [registry] });
      latency.observe({ value: 0.5, exemplarLabels: { trace_id: 'before-reset' } });
      latency.reset();
      latency.observe({ value: 2 });
      return registry.metrics();
    });
    assert.doesNotMatch(actual, /trace_id="a"|before-reset/);
    assert.equal(actual, expected);
  });

  it('a metric created again under a cleared name starts without the earlier one\'s exemplars', async () => {
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const create = () => new client.Counter({ name: 'ex_again_total', help: 'Again.', enableExemplars: true, registers: [registry] });
      create().inc({ exemplarLabels: { trace_id: 'earlier' } });
      registry.clear();
      create().inc({ value: 2 });
      return registry.metrics();
    });
    assert.doesNotMatch(actual, /earlier/);
    assert.equal(actual, expected);
  });
});

describe('the errors prom-client gives', () => {
  it('a TypeError for enableExemplars in a Prometheus text registry (the global one by default)', () => {
    for (const Type of ['Counter', 'Histogram'] as const) {
      const errors = [theirs, ours].map((client) => [
        thrown(() => new client[Type]({ name: 'ex_default_registry', help: 'X.', enableExemplars: true })),
        thrown(() => new client[Type]({ name: 'ex_text_registry', help: 'X.', enableExemplars: true, registers: [new client.Registry()] })),
      ]);
      assert.deepEqual(errors[1], errors[0], Type);
      assert.equal(errors[0]![0]!.name, 'TypeError');
    }
  });

  it('no error with registers: [], and none without enableExemplars', async () => {
    const { expected, actual } = await both(async (client) => {
      const unregistered = new client.Counter({ name: 'ex_nowhere_total', help: 'Nowhere.', enableExemplars: true, registers: [] });
      unregistered.inc({ exemplarLabels: { trace_id: 'nowhere' } });
      const registry = openMetricsRegistry(client);
      new client.Counter({ name: 'ex_plain_total', help: 'Plain.', registers: [registry] }).inc(2);
      return registry.metrics();
    });
    assert.equal(actual, expected);
  });

  it('a RangeError for exemplar labels over 128 characters (names and values, UTF-16 code units); the value still counts', async () => {
    const errors: { name: string; message: string }[][] = [];
    const { expected, actual } = await both(async (client) => {
      const registry = openMetricsRegistry(client);
      const jobs = new client.Counter({ name: 'ex_long_total', help: 'Long.', enableExemplars: true, registers: [registry] });
      const latency = new client.Histogram({ name: 'ex_long_seconds', help: 'Long.', buckets: [1], enableExemplars: true, registers: [registry] });
      // Exactly 128 characters are allowed.
      jobs.inc({ exemplarLabels: { trace_id: 'x'.repeat(128 - 'trace_id'.length) } });
      latency.observe({ value: 0.5, exemplarLabels: { t: 'y'.repeat(127) } });
      errors.push([
        thrown(() => jobs.inc({ value: 2, exemplarLabels: { trace_id: 'x'.repeat(129 - 'trace_id'.length) } })),
        thrown(() => jobs.inc({ exemplarLabels: { a: 'x'.repeat(60), b: 'x'.repeat(67) } })),
        // 64 emoji are 128 UTF-16 code units (but 64 code points), one more for the name.
        thrown(() => latency.observe({ value: 0.7, exemplarLabels: { t: '\u{1F600}'.repeat(64) } })),
      ]);
      return registry.metrics();
    });
    const [theirErrors, ourErrors] = errors as [{ name: string; message: string }[], { name: string; message: string }[]];
    assert.deepEqual(ourErrors.map((error) => error.name), theirErrors.map((error) => error.name));
    assert.deepEqual(theirErrors.map((error) => error.name), ['RangeError', 'RangeError', 'RangeError']);
    // The rejected calls counted their values and left the earlier exemplars in place.
    assert.match(actual, /^ex_long_total 4 # \{trace_id="x{120}"\} 1 <t>$/m);
    assert.match(actual, /^ex_long_seconds_bucket\{le="1"\} 2 # \{t="y{127}"\} 0\.5 <t>$/m);
    assert.equal(actual, expected);
  });
});
