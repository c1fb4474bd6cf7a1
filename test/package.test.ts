// The package as users get it: `npm pack` of a copy of the package directory that has never
// been built (so the tarball holds only what packing itself makes), unpacked into an empty
// app's node_modules, then loaded by name with `import`, `require`, its CLI and TypeScript.
// The shared working tree's dist/ is never touched.
//
// By default the tarball is unpacked where `npm install` would put it and its dependencies
// are linked from the workspace's node_modules (fast, offline). PACKAGE_TEST_REGISTRY=1
// runs a real `npm install <tarball>` against the npm registry instead.
import assert from 'node:assert/strict';
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';
import { link, packageDir, packLibrary, run } from './helpers/packLibrary.js';

const tsc = createRequire(path.join(repoRoot, 'package.json')).resolve('typescript/bin/tsc');
const fromRegistry = process.env.PACKAGE_TEST_REGISTRY === '1';

describe('the packed package', () => {
  let work: string;
  let tarball: string;
  let tarballFiles: string[];
  let app: string;
  let installed: string;

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'pm-package-'));
    tarball = packLibrary(work);
    tarballFiles = run('tar', ['-tzf', tarball], { cwd: work })
      .split('\n').filter((line) => line !== '' && !line.endsWith('/'))
      .map((line) => line.replace(/^package\//, ''))
      .sort();

    app = path.join(work, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ name: 'app', private: true, version: '1.0.0' }, null, 2)}\n`);
    installed = path.join(app, 'node_modules', 'prom-multiproc');
    if (fromRegistry) {
      run('npm', ['install', '--no-audit', '--no-fund', '--loglevel', 'error', tarball, '@types/node@^20'], { cwd: app });
      return;
    }
    // What `npm install <tarball>` does, with the dependencies the workspace already has.
    mkdirSync(installed, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'], { cwd: work });
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; bin?: Record<string, string>;
    };
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      link(realpathSync(path.join(packageDir, 'node_modules', name)), path.join(app, 'node_modules', name));
    }
    link(realpathSync(path.join(repoRoot, 'node_modules', '@types', 'node')), path.join(app, 'node_modules', '@types', 'node'));
    for (const [name, file] of Object.entries(manifest.bin ?? {})) {
      const target = path.join(installed, file);
      if (existsSync(target)) chmodSync(target, 0o755);
      link(path.relative(path.join(app, 'node_modules', '.bin'), target), path.join(app, 'node_modules', '.bin', name));
    }
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  function node(args: string[], env: NodeJS.ProcessEnv = {}) {
    return run(process.execPath, args, { cwd: app, env: { ...process.env, ...env }, shell: false });
  }

  it('holds the built code, README.md and LICENSE, and no tests', () => {
    const size = statSync(tarball).size;
    for (const file of [
      'package.json', 'README.md', 'LICENSE',
      'dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/esm/exporter/cli.js',
      'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json',
    ]) {
      assert.ok(tarballFiles.includes(file), `${file} missing from the ${size}-byte tarball, which holds: ${tarballFiles.join(', ')}`);
    }
    assert.equal(readFileSync(path.join(installed, 'LICENSE'), 'utf8'), readFileSync(path.join(repoRoot, 'LICENSE'), 'utf8'));
    assert.match(readFileSync(path.join(installed, 'README.md'), 'utf8'), /^# prom-multiproc/);
    assert.deepEqual(tarballFiles.filter((file) => /\.test\.[cm]?[jt]s$/.test(file)), []);
  });

  it('has a file for every entry point package.json names', () => {
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    const named: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') named.push(value);
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    for (const field of ['main', 'module', 'types', 'exports', 'bin']) collect(manifest[field]);
    assert.ok(named.length > 0);
    for (const file of named) {
      assert.ok(tarballFiles.includes(path.posix.normalize(file)), `package.json names ${file}, which the tarball does not hold`);
    }
  });

  it('has no source map that points at a file it does not hold', () => {
    const maps = tarballFiles.filter((file) => file.endsWith('.map'));
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(path.join(installed, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const source of sources) {
        const file = path.posix.normalize(path.posix.join(path.posix.dirname(map), sourceRoot ?? '', source));
        assert.ok(tarballFiles.includes(file), `${map} points at ${source} (${file}), which the tarball does not hold`);
      }
    }
  });

  it('loads with require and serves a scrape', () => {
    const out = node(['-e', `
      const { Counter, MultiprocessRegistry } = require('prom-multiproc');
      new Counter({ name: 'jobs_total', help: 'Jobs', labelNames: ['kind'] }).labels('a').inc(2);
      new MultiprocessRegistry().metrics().then((text) => process.stdout.write(text));
    `]);
    assert.match(out, /^jobs_total\{kind="a"\} 2$/m);
    assert.equal(createRequire(path.join(app, 'package.json')).resolve('prom-multiproc'), realpathSync(path.join(installed, 'dist', 'cjs', 'index.js')));
  });

  it('loads with import and serves a scrape', () => {
    const out = node(['--input-type=module', '-e', `
      import { Histogram, MultiprocessRegistry } from 'prom-multiproc';
      new Histogram({ name: 'h', help: 'H', buckets: [1] }).observe(0.5);
      process.stdout.write(await new MultiprocessRegistry().metrics());
      process.stdout.write(import.meta.resolve('prom-multiproc'));
    `]);
    assert.match(out, /^h_bucket\{le="1.0"\} 1$/m);
    assert.match(out, /^h_count 1$/m);
    assert.match(out, /prom-multiproc\/dist\/esm\/index\.js$/);
  });

  it('shares one store between its ESM and CommonJS copies in one process, and its CLI scrapes it', () => {
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
      const bin = path.join(app, 'node_modules', '.bin', 'prom-multiproc');
      // Started as the shell would start it, so the shebang is part of the test.
      const out = process.platform === 'win32'
        ? node([bin, 'scrape', '--dir', dir])
        : run(bin, ['scrape', '--dir', dir], { cwd: app, shell: false });
      assert.match(out, /^from_esm_total 1$/m);
      assert.match(out, /^from_cjs_total 2$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs its CLI through node_modules/.bin', () => {
    const out = process.platform === 'win32'
      ? node([path.join(app, 'node_modules', '.bin', 'prom-multiproc'), '--help'])
      : run(path.join(app, 'node_modules', '.bin', 'prom-multiproc'), ['--help'], { cwd: app, shell: false });
    assert.match(out, /Usage: prom-multiproc/);
    assert.match(out, /\bscrape\b/);
  });

  // The @ts-expect-error lines fail if a name resolves to `any`, so a missing or unresolvable
  // .d.ts cannot pass. One check reads every declaration file in full (skipLibCheck off, which
  // also checks @types/node and takes seconds); the others only resolve and use them.
  const esmSource = `
import { Counter, MultiprocessRegistry, type MetricFamily } from 'prom-multiproc';
const counter = new Counter({ name: 'jobs_total', help: 'Jobs', labelNames: ['kind'] as const });
counter.labels({ kind: 'a' }).inc(2);
const text: Promise<string> = new MultiprocessRegistry().metrics();
// @ts-expect-error a scrape is a promise of text, not a number
const wrong: number = new MultiprocessRegistry().metrics();
// @ts-expect-error a counter needs a name
new Counter({ help: 'no name' });
export const used: [Promise<string>, number, MetricFamily[]] = [text, wrong, []];
`;
  const cjsSource = `
import pm = require('prom-multiproc');
const counter = new pm.Counter({ name: 'jobs_total', help: 'Jobs' });
counter.inc();
const text: Promise<string> = new pm.MultiprocessRegistry().metrics();
// @ts-expect-error a scrape is a promise of text, not a number
const wrong: number = new pm.MultiprocessRegistry().metrics();
export = [text, wrong];
`;
  const typeChecks: { name: string; options: Record<string, unknown>; files: Record<string, string> }[] = [
    { name: 'nodenext', options: { module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: false }, files: { 'esm.mts': esmSource, 'cjs.cts': cjsSource } },
    { name: 'node16', options: { module: 'node16', moduleResolution: 'node16' }, files: { 'esm.mts': esmSource, 'cjs.cts': cjsSource } },
    { name: 'bundler', options: { module: 'esnext', moduleResolution: 'bundler' }, files: { 'index.ts': esmSource } },
    { name: 'node10', options: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true }, files: { 'index.ts': esmSource } },
  ];
  for (const check of typeChecks) {
    it(`type-checks an app that imports it with moduleResolution ${check.name}`, () => {
      const dir = path.join(app, `types-${check.name}`);
      mkdirSync(dir);
      for (const [file, source] of Object.entries(check.files)) writeFileSync(path.join(dir, file), source);
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], ...check.options },
        files: Object.keys(check.files),
      }, null, 2));
      run(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { cwd: dir, shell: false });
    });
  }
});
