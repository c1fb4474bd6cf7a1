// Issue 12: packages built on prom-client, unmodified and installed from the npm registry,
// record into the multiprocess directory when `prom-client` (and its successor's name,
// `@prometheus-io/client`) resolves to this library through the package manager's override.
// express-prom-bundle and fastify-metrics each run under node:cluster with 2 workers, and every
// scrape of their own /metrics, whichever worker answers it, counts every request exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { packLibrary } from './helpers/packLibrary.js';
import {
  CLIENT_NAMES, installApp, resolvedPackageName, samplesNamed, samplesOf, send, startCluster, type RunningCluster,
} from './helpers/thirdPartyApp.js';

interface Planned {
  method: string;
  path: string;
  status: number;
  /** The route label each package gives it, or undefined when the package does not count it. */
  express: string;
  fastify: string | undefined;
}

const JOBS = 12;
const plan: Planned[] = [
  ...Array.from({ length: 30 }, () => ({ method: 'GET', path: '/hello', status: 200, express: '/hello', fastify: '/hello' })),
  ...Array.from({ length: 24 }, (_, i) => ({ method: 'GET', path: `/items/${1000 + i}`, status: 200, express: '/items/#val', fastify: '/items/:id' })),
  ...Array.from({ length: JOBS }, () => ({ method: 'POST', path: '/jobs', status: 201, express: '/jobs', fastify: '/jobs' })),
  // fastify-metrics counts registered routes only; express-prom-bundle counts the 404 by its path.
  ...Array.from({ length: 10 }, () => ({ method: 'GET', path: '/missing', status: 404, express: '/missing', fastify: undefined })),
];

function countBy(key: (request: Planned) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of plan) {
    const labels = key(request);
    if (labels !== undefined) counts.set(labels, (counts.get(labels) ?? 0) + 1);
  }
  return counts;
}

/** express-prom-bundle's duration metric (and the app's own counter) after the plan. */
function expressExpected(histogram: boolean): Map<string, number> {
  const expected = new Map<string, number>([['jobs_done_total{}', JOBS]]);
  for (const [labels, count] of countBy((r) => `method="${r.method}",path="${r.express}",status_code="${r.status}"`)) {
    expected.set(`http_request_duration_seconds_count{${labels}}`, count);
    if (histogram) expected.set(`http_request_duration_seconds_bucket{le="+Inf",${labels}}`, count);
  }
  return expected;
}

/** fastify-metrics' histogram and summary (and the app's own counter) after the plan. */
function fastifyExpected(): Map<string, number> {
  const expected = new Map<string, number>([['jobs_done_total{}', JOBS]]);
  for (const [labels, count] of countBy((r) => r.fastify && `method="${r.method}",route="${r.fastify}",status_code="${r.status}"`)) {
    expected.set(`http_request_duration_seconds_count{${labels}}`, count);
    expected.set(`http_request_duration_seconds_bucket{le="+Inf",${labels}}`, count);
    expected.set(`http_request_summary_seconds_count{${labels}}`, count);
  }
  return expected;
}

/** The samples a scrape is judged by: the metrics `expected` names, histograms by their +Inf bucket. */
function judged(exposition: string, expected: Map<string, number>): Map<string, number> {
  const names = [...new Set([...expected.keys()].map((key) => key.slice(0, key.indexOf('{'))))];
  return new Map([...samplesNamed(samplesOf(exposition), ...names)].filter(([key]) => !key.includes('_bucket{') || key.includes('le="+Inf"')));
}

interface Scenario {
  title: string;
  script: string;
  env: NodeJS.ProcessEnv;
  expected: Map<string, number>;
  /** Whether /metrics is the primary's (so no worker answers it) rather than any worker's. */
  primaryServesMetrics?: boolean;
}

const expressHistogram: Scenario = {
  title: 'express-prom-bundle (histogram, default metrics on)', script: 'expressPromBundleApp.cjs', env: {}, expected: expressExpected(true),
};
const expressSummary: Scenario = {
  title: 'express-prom-bundle (summary with percentiles)', script: 'expressPromBundleApp.cjs', env: { METRIC_TYPE: 'summary' }, expected: expressExpected(false),
};
// With prom-client alone the primary asks each worker over IPC and sums; here nothing may be
// counted twice.
const expressClusterMetrics: Scenario = {
  title: "express-prom-bundle's cluster mode (clusterMetrics() in the primary)",
  script: 'expressPromBundleClusterApp.cjs',
  env: {},
  expected: expressExpected(true),
  primaryServesMetrics: true,
};
// The app's counter comes from the prom-client copy and fastify-metrics' registry from the
// @prometheus-io/client one: the shared directory joins them in one scrape.
const fastify14: Scenario = {
  title: 'fastify-metrics 14 (imports @prometheus-io/client)', script: 'fastifyMetricsApp.mjs', env: { FASTIFY_METRICS: 'fastify-metrics' }, expected: fastifyExpected(),
};
const fastify13: Scenario = {
  title: 'fastify-metrics 13 (imports prom-client)', script: 'fastifyMetricsApp.mjs', env: { FASTIFY_METRICS: 'fastify-metrics-13' }, expected: fastifyExpected(),
};

const installs = [
  { manager: 'npm' as const, scenarios: [expressHistogram, expressSummary, expressClusterMetrics, fastify14, fastify13] },
  // pnpm's override, checked on one app of each package.
  { manager: 'pnpm' as const, scenarios: [expressHistogram, fastify14] },
];

/** The samples a scrape got wrong, one line each. */
function differences(seen: Map<string, number>, expected: Map<string, number>): string {
  return [...new Set([...expected.keys(), ...seen.keys()])]
    .filter((key) => seen.get(key) !== expected.get(key))
    .map((key) => `  ${key}: ${seen.get(key) ?? 'missing'}, expected ${expected.get(key) ?? 'none'}`)
    .join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sendPlanAndScrape(app: string, scenario: Scenario): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-third-party-dir-'));
  let cluster: RunningCluster | undefined;
  try {
    cluster = await startCluster(app, scenario.script, { ...scenario.env, PROM_MULTIPROC_DIR: dir, WORKERS: '2' });
    const { port, metricsPort } = cluster;
    const answeredBy = new Set<string>();
    // Several at a time, as clients do; each on its own connection.
    for (let i = 0; i < plan.length; i += 6) {
      const batch = plan.slice(i, i + 6);
      const responses = await Promise.all(batch.map((r) => send(port, r.method, r.path)));
      responses.forEach((response, j) => {
        assert.equal(response.status, batch[j]!.status, `${batch[j]!.method} ${batch[j]!.path}: ${response.body}`);
        answeredBy.add(String(response.headers['x-worker-pid']));
      });
    }
    assert.ok(answeredBy.size >= 2, `requests should land on both workers, got ${[...answeredBy].join(', ')}`);

    // A package records a request when its response has finished, which can be just after the
    // client has read it: wait for the first scrape that has them all.
    for (const started = Date.now(); ; await sleep(50)) {
      const scrape = await send(metricsPort, 'GET', '/metrics');
      assert.equal(scrape.status, 200, scrape.body);
      const seen = judged(scrape.body, scenario.expected);
      if (isDeepStrictEqual(seen, scenario.expected)) break;
      if (Date.now() - started > 15_000) {
        assert.fail(`no scrape counted every request in 15 s; the last, from worker ${scrape.headers['x-worker-pid']}:\n${differences(seen, scenario.expected)}`);
      }
    }
    const scrapedFrom = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const scrape = await send(metricsPort, 'GET', '/metrics');
      const worker = String(scrape.headers['x-worker-pid']);
      scrapedFrom.add(worker);
      assert.equal(scrape.status, 200, scrape.body);
      assert.match(String(scrape.headers['content-type']), /^text\/plain/);
      const seen = judged(scrape.body, scenario.expected);
      assert.ok(isDeepStrictEqual(seen, scenario.expected), `scrape ${i}, from worker ${worker}:\n${differences(seen, scenario.expected)}`);
    }
    if (!scenario.primaryServesMetrics) {
      assert.ok(scrapedFrom.size >= 2, `scrapes should land on both workers, got ${[...scrapedFrom].join(', ')}`);
    }
  } finally {
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('unmodified prom-client-based packages with prom-client overridden to this library', () => {
  let work: string;
  let tarball: string;
  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'pm-third-party-'));
    tarball = packLibrary(work);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  for (const { manager, scenarios } of installs) {
    describe(`installed by ${manager}`, () => {
      let app: string;
      let installMs = 0;
      before(() => {
        app = path.join(work, `app-${manager}`);
        const started = Date.now();
        installApp(app, tarball, manager);
        installMs = Date.now() - started;
      }, { timeout: 300_000 });

      it('resolves every client name to the library from each package that imports it', (t) => {
        t.diagnostic(`${manager} install: ${installMs} ms`);
        const consumers: [string, string][] = [
          ['.', 'prom-client'],
          ['express-prom-bundle', 'prom-client'],
          ['fastify-metrics', '@prometheus-io/client'],
          ['fastify-metrics-13', 'prom-client'],
        ];
        for (const [consumer, client] of consumers) {
          assert.ok((CLIENT_NAMES as readonly string[]).includes(client));
          assert.equal(resolvedPackageName(app, consumer, client), 'prom-multiproc', `${client} from ${consumer}`);
        }
      });

      for (const scenario of scenarios) {
        it(`${scenario.title}: every scrape of its /metrics counts every request of both workers`, { timeout: 120_000 }, async () => {
          await sendPlanAndScrape(app, scenario);
        });
      }
    });
  }
});
