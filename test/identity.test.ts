// Where a worker's files go: the directory and identity from the environment or configure(),
// read when the first value is recorded or read (not at import, nor when a metric is created).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './helpers/fixtures.js';

const entry = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'index.ts');

function runWorker(code: string, env: NodeJS.ProcessEnv) {
  const script = `import * as lib from ${JSON.stringify(entry)};\n${code}`;
  const cleanEnv = { ...process.env };
  delete cleanEnv.PROM_MULTIPROC_DIR;
  delete cleanEnv.PROMETHEUS_MULTIPROC_DIR;
  delete cleanEnv.PROM_MULTIPROC_IDENTITY;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...cleanEnv, ...env },
  });
}

describe('directory and identity', () => {
  it('names files by PROM_MULTIPROC_IDENTITY and falls back to PROMETHEUS_MULTIPROC_DIR', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-identity-'));
    try {
      const result = runWorker(`new lib.Counter({ name: 'c', help: 'h' }).inc();`, { PROMETHEUS_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: 'web3' });
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(readdirSync(dir), ['counter_web3.db']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the environment when the first metric is created, not at import', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-identity-'));
    try {
      const result = runWorker(
        `process.env.PROM_MULTIPROC_DIR = ${JSON.stringify(dir)};\nnew lib.Gauge({ name: 'g', help: 'h', multiprocessMode: 'max' }).set(2);`,
        {},
      );
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(readdirSync(dir), [`gauge_max_${result.pid}.db`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an identity with "_", and a missing directory, naming it and the fix', () => {
    const missing = path.join(tmpdir(), 'pm-identity-does-not-exist');
    const bad = runWorker(`lib.configure({ dir: ${JSON.stringify(tmpdir())}, identity: 'a_b' }); new lib.Counter({ name: 'c', help: 'h' });`, {});
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /MultiprocessDirectoryError: process identity "a_b" cannot name a metrics file: it contains '_'/);
    const absent = runWorker(`new lib.Counter({ name: 'c', help: 'h' });`, { PROM_MULTIPROC_DIR: missing });
    assert.notEqual(absent.status, 0);
    assert.ok(absent.stderr.includes(`the metrics directory ${missing} does not exist`), absent.stderr);
    assert.match(absent.stderr, /prom-multiproc clean --dir/);
  });

  it('refuses configure() after the first value is recorded', () => {
    const result = runWorker(`new lib.Counter({ name: 'c', help: 'h' }).inc(); lib.configure({ identity: 'x' });`, {});
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /configure\(\) was called after the first metric recorded a value/);
  });

  it('a metric created by an import, before the entry sets PROM_MULTIPROC_DIR, still writes to the directory', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-import-order-'));
    const moduleDir = mkdtempSync(path.join(tmpdir(), 'pm-import-order-module-'));
    try {
      // An ES module's imports run before the importing file's own code: this is how an app's
      // metrics module meets an entry file that sets the directory.
      const metricsModule = path.join(moduleDir, 'metrics.mjs');
      writeFileSync(metricsModule, `import * as lib from ${JSON.stringify(pathToFileURL(entry).href)};\nexport const jobs = new lib.Counter({ name: 'jobs_total', help: 'h' });\n`);
      const script = `import { jobs } from ${JSON.stringify(pathToFileURL(metricsModule).href)};
        process.env.PROM_MULTIPROC_DIR = ${JSON.stringify(dir)};
        jobs.inc(3);`;
      const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, PROM_MULTIPROC_DIR: '', PROMETHEUS_MULTIPROC_DIR: '', PROM_MULTIPROC_IDENTITY: 'late1' },
      });
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(readdirSync(dir), ['counter_late1.db']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(moduleDir, { recursive: true, force: true });
    }
  });

  it('says so loudly when a value was recorded before the directory was set', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-too-late-'));
    try {
      const result = runWorker(
        `const jobs = new lib.Counter({ name: 'jobs_total', help: 'h' }); jobs.inc();
         process.env.PROM_MULTIPROC_DIR = ${JSON.stringify(dir)};
         jobs.inc();
         await lib.register.metrics();`,
        {},
      );
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /PromMultiprocWarning: PROM_MULTIPROC_DIR \(or PROMETHEUS_MULTIPROC_DIR\) was set to .* after this process .* recorded its first value/);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works in memory when no directory is set', () => {
    const result = runWorker(
      `const c = new lib.Counter({ name: 'c', help: 'h', labelNames: ['k'] }); c.labels('x').inc(2);
       const g = new lib.Gauge({ name: 'g', help: 'h' }); g.set(5);
       process.stdout.write(await new lib.MultiprocessRegistry().metrics());`,
      {},
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^c_total\{k="x"\} 2$/m);
    assert.match(result.stdout, /^g 5$/m, 'single-process gauges carry no pid label');
  });
});
