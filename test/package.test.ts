// The package as users get it: built, then loaded by name with `import` and `require`,
// from a project that has it in node_modules.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';

const packageDir = path.join(repoRoot, 'packages', 'prom-multiproc');

describe('the built package', () => {
  let project: string;

  before(() => {
    execFileSync(process.execPath, [path.join(packageDir, 'scripts', 'build.mjs')], { stdio: 'inherit' });
    project = mkdtempSync(path.join(tmpdir(), 'pm-package-'));
    mkdirSync(path.join(project, 'node_modules'));
    symlinkSync(packageDir, path.join(project, 'node_modules', 'prom-multiproc'), 'dir');
  });
  after(() => rmSync(project, { recursive: true, force: true }));

  function node(args: string[], env: NodeJS.ProcessEnv = {}) {
    const result = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(result.status, 0, `node ${args.join(' ')} failed:\n${result.stderr}`);
    return result.stdout;
  }

  it('loads with require and serves a scrape', () => {
    const out = node(['-e', `
      const { Counter, MultiprocessRegistry } = require('prom-multiproc');
      new Counter({ name: 'jobs_total', help: 'Jobs', labelNames: ['kind'] }).labels('a').inc(2);
      new MultiprocessRegistry().metrics().then((text) => process.stdout.write(text));
    `]);
    assert.match(out, /^jobs_total\{kind="a"\} 2$/m);
  });

  it('loads with import and serves a scrape', () => {
    const out = node(['--input-type=module', '-e', `
      import { Histogram, MultiprocessRegistry } from 'prom-multiproc';
      new Histogram({ name: 'h', help: 'H', buckets: [1] }).observe(0.5);
      process.stdout.write(await new MultiprocessRegistry().metrics());
    `]);
    assert.match(out, /^h_bucket\{le="1.0"\} 1$/m);
    assert.match(out, /^h_count 1$/m);
  });

  it('shares one store between its ESM and CommonJS copies in one process', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-dual-'));
    try {
      node(['--input-type=module', '-e', `
        import { createRequire } from 'node:module';
        import { Counter } from 'prom-multiproc';
        const cjs = createRequire(process.cwd() + '/')('prom-multiproc');
        new Counter({ name: 'from_esm', help: 'e' }).inc(1);
        new cjs.Counter({ name: 'from_cjs', help: 'c' }).inc(2);
      `], { PROM_MULTIPROC_DIR: dir });
      const files = readdirSync(dir);
      assert.equal(files.length, 1, `one counter file expected, got ${files.join(', ')}`);
      const out = spawnSync(process.execPath, [path.join(packageDir, 'dist', 'esm', 'cli.js'), 'scrape', '--dir', dir], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, /^from_esm_total 1$/m);
      assert.match(out.stdout, /^from_cjs_total 2$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships type declarations for both entry points', () => {
    for (const file of ['dist/esm/index.d.ts', 'dist/cjs/index.d.ts']) {
      assert.ok(readdirSync(path.dirname(path.join(packageDir, file))).includes('index.d.ts'), `${file} missing`);
    }
  });
});
