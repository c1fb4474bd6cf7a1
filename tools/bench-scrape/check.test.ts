// The scrape benchmark's output check, which every timing depends on: it must accept the
// same samples however each client writes them, and refuse a wrong total. Part of `npm test`
// (tools/run-tests.mjs); alone: node --import tsx --test tools/bench-scrape/check.test.ts

import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, test } from 'node:test';
import { MultiprocessRegistry } from '../../packages/prom-multiproc/src/index.js';
import { differences, parseExposition, restrictToNames, sampleKey } from './exposition.js';
import { buildCopiedDirectory, buildDirectory, buildWideDirectory, metricsFileCount } from './workload.js';

const all = () => true;
const names = { expected: 'a', actual: 'b' };
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-scrape-test-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

test('the same samples written the Python way and the prom-client way compare equal', () => {
  const python = [
    '# HELP x_total Requests.',
    '# TYPE x_total counter',
    'x_total{route="/a",method="GET"} 3.0',
    'x_bucket{le="+Inf",route="/a"} 1.0',
    'x_sum{route="/a"} 2.5e-05',
  ].join('\n');
  const ours = ['x_total{method="GET",route="/a"} 3', 'x_sum{route="/a"} 0.000025', 'x_bucket{route="/a",le="+Inf"} 1', ''].join('\n');
  assert.deepEqual(differences(parseExposition(python, all), parseExposition(ours, all), names), []);
});

test('a different value, a missing sample and an escaped label value are told apart', () => {
  const a = parseExposition('x_total{p="a\\"b"} 1\ny_total 2\n', all);
  assert.equal(a.get(sampleKey('x_total', { p: 'a"b' })), 1);
  const b = parseExposition('x_total{p="a\\"b"} 1.5\n', all);
  assert.equal(differences(a, b, names).length, 2);
});

test('a sample line that cannot be read stops the check', () => {
  assert.throws(() => parseExposition('x_total{a="b"} one\n', all), /not a sample value/);
  assert.throws(() => parseExposition('x_total 1\nx_total 1\n', all), /twice/);
});

test('a directory built for the benchmark scrapes to the totals it was built with', async () => {
  const dir = tempDir();
  const { expected } = buildDirectory(dir, { identities: 3, entriesPerIdentity: 34 });
  assert.equal(metricsFileCount(dir), 6);
  assert.equal(expected.size, 2 * 3); // two label sets: counter total, histogram count and sum
  const text = await new MultiprocessRegistry({ dir }).metrics();
  const ours = restrictToNames(parseExposition(text, (name) => name.startsWith('bench_')), new Set(['bench_requests_total', 'bench_request_duration_seconds_count', 'bench_request_duration_seconds_sum']));
  assert.deepEqual(differences(expected, ours, names), []);
});

test('copies count once per identity, and a changed value in one file is caught', async () => {
  const dir = tempDir();
  const { expected, written } = buildCopiedDirectory(dir, { identities: 5, entriesPerIdentity: 17 }, 2);
  assert.equal(written, 2);
  assert.equal(metricsFileCount(dir), 10);
  const scrape = async () => parseExposition(await new MultiprocessRegistry({ dir }).metrics(), (name) => name.startsWith('bench_'));
  const keep = new Set([...expected.keys()].map((key) => key.slice(0, key.indexOf('{'))));
  assert.deepEqual(differences(expected, restrictToNames(await scrape(), keep), names), []);

  // The counter file holds one entry: add 1 to its value (the double after the padded key).
  const fd = openSync(path.join(dir, 'counter_w4.db'), 'r+');
  try {
    const head = Buffer.alloc(12);
    readSync(fd, head, 0, 12, 0);
    const keyLength = head.readInt32LE(8);
    const valueOffset = 8 + 4 + keyLength + (8 - ((keyLength + 4) % 8));
    const value = Buffer.alloc(8);
    readSync(fd, value, 0, 8, valueOffset);
    value.writeDoubleLE(value.readDoubleLE(0) + 1, 0);
    writeSync(fd, value, 0, 8, valueOffset);
  } finally {
    closeSync(fd);
  }
  assert.equal(differences(expected, restrictToNames(await scrape(), keep), names).length, 1);
});

test('the wide directory scrapes to the totals it was built with', async () => {
  const dir = tempDir();
  const { expected } = buildWideDirectory(dir, 3, { metrics: 2, routes: 5 });
  assert.equal(metricsFileCount(dir), 6);
  assert.equal(expected.size, 2 * 5 * 3); // per metric pair and route: counter total, histogram count and sum
  const scraped = parseExposition(await new MultiprocessRegistry({ dir }).metrics(), (name) => name.startsWith('bench_'));
  const keep = new Set([...expected.keys()].map((key) => key.slice(0, key.indexOf('{'))));
  assert.deepEqual(differences(expected, restrictToNames(scraped, keep), names), []);
});
