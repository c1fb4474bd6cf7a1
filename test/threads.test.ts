// Worker threads: each writes files of its own identity (<pid>-t<threadId>), the values it
// recorded are in them however it ends, and a thread marked dead takes its live gauges (and
// its identity lock) along while its counts stay. Real processes, each with a pool of real
// threads that are terminated, crash, exit and get replaced.
import assert from 'node:assert/strict';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory, markThreadDead, Counter, FileStore, Gauge, type MetricFamily } from '../packages/prom-multiproc/src/index.js';
import { parseFileName } from '../packages/prom-multiproc/src/format/fileNames.js';
import { lockFileName } from '../packages/prom-multiproc/src/directory/identityLock.js';
import { repoRoot } from './helpers/fixtures.js';
import { POOL_SIZE, TASKS_PER_PROCESS, taskPlan, type FromPool, type ToPool } from './helpers/threadProtocol.js';

const POOL = fileURLToPath(new URL('./helpers/threadPool.ts', import.meta.url));
const HARNESS = new URL('./helpers/threadHarness.ts', import.meta.url).href;
const ENTRY = new URL('../packages/prom-multiproc/src/index.ts', import.meta.url).href;
const PROCESSES = 3;
const STEP_TIMEOUT_MS = 60_000;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-threads-'));
  dirs.push(dir);
  return dir;
}

function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.PROM_MULTIPROC_DIR;
  delete env.PROMETHEUS_MULTIPROC_DIR;
  delete env.PROM_MULTIPROC_IDENTITY;
  return { ...env, ...extra };
}

/** Runs `code` (ESM, with `lib`, `harness` and `dir` in scope) in a fresh process; returns its stdout. */
function runScript(code: string, env: NodeJS.ProcessEnv): string {
  const script = `import * as lib from ${JSON.stringify(ENTRY)};\nimport * as harness from ${JSON.stringify(HARNESS)};\n${code}`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: cleanEnv(env),
    timeout: STEP_TIMEOUT_MS,
  });
  assert.equal(result.status, 0, `script failed:\n${result.stderr}`);
  return result.stdout;
}

function sumOf(families: MetricFamily[], sampleName: string, labels: Record<string, string> = {}): number {
  return families
    .flatMap((family) => family.samples)
    .filter((sample) => sample.name === sampleName && Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
    .reduce((total, sample) => total + sample.value, 0);
}

function pidsOf(families: MetricFamily[], sampleName: string): string[] {
  return families.flatMap((family) => family.samples).filter((sample) => sample.name === sampleName).map((sample) => sample.labels.pid!).sort();
}

/** A message of `type` from a child process, or a failure with its stderr. */
function nextMessage<T extends FromPool['type']>(child: ChildProcess, type: T): Promise<Extract<FromPool, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" from pool process ${child.pid} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    const onMessage = (message: FromPool): void => {
      if (message.type === 'failed') reject(new Error(`pool process ${child.pid} failed: ${message.error}`));
      else if (message.type !== type) return;
      else resolve(message as Extract<FromPool, { type: T }>);
      clearTimeout(timer);
      child.off('message', onMessage);
    };
    child.on('message', onMessage);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`pool process ${child.pid} exited (${code ?? signal}) before "${type}"`));
    });
  });
}

describe('worker threads', { timeout: 240_000 }, () => {
  it('name their files <pid>-t<threadId>; the main thread keeps the plain pid', () => {
    const dir = tempDir();
    const out = runScript(
      `const c = new lib.Counter({ name: 'c', help: 'h' }); c.inc(1);
       const w = harness.startTsWorker(new URL(${JSON.stringify(new URL('./helpers/threadIncrement.ts', import.meta.url).href)}), { workerData: 5 });
       const { threadId } = w; await harness.exitOf(w);
       process.stdout.write(JSON.stringify({ pid: process.pid, threadId }));`,
      { PROM_MULTIPROC_DIR: dir },
    );
    const { pid, threadId } = JSON.parse(out) as { pid: number; threadId: number };
    // Python's collector splits a name on '_': the thread identity must come out whole.
    const names = readdirSync(dir).sort();
    assert.deepEqual(names, [`counter_${pid}-t${threadId}.db`, `counter_${pid}.db`, `gauge_liveall_${pid}-t${threadId}.db`].sort());
    for (const name of names) {
      const parts = name.slice(0, -'.db'.length).split('_');
      assert.match(parts.at(-1)!, new RegExp(`^${pid}(-t${threadId})?$`));
      assert.equal(parseFileName(name)?.id, parts.at(-1));
    }
  });

  it('append -t<threadId> to a configured identity (environment or configure), and take a function\'s result as it is', () => {
    const dir = tempDir();
    const increment = JSON.stringify(new URL('./helpers/threadIncrement.ts', import.meta.url).href);
    const out = runScript(
      `new lib.Counter({ name: 'c', help: 'h' }).inc();
       const fromEnv = harness.startTsWorker(new URL(${increment}), { workerData: 1 });
       const envId = fromEnv.threadId; await harness.exitOf(fromEnv);
       const byFunction = harness.startTsWorker(new URL(${increment}), { workerData: 1, env: { ...process.env, USE_FUNCTION: 'slot7' } });
       await harness.exitOf(byFunction);
       process.stdout.write(JSON.stringify({ envId }));`,
      { PROM_MULTIPROC_DIR: dir, PROM_MULTIPROC_IDENTITY: 'web3' },
    );
    const { envId } = JSON.parse(out) as { envId: number };
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith('counter_')).sort(),
      ['counter_slot7.db', `counter_web3-t${envId}.db`, 'counter_web3.db'].sort(),
    );
  });

  it(`in ${PROCESSES} processes with pools of ${POOL_SIZE} threads, terminated, crashed and replaced: exact totals, well-formed files, no live gauge of an ended thread`, async () => {
    const dir = tempDir();
    const children = Array.from({ length: PROCESSES }, () =>
      fork(POOL, [], { cwd: repoRoot, execArgv: ['--import', 'tsx'], env: cleanEnv({ PROM_MULTIPROC_DIR: dir }), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    try {
      const paused = await Promise.all(children.map((child) => nextMessage(child, 'paused')));

      // Midway: every ended thread is gone from the live gauges; every live one is there.
      const ended = paused.flatMap((report) => report.ended);
      const live = paused.flatMap((report) => report.live);
      const expectedEndings = Array.from({ length: TASKS_PER_PROCESS }, (_, i) => taskPlan(i).then).filter((then) => then !== undefined);
      assert.equal(ended.length, PROCESSES * expectedEndings.length, 'every planned ending happened');
      for (const how of ['terminate', 'throw', 'exit'] as const) assert.ok(ended.some((end) => end.how === how), `no thread ended by ${how}`);
      for (const { pid, live: liveIds, ended: endedIds } of paused) {
        for (const identity of [...liveIds, ...endedIds.map((end) => end.identity)]) assert.match(identity, new RegExp(`^${pid}-t\\d+$`));
      }
      const midway = await collectDirectory(dir);
      assert.deepEqual(midway.skipped, []);
      assert.deepEqual(pidsOf(midway.families, 'pool_thread_up'), [...live].sort());
      assert.equal(sumOf(midway.families, 'pool_threads_busy'), 0);
      const names = readdirSync(dir);
      for (const { identity } of ended) {
        assert.ok(!names.includes(lockFileName(identity)), `the lock of ended thread ${identity} is left`);
        assert.ok(names.includes(`counter_${identity}.db`), `the counts of ended thread ${identity} are gone`);
      }
      for (const identity of live) assert.ok(names.includes(lockFileName(identity)), `live thread ${identity} holds no lock`);

      for (const child of children) child.send({ type: 'finish' } satisfies ToPool);
      const finished = await Promise.all(children.map((child) => nextMessage(child, 'finished')));
      await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
      children.forEach((child) => assert.equal(child.exitCode, 0));

      const final = await collectDirectory(dir);
      assert.deepEqual(final.skipped, []);
      const tasks = finished.reduce((total, report) => total + report.tasks, 0);
      const events = finished.reduce((total, report) => total + report.events, 0);
      const lastWords = finished.reduce((total, report) => total + report.lastWords, 0);
      assert.equal(sumOf(final.families, 'pool_tasks_dispatched_total'), tasks);
      assert.equal(sumOf(final.families, 'pool_task_events_count'), tasks, 'every task observed once, terminated threads included');
      assert.equal(sumOf(final.families, 'pool_events_total', { kind: 'even' }) + sumOf(final.families, 'pool_events_total', { kind: 'odd' }), events);
      assert.equal(sumOf(final.families, 'pool_events_total', { kind: 'last' }), lastWords, 'what a thread recorded in the turn it ended in');
      assert.deepEqual(pidsOf(final.families, 'pool_thread_up'), [], 'all threads ended and were marked dead');
      assert.deepEqual(pidsOf(final.families, 'pool_process_up'), finished.map((report) => String(report.pid)).sort());

      // Nothing but metrics files is left: no lock of anyone (all ended), no temporary file.
      const pids = new Set(finished.map((report) => String(report.pid)));
      for (const name of readdirSync(dir)) {
        const parsed = parseFileName(name);
        assert.ok(parsed !== undefined, `unexpected file ${name}`);
        assert.ok(pids.has(parsed.id.replace(/-t\d+$/, '')), `${name} belongs to no pool process`);
      }
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('markThreadDead removes the thread\'s live gauges and keeps its counts (and a live holder\'s lock)', () => {
    const dir = tempDir();
    const identity = `${process.pid}-t4242`;
    const store = new FileStore({ dir, identity });
    new Counter({ name: 'kept_total', help: 'h', store, registers: [] }).inc(3);
    new Gauge({ name: 'live', help: 'h', multiprocessMode: 'livesum', store, registers: [] }).set(1);
    new Gauge({ name: 'stays', help: 'h', multiprocessMode: 'max', store, registers: [] }).set(1);
    store.flush();
    const removed = markThreadDead(4242, { dir });
    assert.deepEqual(removed, [path.join(dir, `gauge_livesum_${identity}.db`)]);
    // The store is open in this very thread, so its lock is a live writer's and stays (the
    // pool test above checks that the locks of threads that really ended go).
    assert.deepEqual(readdirSync(dir).sort(), [lockFileName(identity), `counter_${identity}.db`, `gauge_max_${identity}.db`].sort());
    assert.throws(() => markThreadDead(-1, { dir }), /worker\.threadId before the thread exits/);
    store.close();
    assert.deepEqual(readdirSync(dir).sort(), [`counter_${identity}.db`, `gauge_max_${identity}.db`]);
  });
});
