// Issue: the same instrumented app under PM2 in cluster mode (2 instances, PM2 from the npm
// registry, a private PM2_HOME); across `pm2 reload` the merged totals keep increasing and the
// replaced workers' live gauges leave the merge, through the watchPm2Exits hook running as a
// PM2 app of its own.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  FileStore,
  Counter,
  Gauge,
  cleanDirectory,
  collectDirectory,
  markExitedProcessesDead,
  watchPm2Exits,
  type Pm2Api,
} from '../packages/prom-multiproc/src/index.js';
import { repoRoot } from './helpers/fixtures.js';

const pm2Cli = path.join(repoRoot, 'node_modules', 'pm2', 'bin', 'pm2');
const ecosystem = path.join(repoRoot, 'test', 'helpers', 'pm2Ecosystem.config.cjs');
const INSTANCES = 2;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** The processes (Linux) whose environment names this PM2_HOME: a daemon and its apps. */
function processesWithHome(home: string): number[] {
  const marker = `PM2_HOME=${home}`;
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** One request on its own connection, so PM2's cluster spreads them over the workers. */
function request(port: number, pathname: string): Promise<{ status: number; pid: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: pathname, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, pid: String(res.headers['x-pid']) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no response to ${pathname} in 5 s`)));
    req.on('error', reject);
  });
}

/** A request the app keeps in flight; resolves with the serving worker's pid once its headers arrive. */
function hold(port: number, id: number): { pid: Promise<string>; request: ClientRequest } {
  let request!: ClientRequest;
  const pid = new Promise<string>((resolve, reject) => {
    request = get({ host: '127.0.0.1', port, path: `/hold/${id}`, agent: false }, (res) => {
      res.on('error', () => {}); // the connection is cut on purpose
      resolve(String(res.headers['x-pid']));
    });
    request.on('error', reject);
  });
  pid.catch(() => {}); // a held request ends in an error when the test (or a kill) cuts it
  return { pid, request };
}

function sampleSum(exposition: string, name: string): number {
  let sum = 0;
  for (const match of exposition.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(match[1]);
  return sum;
}

describe('PM2 cluster mode', { timeout: 120_000 }, () => {
  let work: string;
  let dir: string;
  let port: number;
  let exporterUrl: string;
  let env: NodeJS.ProcessEnv;

  function pm2(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [pm2Cli, ...args], { env, cwd: repoRoot, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`pm2 ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  async function webPids(): Promise<string[]> {
    const list = JSON.parse(await pm2('jlist')) as { name: string; pid: number; pm2_env: { status: string } }[];
    return list.filter((app) => app.name === 'web' && app.pm2_env.status === 'online').map((app) => String(app.pid));
  }

  async function scrape(): Promise<string> {
    const response = await fetch(`${exporterUrl}/metrics`);
    assert.equal(response.status, 200);
    return response.text();
  }

  /** Sends `count` requests, 10 at a time; returns the pids that answered. */
  async function load(count: number): Promise<Set<string>> {
    const pids = new Set<string>();
    for (let i = 0; i < count; i += 10) {
      const batch = await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, j) => request(port, `/job/${i + j}`)));
      for (const response of batch) {
        assert.equal(response.status, 200);
        pids.add(response.pid);
      }
    }
    return pids;
  }

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'pm-pm2-'));
    dir = path.join(work, 'metrics');
    port = await freePort();
    const { NODE_TEST_CONTEXT: _testContext, PROMETHEUS_MULTIPROC_DIR: _other, ...inherited } = process.env;
    // A private PM2_HOME: its own daemon, never the machine's.
    env = {
      ...inherited,
      PM2_HOME: path.join(work, 'pm2'),
      PROM_MULTIPROC_DIR: dir,
      PORT: String(port),
      HOOK_READY_FILE: path.join(work, 'hook-ready.json'),
      WEB_INSTANCES: String(INSTANCES),
    };
    // What `prom-multiproc clean && pm2 start ecosystem.config.cjs` does in a deployment.
    cleanDirectory(dir);
    await pm2('start', ecosystem);
    const hook = await waitFor('the metrics hook', () =>
      existsSync(env.HOOK_READY_FILE!) ? (JSON.parse(readFileSync(env.HOOK_READY_FILE!, 'utf8')) as { url: string }) : undefined,
    );
    exporterUrl = hook.url;
    await waitFor('both web instances online', async () => ((await webPids()).length === INSTANCES ? true : undefined));
    await waitFor('the web port', () => request(port, '/job/0').then(() => true, () => undefined));
  });

  after(async () => {
    try {
      if (env !== undefined) await pm2('kill');
    } finally {
      // A PM2 command that finds no daemon starts one, detached: whatever a failed run left
      // behind is found by the private PM2_HOME in its environment, and ended.
      for (const pid of env === undefined ? [] : processesWithHome(env.PM2_HOME!)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      rmSync(work, { recursive: true, force: true });
    }
  }, { timeout: 60_000 });

  it('keeps counting through `pm2 reload`, and removes the replaced workers\' live gauges', async (t) => {
    const oldPids = await webPids();
    const before = await scrape();
    const sentBefore = sampleSum(before, 'http_requests_total'); // the readiness probes

    const servedBy = await load(100);
    assert.deepEqual([...servedBy].sort(), [...oldPids].sort(), 'both instances served requests');
    await sleep(100); // one event-loop turn of each worker writes its values
    assert.equal(sampleSum(await scrape(), 'http_requests_total'), sentBefore + 100);
    for (const pid of oldPids) assert.ok(existsSync(path.join(dir, `gauge_livesum_${pid}.db`)), `worker ${pid} has a live gauge file`);

    // Requests keep coming while PM2 replaces the workers one by one. Now and then one of them
    // gets no answer: Node's cluster primary (PM2's daemon) can hand a connection to a worker
    // that is exiting. Such a request was never served, so it must not be counted either.
    let reloading = true;
    const reload = pm2('reload', 'web').finally(() => (reloading = false));
    let duringReload = 0;
    const failedDuringReload: string[] = [];
    while (reloading && duringReload < 5_000) {
      const results = await Promise.allSettled(Array.from({ length: 5 }, (_, j) => request(port, `/job/${duringReload + j}`)));
      for (const result of results) {
        if (result.status === 'fulfilled' && result.value.status === 200) duringReload++;
        else failedDuringReload.push(result.status === 'rejected' ? String((result.reason as Error).message) : `status ${result.value.status}`);
      }
    }
    await reload;
    t.diagnostic(`${duringReload} requests answered during the reload, ${failedDuringReload.length} failed ${failedDuringReload.join('; ')}`);

    const newPids = await webPids();
    assert.equal(newPids.length, INSTANCES);
    assert.deepEqual(newPids.filter((pid) => oldPids.includes(pid)), [], 'every worker was replaced');
    const servedAfter = await load(100);
    assert.deepEqual([...servedAfter].sort(), [...newPids].sort(), 'only the new instances serve');
    await sleep(100);

    const total = sentBefore + 100 + duringReload + 100;
    const afterReload = await scrape();
    assert.equal(sampleSum(afterReload, 'http_requests_total'), total, `${failedDuringReload.length} requests failed during the reload`);
    assert.equal(sampleSum(afterReload, 'http_request_duration_seconds_count'), total);

    // The hook marks a worker dead on PM2's exit event, which can come a moment after reload returns.
    await waitFor('the replaced workers\' live gauge files to go', () =>
      oldPids.every((pid) => !existsSync(path.join(dir, `gauge_livesum_${pid}.db`))) ? true : undefined,
    );
    const files = readdirSync(dir);
    for (const pid of oldPids) {
      assert.ok(files.includes(`counter_${pid}.db`), `the counts of replaced worker ${pid} stay`);
      assert.ok(files.includes(`histogram_${pid}.db`), `the latencies of replaced worker ${pid} stay`);
    }
    for (const pid of newPids) assert.ok(files.includes(`gauge_livesum_${pid}.db`), `new worker ${pid} has its live gauge`);
    assert.equal(sampleSum(await scrape(), 'http_requests_in_flight'), 0);
  });

  it('drops the in-flight requests of a worker that crashed, once PM2 has restarted it', async () => {
    const pids = await webPids();
    // Held requests until every worker has one in flight (round robin gives them out in turn).
    const held: ReturnType<typeof hold>[] = [];
    const holders = new Set<string>();
    while (holders.size < pids.length && held.length < 20) {
      const next = hold(port, held.length);
      held.push(next);
      holders.add(await next.pid);
    }
    try {
      await sleep(100);
      assert.equal(sampleSum(await scrape(), 'http_requests_in_flight'), held.length);
      const victim = pids[0]!;
      const victimHeld = (await Promise.all(held.map((h) => h.pid))).filter((pid) => pid === victim).length;
      const totalBefore = sampleSum(await scrape(), 'http_requests_total');

      process.kill(Number(victim), 'SIGKILL');
      await waitFor('PM2 to restart the killed worker', async () => {
        const current = await webPids();
        return current.length === INSTANCES && !current.includes(victim) ? true : undefined;
      });
      await waitFor('the killed worker\'s live gauge file to go', () =>
        existsSync(path.join(dir, `gauge_livesum_${victim}.db`)) ? undefined : true,
      );
      assert.equal(sampleSum(await scrape(), 'http_requests_in_flight'), held.length - victimHeld, 'its held requests left the in-flight gauge');
      // Its requests never completed, so they were never counted; the others' counts stand.
      assert.equal(sampleSum(await scrape(), 'http_requests_total'), totalBefore);
      assert.ok(readdirSync(dir).includes(`counter_${victim}.db`));
    } finally {
      for (const { request } of held) request.destroy();
    }
  });
});

// The identity NODE_APP_INSTANCE: `pm2 reload` starts an instance's new process while the old
// one still writes that identity. The new one waits for PM2 to stop the old one (after
// listen_timeout), rather than failing and being restarted over and over.
describe('PM2 cluster mode with NODE_APP_INSTANCE as the identity', { timeout: 120_000 }, () => {
  let work: string;
  let dir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;

  function pm2(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [pm2Cli, ...args], { env, cwd: repoRoot, timeout: 60_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`pm2 ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  async function webInstances(): Promise<{ pid: number; status: string; restarts: number }[]> {
    const list = JSON.parse(await pm2('jlist')) as { name: string; pid: number; pm2_env: { status: string; restart_time: number } }[];
    return list.filter((app) => app.name === 'web').map((app) => ({ pid: app.pid, status: app.pm2_env.status, restarts: app.pm2_env.restart_time }));
  }

  async function requestsCounted(): Promise<number> {
    const { families } = await collectDirectory(dir);
    return families.find((family) => family.name === 'http_requests')?.samples.reduce((sum, sample) => sum + sample.value, 0) ?? 0;
  }

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'pm-pm2-instance-'));
    dir = path.join(work, 'metrics');
    port = await freePort();
    const { NODE_TEST_CONTEXT: _testContext, PROMETHEUS_MULTIPROC_DIR: _other, ...inherited } = process.env;
    env = { ...inherited, PM2_HOME: path.join(work, 'pm2'), PROM_MULTIPROC_DIR: dir, PORT: String(port), WEB_INSTANCES: String(INSTANCES), IDENTITY: 'instance' };
    cleanDirectory(dir);
    await pm2('start', ecosystem, '--only', 'web');
    await waitFor('both web instances online', async () => ((await webInstances()).filter((app) => app.status === 'online').length === INSTANCES ? true : undefined));
    await waitFor('the web port', () => request(port, '/job/0').then(() => true, () => undefined));
  });

  after(async () => {
    try {
      if (env !== undefined) await pm2('kill');
    } finally {
      for (const pid of env === undefined ? [] : processesWithHome(env.PM2_HOME!)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      rmSync(work, { recursive: true, force: true });
    }
  }, { timeout: 60_000 });

  it('replaces every instance once on `pm2 reload`, and the counts go on in one set of files per instance', async () => {
    const before = await webInstances();
    for (let i = 0; i < 20; i++) assert.equal((await request(port, `/job/${i}`)).status, 200);
    await sleep(100);
    const countedBefore = await requestsCounted();

    await pm2('reload', 'web');
    await waitFor('both new instances online and listening', async () => {
      const now = await webInstances();
      const replaced = now.filter((app) => app.status === 'online' && !before.some((old) => old.pid === app.pid));
      return replaced.length === INSTANCES && (await request(port, '/job/0').then(() => true, () => false)) ? true : undefined;
    });
    const after = await webInstances();
    assert.deepEqual(after.map((app) => app.restarts), before.map((app) => app.restarts + 1), 'each instance started once, not in a crash loop');

    for (let i = 0; i < 20; i++) assert.equal((await request(port, `/job/${i}`)).status, 200);
    await sleep(100);
    // The probe of the port above was served too, by a new instance.
    assert.equal(await requestsCounted(), countedBefore + 1 + 20);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('counter_')).sort(), ['counter_0.db', 'counter_1.db']);
  });
});

describe('watchPm2Exits without PM2', () => {
  let dir: string;
  // A pid that ran and exited (its parent, this process, has reaped it).
  const exitedPid = String(spawnSync(process.execPath, ['-e', '']).pid);

  function writeProcess(identity: string): void {
    const store = new FileStore({ dir, identity });
    new Counter({ name: 'jobs_total', help: 'Jobs', store, registers: [] }).inc();
    new Gauge({ name: 'busy', help: 'Busy', multiprocessMode: 'livesum', store, registers: [] }).set(1);
    new Gauge({ name: 'peak', help: 'Peak', multiprocessMode: 'max', store, registers: [] }).set(1);
    store.close();
  }

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pm-pm2-sweep-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('marks dead only the pids that no longer run, and keeps their counts', () => {
    cleanDirectory(dir);
    writeProcess(String(process.pid));
    writeProcess(exitedPid);
    writeProcess(`${exitedPid}-t1`); // a worker thread of the exited process
    writeProcess(`${process.pid}-t1`);
    writeProcess('web-a'); // not a pid: left alone
    assert.deepEqual(markExitedProcessesDead(dir).sort(), [
      path.join(dir, `gauge_livesum_${exitedPid}-t1.db`),
      path.join(dir, `gauge_livesum_${exitedPid}.db`),
    ]);
    const files = readdirSync(dir);
    assert.ok(files.includes(`gauge_livesum_${process.pid}.db`));
    assert.ok(files.includes(`gauge_livesum_${process.pid}-t1.db`));
    assert.ok(files.includes('gauge_livesum_web-a.db'));
    assert.ok(files.includes(`counter_${exitedPid}.db`));
    assert.ok(files.includes(`gauge_max_${exitedPid}.db`), 'non-live gauges stay, as with markProcessDead');
    assert.deepEqual(markExitedProcessesDead(dir), []);
  });

  it('sweeps when connected and on every exit event of the bus', async () => {
    cleanDirectory(dir);
    writeProcess(exitedPid);
    const bus = new EventEmitter();
    let disconnected = false;
    const fakePm2: Pm2Api = {
      launchBus: (callback) => setImmediate(() => callback(null, bus)),
      disconnectBus: (callback) => {
        disconnected = true;
        callback?.();
      },
    };
    const removed: string[][] = [];
    const watch = await watchPm2Exits(fakePm2, { dir, sweepIntervalMs: 0, onRemoved: (files) => removed.push(files) });
    assert.deepEqual(removed, [[path.join(dir, `gauge_livesum_${exitedPid}.db`)]], 'the sweep at start');

    writeProcess(exitedPid); // as if it had come back: a file to find on the next event
    bus.emit('process:event', { event: 'online', process: { name: 'web', pm_id: 0 } });
    assert.equal(removed.length, 1, 'only exits trigger a sweep');
    bus.emit('process:event', { event: 'exit', process: { name: 'web', pm_id: '_old_0' } });
    assert.equal(removed.length, 2);
    assert.ok(!existsSync(path.join(dir, `gauge_livesum_${exitedPid}.db`)));
    await watch.close();
    assert.ok(disconnected);
  });
});
