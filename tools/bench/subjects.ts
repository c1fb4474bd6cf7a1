// The measured workloads. Each one runs alone in a fresh process (see runSubject.ts), so the
// JIT state and garbage of one subject never weigh on another.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as promClient from 'prom-client';
import { Counter, FileStore, Histogram, MemoryStore, collectDirectory, type MetricFamily } from '../../packages/prom-multiproc/src/index.js';
import { collectStore } from '../../packages/prom-multiproc/src/scrape/collector.js';

/** The label values cycled through: a handful of routes, as a real service has. */
export const ROUTES: readonly string[] = Array.from({ length: 10 }, (_, i) => `/route/${i}`);
/** Observations that land in different default buckets, so the bucket scan is not always 1 step. */
const OBSERVATIONS: readonly number[] = [0.003, 0.02, 0.04, 0.09, 0.3, 0.6, 1.5, 4, 8, 20, 0.012];

export interface Workload {
  /** One operation; `i` counts up from 0 across warm-up and measurement. */
  step(i: number): void;
  /** Throws unless the stored result is exactly what `ops` steps must give. */
  verify(ops: number): Promise<void>;
  close(): void;
}

export const SUBJECTS = {
  'counter/prom-client': promClientCounter,
  'counter/files': () => multiprocCounter('files'),
  'counter/memory': () => multiprocCounter('memory'),
  'histogram/prom-client': promClientHistogram,
  'histogram/files': () => multiprocHistogram('files'),
} satisfies Record<string, () => Workload>;

export type SubjectName = keyof typeof SUBJECTS;

function check(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

/** Sum of what `ops` steps observed, added in the same order as the steps, so it is exact. */
function expectedObservationSum(ops: number): number {
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += OBSERVATIONS[i % OBSERVATIONS.length]!;
  return sum;
}

function promClientCounter(): Workload {
  const registry = new promClient.Registry();
  const counter = new promClient.Counter({ name: 'bench_requests_total', help: 'Requests.', labelNames: ['route'], registers: [registry] });
  return {
    step: (i) => counter.labels(ROUTES[i % ROUTES.length]!).inc(),
    async verify(ops) {
      const { values } = await counter.get();
      check('prom-client series', values.length, ROUTES.length);
      check('prom-client total', values.reduce((sum, sample) => sum + sample.value, 0), ops);
    },
    close: () => registry.clear(),
  };
}

function promClientHistogram(): Workload {
  const registry = new promClient.Registry();
  const histogram = new promClient.Histogram({ name: 'bench_latency_seconds', help: 'Latency.', labelNames: ['route'], registers: [registry] });
  return {
    step: (i) => histogram.labels(ROUTES[i % ROUTES.length]!).observe(OBSERVATIONS[i % OBSERVATIONS.length]!),
    async verify(ops) {
      const { values } = await histogram.get();
      const count = values.filter((sample) => sample.metricName === 'bench_latency_seconds_count');
      check('prom-client histogram count', count.reduce((sum, sample) => sum + sample.value, 0), ops);
    },
    close: () => registry.clear(),
  };
}

type StoreKind = 'files' | 'memory';

/** A store of the given kind, and how to read back what it holds the way a scrape would. */
function openStore(kind: StoreKind): { store: FileStore | MemoryStore; collect: () => Promise<MetricFamily[]>; close: () => void } {
  if (kind === 'memory') {
    const store = new MemoryStore({ identity: 'bench' });
    return { store, collect: async () => collectStore(store).families, close: () => store.close() };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-bench-'));
  const store = new FileStore({ dir, identity: 'bench' });
  return {
    store,
    async collect() {
      store.flush();
      const { families, skipped } = await collectDirectory(dir);
      if (skipped.length > 0) throw new Error(`unreadable files: ${JSON.stringify(skipped)}`);
      return families;
    },
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function samplesNamed(families: MetricFamily[], sampleName: string): number[] {
  return families.flatMap((family) => family.samples.filter((sample) => sample.name === sampleName).map((sample) => sample.value));
}

function multiprocCounter(kind: StoreKind): Workload {
  const { store, collect, close } = openStore(kind);
  const counter = new Counter({ name: 'bench_requests_total', help: 'Requests.', labelNames: ['route'], store, registers: [] });
  return {
    step: (i) => counter.labels(ROUTES[i % ROUTES.length]!).inc(),
    async verify(ops) {
      const values = samplesNamed(await collect(), 'bench_requests_total');
      check('prom-multiproc series', values.length, ROUTES.length);
      check('prom-multiproc total', values.reduce((sum, value) => sum + value, 0), ops);
    },
    close,
  };
}

function multiprocHistogram(kind: StoreKind): Workload {
  const { store, collect, close } = openStore(kind);
  const histogram = new Histogram({ name: 'bench_latency_seconds', help: 'Latency.', labelNames: ['route'], store, registers: [] });
  return {
    step: (i) => histogram.labels(ROUTES[i % ROUTES.length]!).observe(OBSERVATIONS[i % OBSERVATIONS.length]!),
    async verify(ops) {
      const families = await collect();
      check('prom-multiproc histogram count', samplesNamed(families, 'bench_latency_seconds_count').reduce((s, v) => s + v, 0), ops);
      const sum = samplesNamed(families, 'bench_latency_seconds_sum').reduce((s, v) => s + v, 0);
      // Per-series sums are added in a different order than the reference sum: allow rounding.
      if (Math.abs(sum - expectedObservationSum(ops)) > 1e-6 * sum) throw new Error(`prom-multiproc histogram sum: ${sum}`);
    },
    close,
  };
}
