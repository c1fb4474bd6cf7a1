// The directories the scrape benchmark reads: N process identities, each with a counter and a
// histogram file written through the library (so the bytes are what real workers leave), and
// the totals a correct merge must give, worked out while writing, so a scrape can be checked
// without trusting any collector.

import { copyFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { Counter, DEFAULT_BUCKETS, PYTHON_DEFAULT_BUCKETS, FileStore, Histogram } from '../../packages/prom-multiproc/src/index.js';
import { sampleKey, type Samples } from './exposition.js';

const COUNTER = 'bench_requests';
const HISTOGRAM = 'bench_request_duration_seconds';
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;

/** Entries one label set takes in the files: the counter's _total, the histogram's _sum and 15 buckets. */
export const ENTRIES_PER_SERIES = 1 + 1 + (PYTHON_DEFAULT_BUCKETS.length + 1);

// Multiples of 2^-8 that reach most buckets: every sum of them is exact in a double whatever
// the order of addition, so ours and Python's (which reads files in directory order) must
// agree to the last bit.
const OBSERVATIONS: readonly number[] = [
  0.00390625, 0.0078125, 0.015625, 0.03125, 0.0625, 0.09375, 0.125, 0.375, 0.625, 0.875, 2, 3, 6, 8, 12,
];

export interface Size {
  identities: number;
  entriesPerIdentity: number;
}

export function parseSize(text: string): Size {
  const match = /^(\d+)x(\d+)$/.exec(text);
  const identities = Number(match?.[1]);
  const entriesPerIdentity = Number(match?.[2]);
  if (match === null || !(identities > 0) || !(entriesPerIdentity > 0) || entriesPerIdentity % ENTRIES_PER_SERIES !== 0) {
    throw new Error(`size "${text}" must be <identities>x<entries per identity>, entries a multiple of ${ENTRIES_PER_SERIES}`);
  }
  return { identities, entriesPerIdentity };
}

export const sizeText = ({ identities, entriesPerIdentity }: Size): string => `${identities}x${entriesPerIdentity}`;

function labelSet(series: number): { route: string; method: string } {
  return { route: `/api/v1/resource${series}/items`, method: METHODS[series % METHODS.length]! };
}

/**
 * What identity `i` records, by label set: the counter increment and the histogram
 * observations. Each identity meets its label sets in its own order (rotated by i), as workers
 * that create series on their first request do, so files of one kind do not all share a layout.
 */
function recordedBy(i: number, seriesCount: number): { route: string; method: string; increment: number; observations: number[] }[] {
  return Array.from({ length: seriesCount }, (_, k) => {
    const j = (k + i) % seriesCount;
    return {
      ...labelSet(j),
      increment: ((i % 13) + 1) * (j + 1) + 0.25,
      observations: Array.from({ length: 1 + ((i + j) % 3) }, (_, n) => OBSERVATIONS[(i * 7 + j * 3 + n) % OBSERVATIONS.length]!),
    };
  });
}

function writeIdentity(dir: string, i: number, seriesCount: number): void {
  const store = new FileStore({ dir, identity: `w${i}` });
  const labelNames = ['route', 'method'] as const;
  const counter = new Counter({ name: `${COUNTER}_total`, help: 'Requests served.', labelNames, store, registers: [] });
  const histogram = new Histogram({ name: HISTOGRAM, help: 'Time to serve a request.', labelNames, buckets: PYTHON_DEFAULT_BUCKETS, store, registers: [] });
  for (const { route, method, increment, observations } of recordedBy(i, seriesCount)) {
    counter.labels(route, method).inc(increment);
    const child = histogram.labels(route, method);
    for (const value of observations) child.observe(value);
  }
  store.close();
}

/** Adds what identity `i` recorded to the counter totals and histogram counts and sums. */
function expectIdentity(expected: Samples, i: number, seriesCount: number): void {
  const add = (name: string, labels: Record<string, string>, value: number) => {
    const key = sampleKey(name, labels);
    expected.set(key, (expected.get(key) ?? 0) + value);
  };
  for (const { route, method, increment, observations } of recordedBy(i, seriesCount)) {
    const labels = { route, method };
    add(`${COUNTER}_total`, labels, increment);
    add(`${HISTOGRAM}_count`, labels, observations.length);
    add(`${HISTOGRAM}_sum`, labels, observations.reduce((sum, value) => sum + value, 0));
  }
}

export interface BuiltDirectory {
  /** Counter totals, histogram counts and sums per label set. */
  expected: Samples;
  /** How many identities were written through the library (the rest are copies). */
  written: number;
}

/** Every identity written through the library: `identities` stores of `entriesPerIdentity` entries. */
export function buildDirectory(dir: string, { identities, entriesPerIdentity }: Size): BuiltDirectory {
  const seriesCount = entriesPerIdentity / ENTRIES_PER_SERIES;
  const expected: Samples = new Map();
  for (let i = 0; i < identities; i++) {
    writeIdentity(dir, i, seriesCount);
    expectIdentity(expected, i, seriesCount);
  }
  return { expected, written: identities };
}

/**
 * `written` identities through the library, then their files copied under the names of the
 * rest (identity i copies identity i % written), so that ten thousand workers take seconds to
 * lay down rather than minutes. The copies are byte-identical to what the library writes.
 */
export function buildCopiedDirectory(dir: string, { identities, entriesPerIdentity }: Size, written: number): BuiltDirectory {
  const seriesCount = entriesPerIdentity / ENTRIES_PER_SERIES;
  const expected: Samples = new Map();
  for (let i = 0; i < written; i++) writeIdentity(dir, i, seriesCount);
  const sourceFiles = readdirSync(dir).filter((name) => name.endsWith('.db'));
  for (let i = 0; i < identities; i++) {
    const source = i % written;
    if (i >= written) {
      for (const name of sourceFiles.filter((file) => file.endsWith(`_w${source}.db`))) {
        copyFileSync(path.join(dir, name), path.join(dir, name.replace(`_w${source}.db`, `_w${i}.db`)));
      }
    }
    expectIdentity(expected, source, seriesCount);
  }
  return { expected, written };
}

export function metricsFileCount(dir: string): number {
  return readdirSync(dir).filter((name) => name.endsWith('.db')).length;
}

/** The wide directory: each worker has an application's worth of registered metrics. */
export const WIDE_METRICS = 50;
export const WIDE_ROUTES = 100;
/** Entries one worker writes in the wide directory: a counter's _total, a histogram's _sum and 12 buckets per route. */
export const WIDE_ENTRIES_PER_IDENTITY = WIDE_METRICS * WIDE_ROUTES * (1 + 1 + DEFAULT_BUCKETS.length + 1);

/**
 * `identities` workers of an application with 50 counters and 50 histograms (prom-client's
 * default buckets) of 100 routes each: 10,000 series and 70,000 distinct keys per worker, the
 * same in every worker, where the other directories have a few hundred. What a first scrape
 * costs per distinct key (decoding it, its label ids) shows here. Tests take fewer metrics and routes.
 */
export function buildWideDirectory(dir: string, identities: number, { metrics = WIDE_METRICS, routes = WIDE_ROUTES } = {}): BuiltDirectory {
  const expected: Samples = new Map();
  const add = (name: string, labels: Record<string, string>, value: number) => {
    const key = sampleKey(name, labels);
    expected.set(key, (expected.get(key) ?? 0) + value);
  };
  for (let i = 0; i < identities; i++) {
    const store = new FileStore({ dir, identity: `w${i}` });
    for (let m = 0; m < metrics; m++) {
      const counter = new Counter({ name: `bench_wide_requests${m}_total`, help: 'Requests.', labelNames: ['route'], store, registers: [] });
      const histogram = new Histogram({ name: `bench_wide_latency${m}_seconds`, help: 'Latency.', labelNames: ['route'], store, registers: [] });
      for (let r = 0; r < routes; r++) {
        const route = `/r${(r + i) % routes}`;
        const increment = ((i + m + r) % 7) + 0.5;
        const observed = OBSERVATIONS[(i + m * 3 + r) % OBSERVATIONS.length]!;
        counter.labels(route).inc(increment);
        histogram.labels(route).observe(observed);
        add(`bench_wide_requests${m}_total`, { route }, increment);
        add(`bench_wide_latency${m}_seconds_count`, { route }, 1);
        add(`bench_wide_latency${m}_seconds_sum`, { route }, observed);
      }
    }
    store.close();
  }
  return { expected, written: identities };
}
