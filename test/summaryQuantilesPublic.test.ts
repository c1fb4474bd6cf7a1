// Summary quantiles through the public API only, as an application sees them: real child
// processes create `new Summary({ percentiles, ... })` from the package's entry and observe,
// with PROM_MULTIPROC_DIR in their environment; this process sets the same variable, creates
// the same Summary and scrapes `register.metrics()`. Every quantile line must be within the
// sketch's stated bound (1% relative, by the midpoint rank definition in
// sketch/quantileSketch.ts) of the exact quantile of everything the processes observed, which
// they send here raw; `_count` and `_sum` must be those of all the observations. Also: a
// process SIGKILLed after its side file was written still counts; a 2 s window empties as
// prom-client's does; and in one process without a directory, ours agrees with prom-client's
// own Summary as closely as prom-client's t-digest allows.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as promClient from 'prom-client';
import { MemoryStore, Registry, Summary, register } from '../packages/prom-multiproc/src/index.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { draw, type Distribution } from './helpers/summaryDistributions.js';
import type { ChildLine, ChildSpec } from './helpers/summaryPublicChild.js';
import { childTracker } from './helpers/trackedChildren.js';

const CHILD = fileURLToPath(new URL('./helpers/summaryPublicChild.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ALPHA = 0.01;
const PERCENTILES = [0.01, 0.1, 0.5, 0.9, 0.99];
const LATENCY: ChildSpec['summary'] = { name: 'latency_seconds', help: 'Request latency in seconds', percentiles: PERCENTILES };
const RECENT: ChildSpec['summary'] = {
  name: 'recent_latency_seconds', help: 'Request latency in seconds, last 2 s', percentiles: PERCENTILES, maxAgeSeconds: 2, ageBuckets: 2,
};
// Generous: a tsx child takes seconds to start on a busy machine. Only a hung child meets it.
const LINE_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 180_000;
// How far the rank of prom-client's answer may stray from q * n, as a fraction of n, once its
// t-digest has compressed: it interpolates between centroids of up to 4 * n * 0.01 * q * (1 - q)
// values, and its compression shuffles at random. On these distributions, over many seeds, it
// strayed by at most 0.4% (at the median).
const PROM_CLIENT_RANK_ERROR = 0.01;

const scratch = scratchDirectories('pm-summary-public-');
const warnings = capturedWarnings();

// One directory for the file: this process's default store takes it once, at its first scrape.
// The cases tell their series apart by route (and metric name).
let dir = '';
before(() => {
  dir = scratch();
  process.env.PROM_MULTIPROC_DIR = dir;
  delete process.env.PROMETHEUS_MULTIPROC_DIR;
  delete process.env.PROM_MULTIPROC_IDENTITY;
});

// ---- children ----

interface Child {
  name: string;
  process: ChildProcess;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  nextLine(): Promise<ChildLine>;
  stderr(): string;
}

type Observed = Extract<ChildLine, { type: 'observed' }>;

const track = childTracker();

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A child with PROM_MULTIPROC_DIR set, and PROM_MULTIPROC_IDENTITY when given (its pid otherwise). */
function spawnChild(name: string, spec: ChildSpec, identity?: string): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, PROM_MULTIPROC_DIR: dir };
  delete env.PROM_MULTIPROC_IDENTITY;
  if (identity !== undefined) env.PROM_MULTIPROC_IDENTITY = identity;
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(spec)], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const { ended, stderr } = track(child);
  const lines: ChildLine[] = [];
  const waiting: ((line: ChildLine) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as ChildLine;
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter(line);
    else lines.push(line);
  });
  const nextLine = (): Promise<ChildLine> => {
    const queued = lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    const line = new Promise<ChildLine>((resolve, reject) => {
      waiting.push(resolve);
      // Lines are read before 'exit' is seen only if they were written: give readline a turn.
      void ended.then((ending) => setTimeout(() => reject(new Error(`${name} ended (${JSON.stringify(ending)}) without a line:\n${stderr()}`)), 100));
    });
    return withTimeout(line, LINE_TIMEOUT_MS, `a line from ${name}`);
  };
  return { name, process: child, ended, nextLine, stderr };
}

/** Starts every child's observations at once (their windows start together) and returns what each observed. */
async function observeTogether(children: readonly Child[]): Promise<Observed[]> {
  for (const line of await Promise.all(children.map((child) => child.nextLine()))) assert.equal(line.type, 'ready');
  for (const child of children) child.process.stdin!.end('go\n');
  const lines = await Promise.all(children.map((child) => child.nextLine()));
  return lines.map((line) => {
    assert.equal(line.type, 'observed');
    return line as Observed;
  });
}

async function endedNormally(child: Child): Promise<void> {
  const ending = await withTimeout(child.ended, LINE_TIMEOUT_MS, `${child.name} to end by itself`);
  assert.deepEqual(ending, { code: 0, signal: null }, `${child.name}:\n${child.stderr()}`);
}

async function kill(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  await child.ended;
}

function spec(summary: ChildSpec['summary'], distribution: Distribution, seed: number, routes: ChildSpec['routes'], hold = false): ChildSpec {
  return { summary, distribution, seed, routes, hold };
}

/** Every process's observations of one route, together. */
function union(results: readonly Observed[], route: string): number[] {
  return results.flatMap((result) => result.observations[route] ?? []);
}

// ---- the scrape, as text ----

interface ScrapedSeries {
  quantiles: Map<number, number>;
  sum?: number;
  count?: number;
}

/** The sample lines of one metric family, in order. */
function familyLines(text: string, name: string): string[] {
  return text.split('\n').filter((line) => {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
    return sample === name || sample === `${name}_sum` || sample === `${name}_count`;
  });
}

/** A summary family of the text format, by route. */
function parseSummary(text: string, name: string): Map<string, ScrapedSeries> {
  const series = new Map<string, ScrapedSeries>();
  for (const line of familyLines(text, name)) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match !== null, `not a sample line: ${line}`);
    const [, sample, labelText = '', valueText] = match;
    const labels = new Map([...labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, label, value]) => [label!, value!]));
    const route = labels.get('route')!;
    const entry = series.get(route) ?? { quantiles: new Map<number, number>() };
    series.set(route, entry);
    const value = Number(valueText);
    if (sample === name) entry.quantiles.set(Number(labels.get('quantile')), value);
    else if (sample === `${name}_sum`) entry.sum = value;
    else entry.count = value;
  }
  return series;
}

function seriesOf(scraped: Map<string, ScrapedSeries>, route: string): ScrapedSeries {
  const found = scraped.get(route);
  assert.ok(found !== undefined, `no series for route ${route}; routes: ${[...scraped.keys()].join(', ')}`);
  assert.deepEqual([...found.quantiles.keys()], PERCENTILES, `route ${route}: the quantile lines`);
  return found;
}

// ---- the exact quantiles ----

/**
 * The midpoint definition of quantileSketch.ts, exactly: for the sorted x[0..n-1],
 * h = clamp(q * n - 0.5, 0, n - 1), interpolated between x[floor(h)] and x[ceil(h)].
 */
function exactQuantile(sorted: readonly number[], q: number): { value: number; lower: number; upper: number } {
  const h = Math.min(Math.max(q * sorted.length - 0.5, 0), sorted.length - 1);
  const rank = Math.floor(h);
  const lower = sorted[rank]!;
  const upper = h === rank ? lower : sorted[rank + 1]!;
  const fraction = h - rank;
  return { value: lower === upper ? lower : (1 - fraction) * lower + fraction * upper, lower, upper };
}

interface QuantileCheck {
  q: number;
  shown: number;
  exact: number;
  /** What the bound scales with: |exact|, or the larger neighbour across a sign change. */
  scale: number;
  ok: boolean;
}

function compareWithExact(quantiles: ReadonlyMap<number, number>, observations: readonly number[]): QuantileCheck[] {
  const sorted = [...observations].sort((a, b) => a - b);
  return [...quantiles].map(([q, shown]) => {
    const exact = exactQuantile(sorted, q);
    const scale = exact.lower * exact.upper >= 0 ? Math.abs(exact.value) : Math.max(Math.abs(exact.lower), Math.abs(exact.upper));
    // The stated bound, with the stated floating-point slack.
    return { q, shown, exact: exact.value, scale, ok: Math.abs(shown - exact.value) <= ALPHA * scale * (1 + 1e-9) + 1e-12 * scale };
  });
}

/** Asserts the bound for every quantile; returns the largest error relative to its scale. */
function assertWithinBound(quantiles: ReadonlyMap<number, number>, observations: readonly number[], what: string): number {
  let worst = 0;
  for (const check of compareWithExact(quantiles, observations)) {
    const error = Math.abs(check.shown - check.exact);
    assert.ok(check.ok, `${what}, q=${check.q}: shown ${check.shown}, exact ${check.exact}, error ${error} > ${ALPHA * check.scale}`);
    if (check.scale > 0) worst = Math.max(worst, error / check.scale);
  }
  return worst;
}

function assertCountAndSum(series: ScrapedSeries, observations: readonly number[], what: string): void {
  assert.equal(series.count, observations.length, `${what}: _count`);
  const sum = observations.reduce((total, value) => total + value, 0);
  const magnitude = observations.reduce((total, value) => total + Math.abs(value), 0);
  assert.ok(series.sum !== undefined && Math.abs(series.sum - sum) <= 1e-9 * magnitude, `${what}: _sum ${series.sum}, observations add up to ${sum}`);
}

// The Summary this process scrapes through: created once the variable is set, as an application would.
let scraping: { latency: Summary<'route'>; recent: Summary<'route'> } | undefined;
function scrapingSummaries(): NonNullable<typeof scraping> {
  return (scraping ??= {
    latency: new Summary({ ...LATENCY, labelNames: ['route'] }),
    recent: new Summary({ ...RECENT, labelNames: ['route'] }),
  });
}

let worstOverall = 0;

describe('summary quantiles of several processes, through the public API', () => {
  it('four processes: every quantile within 1% of the exact quantile of all their observations; _count and _sum of all', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const distributions: Distribution[] = ['lognormal', 'uniform', 'bimodal', 'pareto'];
    const children = distributions.map((distribution, i) =>
      spawnChild(`w${i + 1}`, spec(LATENCY, distribution, i + 1, [
        { route: '/search', count: 5000, scale: 0.05 },
        { route: '/checkout', count: 2000 + 1000 * i, scale: 0.4 },
      ]), `w${i + 1}`),
    );
    try {
      const results = await observeTogether(children);
      // A normal end: 'exit' writes each side file.
      await Promise.all(children.map(endedNormally));

      scrapingSummaries();
      const text = await register.metrics();
      const scraped = parseSummary(text, 'latency_seconds');
      let worst = 0;
      for (const route of ['/search', '/checkout']) {
        const all = union(results, route);
        const series = seriesOf(scraped, route);
        worst = Math.max(worst, assertWithinBound(series.quantiles, all, `route ${route}`));
        assertCountAndSum(series, all, `route ${route}`);
      }
      assert.equal(union(results, '/search').length, 20_000);
      t.diagnostic(`largest relative error: ${worst}`);
      worstOverall = Math.max(worstOverall, worst);

      // Any registry the summary is in shows the same merge.
      const registry = new Registry();
      new Summary({ ...LATENCY, labelNames: ['route'], registers: [registry] });
      assert.deepEqual(familyLines(await registry.metrics(), 'latency_seconds'), familyLines(text, 'latency_seconds'));
    } finally {
      await Promise.all(children.map(kill));
    }
    assert.deepEqual(warnings, []);
  });

  it('a process SIGKILLed after its side file was written still counts in the quantiles and _count', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const routes = (scale: number): ChildSpec['routes'] => [
      { route: '/upload', count: 3000, scale },
      { route: '/download', count: 1500, scale: 4 * scale },
    ];
    // Identities left to the pid this time. The one killed has the slowest requests: without
    // its observations the upper quantiles would be far off.
    const children = [
      spawnChild('k1', spec(LATENCY, 'lognormal', 11, routes(0.2))),
      spawnChild('k2', spec(LATENCY, 'uniform', 12, routes(0.2))),
      spawnChild('k3', spec(LATENCY, 'bimodal', 13, routes(0.2))),
      spawnChild('killed', spec(LATENCY, 'pareto', 14, routes(0.5), true)),
    ];
    const victim = children[3]!;
    try {
      const results = await observeTogether(children);
      await Promise.all(children.slice(0, 3).map(endedNormally));

      // At least 1.5 s (the side file is written at most once a second after a change), and the
      // side file there. The child observes in one synchronous run and its writer's timer can only
      // fire after it, so the file's first write holds every observation. (Its mtime cannot tell:
      // the kernel stamps files with a coarse clock that can lag Date.now() by milliseconds.)
      const observedAt = results[3]!.observedAt;
      const sideFile = path.join(dir, `quantiles_${victim.process.pid}.pmq`);
      const deadline = Date.now() + LINE_TIMEOUT_MS;
      while (Date.now() - observedAt < 1500 || !fs.existsSync(sideFile)) {
        assert.ok(Date.now() < deadline, `${sideFile} was not written after the observations`);
        await sleep(50);
      }
      victim.process.kill('SIGKILL');
      assert.equal((await victim.ended).signal, 'SIGKILL');

      scrapingSummaries();
      const scraped = parseSummary(await register.metrics(), 'latency_seconds');
      let worst = 0;
      for (const route of ['/upload', '/download']) {
        const all = union(results, route);
        const series = seriesOf(scraped, route);
        worst = Math.max(worst, assertWithinBound(series.quantiles, all, `route ${route}`));
        assertCountAndSum(series, all, `route ${route}`);
        // The check tells the difference: the others' observations alone are out of bound.
        const withoutVictim = union(results.slice(0, 3), route);
        assert.ok(compareWithExact(series.quantiles, withoutVictim).some((check) => !check.ok), `route ${route}: the killed process's observations make no difference`);
      }
      t.diagnostic(`largest relative error: ${worst}`);
      worstOverall = Math.max(worstOverall, worst);
    } finally {
      await Promise.all(children.map(kill));
    }
    assert.deepEqual(warnings, []);
  });

  it('maxAgeSeconds 2, ageBuckets 2: quantiles of every process while in the window, 0 once it passed with _count and _sum kept, as prom-client shows', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const routes: ChildSpec['routes'] = [{ route: '/search', count: 1000, scale: 0.05 }, { route: '/checkout', count: 500, scale: 0.4 }];
    const children = [
      spawnChild('r1', spec(RECENT, 'lognormal', 21, routes), 'r1'),
      spawnChild('r2', spec(RECENT, 'pareto', 22, routes), 'r2'),
    ];
    try {
      const results = await observeTogether(children);
      await Promise.all(children.map(endedNormally));

      // prom-client's own Summary, with the same window and the same observations.
      const promRegistry = new promClient.Registry();
      const promSummary = new promClient.Summary({ ...RECENT, labelNames: ['route'], registers: [promRegistry] });
      for (const { route } of routes) for (const value of union(results, route)) promSummary.observe({ route }, value);
      const promObservedAt = Date.now();

      scrapingSummaries();
      // Within the window: no slot of the children started before startedAt.
      const inWindow = parseSummary(await register.metrics(), 'recent_latency_seconds');
      const age = Date.now() - Math.min(...results.map((result) => result.startedAt));
      if (age < 1800) {
        for (const { route } of routes) {
          worstOverall = Math.max(worstOverall, assertWithinBound(seriesOf(inWindow, route).quantiles, union(results, route), `route ${route} in the window`));
        }
      } else {
        t.diagnostic(`the in-window scrape came ${age} ms after the observations began (a busy machine): not checked`);
      }
      const promInWindow = parseSummary(await promRegistry.metrics(), 'recent_latency_seconds');
      for (const { route } of routes) assert.ok([...promInWindow.get(route)!.quantiles.values()].every((value) => value > 0));

      // After the window: no slot started after observedAt.
      const until = Math.max(promObservedAt, ...results.map((result) => result.observedAt)) + 2500;
      await sleep(Math.max(0, until - Date.now()));
      const ours = await register.metrics();
      const theirs = await promRegistry.metrics();
      const scraped = parseSummary(ours, 'recent_latency_seconds');
      const promScraped = parseSummary(theirs, 'recent_latency_seconds');
      for (const { route } of routes) {
        const all = union(results, route);
        const series = seriesOf(scraped, route);
        assert.deepEqual([...series.quantiles.values()], PERCENTILES.map(() => 0), `route ${route}: the quantiles of an empty window`);
        assertCountAndSum(series, all, `route ${route}`);
        // prom-client shows the same: zeros, and the count and sum of everything.
        const promSeries = promScraped.get(route)!;
        assert.deepEqual(promSeries.quantiles, series.quantiles, `route ${route}: prom-client's quantiles`);
        assert.equal(promSeries.count, series.count);
        assertCountAndSum(promSeries, all, `route ${route} (prom-client)`);
      }
      // The same lines, but for the last digits of the sums (added up in another order).
      const withoutSums = (text: string): string[] => familyLines(text, 'recent_latency_seconds').filter((line) => !line.startsWith('recent_latency_seconds_sum')).sort();
      assert.deepEqual(withoutSums(ours), withoutSums(theirs));
    } finally {
      await Promise.all(children.map(kill));
    }
    assert.deepEqual(warnings, []);
    t.diagnostic(`largest relative error of the multi-process cases: ${worstOverall}`);
  });
});

describe('summary quantiles in one process (no directory) beside prom-client\'s Summary', () => {
  /** The same observations into prom-client's Summary and ours (the memory store, as without PROM_MULTIPROC_DIR); their text, by route. */
  async function bothSummaries(observations: ReadonlyMap<string, readonly number[]>): Promise<{ ours: string; theirs: string }> {
    const ourRegistry = new Registry();
    const ourSummary = new Summary({ ...LATENCY, labelNames: ['route'], registers: [ourRegistry], store: new MemoryStore() });
    const promRegistry = new promClient.Registry();
    const promSummary = new promClient.Summary({ ...LATENCY, labelNames: ['route'], registers: [promRegistry] });
    for (const [route, values] of observations) {
      for (const value of values) {
        ourSummary.observe({ route }, value);
        promSummary.observe({ route }, value);
      }
    }
    return { ours: await ourRegistry.metrics(), theirs: await promRegistry.metrics() };
  }

  /** The lines of both but for the quantile values: the same series, order, _sum and _count. */
  function assertSameLines(ours: string, theirs: string): void {
    const shape = (text: string): string[] => familyLines(text, 'latency_seconds').map((line) => (line.includes('quantile=') ? line.replace(/ \S+$/, '') : line));
    assert.deepEqual(shape(ours), shape(theirs));
  }

  it('below 200 distinct observations, where prom-client\'s t-digest keeps every value, ours is within 1% of prom-client\'s', async (t) => {
    // prom-client's t-digest merges two values only once 4 * n * 0.01 * q * (1 - q) >= 2, i.e.
    // from n = 200: below that it answers the midpoint definition exactly.
    const observations = new Map<string, number[]>([
      ['/search', [...draw('lognormal', 0.05, 31, 60), ...draw('pareto', 0.05, 32, 60), ...draw('uniform', 0.05, 33, 60)]],
      ['/checkout', [...draw('lognormal', 0.4, 34, 7), ...draw('uniform', 0.4, 35, 5)]],
    ]);
    const { ours, theirs } = await bothSummaries(observations);
    assertSameLines(ours, theirs);
    const scraped = parseSummary(ours, 'latency_seconds');
    const promScraped = parseSummary(theirs, 'latency_seconds');
    let worst = 0;
    for (const [route, values] of observations) {
      assert.equal(new Set(values).size, values.length, 'distinct observations');
      // prom-client here is the exact quantile (up to its arithmetic's rounding) ...
      for (const check of compareWithExact(promScraped.get(route)!.quantiles, values)) {
        assert.ok(Math.abs(check.shown - check.exact) <= 1e-12 * check.scale, `prom-client, route ${route}, q=${check.q}: ${check.shown}, exact ${check.exact}`);
      }
      // ... so ours is within 1% of it.
      const series = seriesOf(scraped, route);
      for (const [q, value] of series.quantiles) {
        const theirsValue = promScraped.get(route)!.quantiles.get(q)!;
        const error = Math.abs(value - theirsValue) / theirsValue;
        assert.ok(error <= ALPHA * (1 + 1e-9), `route ${route}, q=${q}: ours ${value}, prom-client ${theirsValue}`);
        worst = Math.max(worst, error);
      }
    }
    t.diagnostic(`largest relative difference from prom-client: ${worst}`);
  });

  it('on 20 000 observations ours is within 1% of the exact quantile; prom-client\'s compressed t-digest only within its rank error, so the two need not agree to 1%', async (t) => {
    const mixture = (scale: number, seed: number): number[] =>
      (['lognormal', 'uniform', 'bimodal', 'pareto'] as const).flatMap((distribution, i) => draw(distribution, scale, seed + i, 5000));
    const observations = new Map<string, number[]>([['/search', mixture(0.05, 41)], ['/checkout', mixture(0.4, 51)]]);
    const { ours, theirs } = await bothSummaries(observations);
    assertSameLines(ours, theirs);
    const scraped = parseSummary(ours, 'latency_seconds');
    const promScraped = parseSummary(theirs, 'latency_seconds');
    let worst = 0;
    let widestDifference = 0;
    for (const [route, values] of observations) {
      const series = seriesOf(scraped, route);
      worst = Math.max(worst, assertWithinBound(series.quantiles, values, `route ${route}`));
      // prom-client's answer is a value whose rank is close to q's: both are the same quantile.
      const sorted = [...values].sort((a, b) => a - b);
      for (const [q, theirsValue] of promScraped.get(route)!.quantiles) {
        const low = exactQuantile(sorted, Math.max(0, q - PROM_CLIENT_RANK_ERROR)).value;
        const high = exactQuantile(sorted, Math.min(1, q + PROM_CLIENT_RANK_ERROR)).value;
        assert.ok(theirsValue >= low && theirsValue <= high, `prom-client, route ${route}, q=${q}: ${theirsValue} is not between ${low} and ${high}`);
        const oursValue = series.quantiles.get(q)!;
        if (theirsValue > 0) widestDifference = Math.max(widestDifference, Math.abs(oursValue - theirsValue) / theirsValue);
      }
    }
    t.diagnostic(`largest relative error: ${worst}; largest relative difference from prom-client: ${widestDifference}`);
  });
});
