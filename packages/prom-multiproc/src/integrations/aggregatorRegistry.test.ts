// AggregatorRegistry and collectDefaultMetrics, the two cluster-era entry points of prom-client,
// over a directory two real processes wrote.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as promClient from 'prom-client';
import { AggregatorRegistry, Registry } from '../index.js';

const entry = fileURLToPath(new URL('../index.ts', import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs a short-lived worker that counts `count` jobs into `dir`. */
function worker(dir: string, count: number): void {
  const script = `import * as lib from ${JSON.stringify(entry)};
    new lib.Counter({ name: 'jobs_total', help: 'Jobs.', labelNames: ['queue'] }).inc({ queue: 'mail' }, ${count});
    new lib.Histogram({ name: 'took_seconds', help: 'Took.', buckets: [1, 2.5] }).observe(0.5);`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, PROM_MULTIPROC_DIR: dir },
  });
  assert.equal(result.status, 0, result.stderr);
}

describe('AggregatorRegistry', () => {
  it('clusterMetrics() is the merge of the directory, without asking any worker', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-aggregator-'));
    dirs.push(dir);
    worker(dir, 2);
    worker(dir, 5);
    process.env.PROM_MULTIPROC_DIR = dir;
    try {
      const text = await new AggregatorRegistry().clusterMetrics();
      assert.match(text, /^jobs_total\{queue="mail"\} 7$/m);
      // prom-client's bounds, as a registered histogram and the global register write them.
      assert.match(text, /^took_seconds_bucket\{le="1"\} 2$/m);
      const global = await (await import('../index.js')).register.metrics();
      assert.match(global, /^took_seconds_bucket\{le="1"\} 2$/m);
    } finally {
      delete process.env.PROM_MULTIPROC_DIR;
    }
  });

  it('says what to set when there is no directory', async () => {
    delete process.env.PROM_MULTIPROC_DIR;
    delete process.env.PROMETHEUS_MULTIPROC_DIR;
    await assert.rejects(new AggregatorRegistry().clusterMetrics(), /Set PROM_MULTIPROC_DIR/);
  });

  it('aggregate() sums what prom-client registries report, as prom-client does', async () => {
    const jsons = await Promise.all([3, 4].map(async (n) => {
      const registry = new promClient.Registry();
      new promClient.Counter({ name: 'c_total', help: 'C.', registers: [registry] }).inc(n);
      return registry.getMetricsAsJSON();
    }));
    const expected = await promClient.AggregatorRegistry.aggregate(jsons as never).metrics();
    const actual = await AggregatorRegistry.aggregate(jsons as never).metrics();
    assert.equal(actual, expected);
    assert.ok(AggregatorRegistry.aggregate([]) instanceof Registry);
  });

  it('setRegistries takes registries and refuses anything else', () => {
    AggregatorRegistry.setRegistries([new Registry()]);
    assert.throws(() => AggregatorRegistry.setRegistries(['x' as never]), /Expected Registry, got string/);
  });
});

describe('collectDefaultMetrics', () => {
  function run(env: NodeJS.ProcessEnv, code: string) {
    const script = `import * as lib from ${JSON.stringify(entry)};\n${code}`;
    return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, PROM_MULTIPROC_DIR: '', PROMETHEUS_MULTIPROC_DIR: '', ...env },
    });
  }

  it("serves prom-client's default metric names from register in one process, and refuses a second start", () => {
    const result = run({}, `lib.collectDefaultMetrics();
      let second = '';
      try { lib.collectDefaultMetrics(); } catch (error) { second = error.message; }
      process.stdout.write(JSON.stringify({ text: await lib.register.metrics(), second }));`);
    assert.equal(result.status, 0, result.stderr);
    const { text, second } = JSON.parse(result.stdout) as { text: string; second: string };
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(second, /already been registered/);
  });

  it('joins the registry given as register, and only it', () => {
    const result = run({}, `const own = new lib.Registry();
      lib.collectDefaultMetrics({ register: own, prefix: 'app_' });
      process.stdout.write(JSON.stringify({ own: await own.metrics(), global: await lib.register.metrics() }));`);
    assert.equal(result.status, 0, result.stderr);
    const { own, global } = JSON.parse(result.stdout) as { own: string; global: string };
    assert.match(own, /^# TYPE app_process_cpu_user_seconds_total counter$/m);
    assert.doesNotMatch(global, /process_cpu_user_seconds_total/);
  });

  it('in multiprocess mode every process samples itself into the directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-default-metrics-'));
    dirs.push(dir);
    for (const identity of ['a', 'b']) {
      const result = run({ PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: identity }, 'lib.collectDefaultMetrics();');
      assert.equal(result.status, 0, result.stderr);
    }
    const scrape = run({ PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: 'scraper' }, 'process.stdout.write(await lib.register.metrics());');
    assert.equal(scrape.status, 0, scrape.stderr);
    for (const identity of ['a', 'b']) assert.match(scrape.stdout, new RegExp(`^process_resident_memory_bytes\\{pid="${identity}"\\} \\d+`, 'm'));
  });
});
