// Issue: a 4-worker node:cluster HTTP service; the merged scrape from any worker counts every
// request by (method, route, status), exactly.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const primaryScript = fileURLToPath(new URL('./helpers/httpClusterPrimary.ts', import.meta.url));

/** One request on a fresh connection, so the cluster spreads requests over workers. */
function request(port: number, pathname: string): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    }).on('error', reject);
  });
}

function requestCounts(exposition: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of exposition.matchAll(/^http_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\S+)$/gm)) {
    counts.set(`${match[1]} ${match[2]} ${match[3]}`, Number(match[4]));
  }
  return counts;
}

describe('a 4-worker node:cluster HTTP service', () => {
  let primary: ChildProcess;
  let dir: string;
  let port = 0;
  const events: { event: string; pid: number; port: number; ready: number }[] = [];
  async function waitFor(predicate: () => boolean, what: string): Promise<void> {
    for (const started = Date.now(); !predicate(); await new Promise((resolve) => setTimeout(resolve, 20))) {
      if (Date.now() - started > 30_000) throw new Error(`timed out waiting for ${what}`);
    }
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pm-http-cluster-'));
    primary = spawn(process.execPath, ['--import', 'tsx', primaryScript], {
      env: { ...process.env, METRICS_DIR: dir, WORKERS: '4' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: primary.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('workers did not start in 30 s')), 30_000);
      lines.on('line', (line) => {
        const event = JSON.parse(line) as { event: string; pid: number; port: number; ready: number };
        events.push(event);
        if (event.event === 'listening' && event.ready === 4) {
          port = event.port;
          clearTimeout(timer);
          resolve();
        }
      });
    });
  });

  after(() => {
    primary?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts every request once, by route pattern, on every worker\'s scrape', async () => {
    const plan: [string, string][] = [];
    for (let i = 0; i < 120; i++) plan.push([`/users/${i}`, 'GET /users/:id 200']);
    for (let i = 0; i < 30; i++) plan.push(['/health', 'GET /health 200']);
    for (let i = 0; i < 25; i++) plan.push([`/scanner/${i}.php`, 'GET <unmatched> 404']);
    for (let i = 0; i < 15; i++) plan.push(['/error', 'GET /error 500']);
    const expected = new Map<string, number>();
    for (const [, key] of plan) expected.set(key, (expected.get(key) ?? 0) + 1);

    // Several at a time, as clients do; each on its own connection.
    for (let i = 0; i < plan.length; i += 10) {
      await Promise.all(plan.slice(i, i + 10).map(([pathname]) => request(port, pathname)));
    }
    // Values are written at the end of each worker's event-loop turn; one more turn suffices.
    await new Promise((resolve) => setTimeout(resolve, 100));

    const servedBy = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const scrape = await request(port, '/metrics');
      assert.equal(scrape.status, 200);
      servedBy.add(String(scrape.headers['x-worker-pid']));
      assert.deepEqual(requestCounts(scrape.body), expected, `scrape ${i} from worker ${scrape.headers['x-worker-pid']}`);
      const histogramCounts = [...scrape.body.matchAll(/^http_request_duration_seconds_count\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
      assert.equal(histogramCounts.reduce((a, b) => a + b, 0), plan.length, 'histogram _count equals the requests');
    }
    assert.ok(servedBy.size >= 2, `scrapes should land on several workers, got ${[...servedBy].join(', ')}`);
  });

  it('keeps the totals when a worker is killed and replaced, and drops its live gauges', async () => {
    const before = requestCounts((await request(port, '/metrics')).body);
    const victim = events.find((event) => event.event === 'listening')!.pid;
    process.kill(victim, 'SIGKILL');
    await waitFor(() => events.some((event) => event.event === 'exit' && event.pid === victim), 'the worker to exit');
    await waitFor(() => events.filter((event) => event.event === 'listening').length >= 5, 'the replacement');
    for (let i = 0; i < 40; i++) await request(port, `/users/${i}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = (await request(port, '/metrics')).body;
    assert.equal(requestCounts(after).get('GET /users/:id 200'), before.get('GET /users/:id 200')! + 40);
    for (const [key, value] of before) assert.ok(requestCounts(after).get(key)! >= value, `${key} went backwards`);
    assert.match(after, /^http_requests_in_flight 0$/m);
    const { readdirSync } = await import('node:fs');
    assert.ok(!readdirSync(dir).includes(`gauge_livesum_${victim}.db`), 'the dead worker\'s live gauge file is removed');
    assert.ok(readdirSync(dir).includes(`counter_${victim}.db`), 'the dead worker\'s counts stay');
  });
});
