// Node and Python writers in one directory, as real processes: Python's prometheus_client in
// multiprocess mode (tools/ensure-python-client.mjs makes it importable) holds no lock, so
// `clean` and setupClusterMetrics must tell its live files from stale ones by its pid: a
// running process that has the file mapped (or, where its mappings cannot be read, that
// started before the file). Run while both write, `prom-multiproc clean` keeps both writers' files (every count reaches the merge) and removes the files of a dead
// pid and of a pid now held by a process started after the file.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Cluster } from 'node:cluster';
import { existsSync, renameSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, FileStore, cleanDirectory, collectDirectory, setupClusterMetrics } from '../packages/prom-multiproc/src/index.js';
import { repoRoot } from './helpers/fixtures.js';
import { ensurePythonClient, type PythonClient } from './helpers/python.js';
import { scratchDirectories } from './helpers/scratch.js';

const tempDir = scratchDirectories('prom-multiproc-mixed-');
const ANSWER_TIMEOUT_MS = 20_000;
// A process's start time is known to the clock tick, but boot time only to the second, and
// clean allows a second more for clock steps: a pid's new holder must start well after the file.
const REUSED_AFTER_MS = 2500;

/** The environment without the directory variables, plus `extra`. */
function environment(base: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...base, ...extra };
  for (const name of ['PROM_MULTIPROC_DIR', 'PROMETHEUS_MULTIPROC_DIR', 'PROM_MULTIPROC_IDENTITY']) if (!(name in extra)) delete env[name];
  return env;
}

interface Writer {
  pid: number;
  /** What it acknowledged as written. */
  total: number;
  inc(amount: number): Promise<void>;
  /** Closes its stdin; it exits, writing its last values. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

async function startWriter(what: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<Writer> {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    running.delete(child);
    resolve(code);
  }));
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => waiting.shift()?.(line));
  const nextLine = (about: string): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} sent no line ${about} within ${ANSWER_TIMEOUT_MS} ms; stderr: ${stderr}`)), ANSWER_TIMEOUT_MS);
    waiting.push((line) => {
      clearTimeout(timer);
      resolve(line);
    });
    void exited.then((code) => reject(new Error(`${what} exited with ${code} ${about}; stderr: ${stderr}`)));
  });
  assert.equal(await nextLine('at start'), 'ready');
  const writer: Writer = {
    pid: child.pid!,
    total: 0,
    async inc(amount) {
      child.stdin!.write(`inc ${amount}\n`);
      const answer = await nextLine(`after inc ${amount}`);
      assert.equal(answer, `ok ${writer.total + amount}`);
      writer.total += amount;
    },
    async stop() {
      child.stdin!.end();
      assert.equal(await exited, 0, `${what} exit code; stderr: ${stderr}`);
    },
  };
  return writer;
}

let python: PythonClient;

function startPythonWriter(dir: string): Promise<Writer> {
  const script = path.join(repoRoot, 'test', 'helpers', 'pythonWriter.py');
  return startWriter('the Python writer', python.python, [script], environment(python.env, { PROMETHEUS_MULTIPROC_DIR: dir }));
}

function startNodeWriter(dir: string): Promise<Writer> {
  const script = path.join(repoRoot, 'test', 'helpers', 'mixedNodeWriter.ts');
  return startWriter('the Node writer', process.execPath, ['--import', 'tsx', script], environment(process.env, { PROM_MULTIPROC_DIR: dir }));
}

/** A file a writer of `identity` left with `count` requests in it. */
function writeLeftover(dir: string, identity: string, count: number): string {
  const store = new FileStore({ dir, identity });
  new Counter({ name: 'mixed_requests', help: 'Requests served.', store, registers: [] }).inc(count);
  store.close();
  return path.join(dir, `counter_${identity}.db`);
}

async function mergedRequests(dir: string): Promise<number | undefined> {
  const { families, skipped } = await collectDirectory(dir);
  assert.deepEqual(skipped, []);
  return families.find((family) => family.name === 'mixed_requests')?.samples.find((sample) => sample.name === 'mixed_requests_total')?.value;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: environment(process.env) }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      if (typeof code !== 'number') reject(error ?? new Error('no exit code'));
      else resolve({ code, stdout, stderr });
    });
  });
}

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

describe('a directory shared by live Python and Node writers', { timeout: 120_000 }, () => {
  before(async () => {
    python = await ensurePythonClient();
  });

  it('prom-multiproc clean run during their traffic keeps both writers\' files, removes stale ones, and the totals are exact', async (t) => {
    const dir = tempDir();
    const dead = deadPid();
    const deadFile = writeLeftover(dir, String(dead), 1000);
    const older = writeLeftover(dir, 'older', 500);
    const olderWrittenAt = Date.now();
    const [pythonWriter, nodeWriter] = await Promise.all([startPythonWriter(dir), startNodeWriter(dir)]);
    await sleep(Math.max(0, olderWrittenAt + REUSED_AFTER_MS - Date.now()));
    // A process given the pid of a writer that died: it started after that writer's file.
    const reuser = spawn('sleep', ['600'], { stdio: 'ignore' });
    running.add(reuser);
    const reusedFile = path.join(dir, `counter_${reuser.pid}.db`);
    renameSync(older, reusedFile);

    let cleaned = false;
    let roundsAfter = 0;
    const traffic = (async () => {
      for (let round = 1; !cleaned || roundsAfter++ < 20; round++) {
        await Promise.all([pythonWriter.inc(round % 3 + 1), nodeWriter.inc(round % 2 + 1)]);
      }
    })();
    const cleanStarted = Date.now();
    const run = await cli(['clean', '--dir', dir]);
    const cleanMs = Date.now() - cleanStarted;
    cleaned = true;
    await traffic;
    await Promise.all([pythonWriter.stop(), nodeWriter.stop()]);
    reuser.kill('SIGKILL');

    assert.equal(run.code, 0, run.stderr);
    const kept = run.stdout.split('\n').filter((line) => line.startsWith('kept '));
    assert.equal(kept.length, 2, run.stdout);
    const pythonFile = path.join(dir, `counter_${pythonWriter.pid}.db`);
    const nodeFile = path.join(dir, `counter_${nodeWriter.pid}.db`);
    assert.match(run.stdout, new RegExp(`^kept ${escaped(pythonFile)}: process ${pythonWriter.pid} is running and has the file mapped`, 'm'));
    assert.match(run.stdout, new RegExp(`^kept ${escaped(nodeFile)}: a live writer holds its lock`, 'm'));
    assert.ok(!existsSync(deadFile), 'the file of a dead pid is removed');
    assert.ok(!existsSync(reusedFile), 'the file of a pid whose process started after it is removed');
    assert.ok(pythonWriter.total > 0 && nodeWriter.total > 0);
    assert.equal(await mergedRequests(dir), pythonWriter.total + nodeWriter.total);
    t.diagnostic(`${pythonWriter.total} requests counted by Python, ${nodeWriter.total} by Node, clean ran for ${cleanMs} ms among them; merged exactly`);
  });

  it('setupClusterMetrics({ clean: false }) leaves the directory alone; by default it keeps a live Python writer\'s file', async () => {
    const dir = tempDir();
    const stale = writeLeftover(dir, String(deadPid()), 1000);
    const pythonWriter = await startPythonWriter(dir);
    const pythonFile = path.join(dir, `counter_${pythonWriter.pid}.db`);
    const cluster = new EventEmitter() as unknown as Cluster;
    const environmentBefore = process.env.PROM_MULTIPROC_DIR;
    try {
      setupClusterMetrics({ dir, cluster, clean: false })();
      assert.ok(existsSync(stale) && existsSync(pythonFile), 'nothing removed');
      await pythonWriter.inc(5);
      assert.equal(await mergedRequests(dir), 1005);

      setupClusterMetrics({ dir, cluster })();
      assert.ok(!existsSync(stale), 'the stale file is removed');
      assert.ok(existsSync(pythonFile), 'the live Python writer\'s file is kept');
      await pythonWriter.inc(2);
      await pythonWriter.stop();
      assert.equal(await mergedRequests(dir), 7);
    } finally {
      if (environmentBefore === undefined) delete process.env.PROM_MULTIPROC_DIR;
      else process.env.PROM_MULTIPROC_DIR = environmentBefore;
    }
  });

  it('cleanDirectory says what it kept and why', async () => {
    const dir = tempDir();
    const pythonWriter = await startPythonWriter(dir);
    const { removed, kept } = cleanDirectory(dir);
    await pythonWriter.stop();
    assert.deepEqual(removed, []);
    assert.deepEqual(kept.map(({ file }) => file), [path.join(dir, `counter_${pythonWriter.pid}.db`)]);
    assert.match(kept[0]!.reason, new RegExp(`^process ${pythonWriter.pid} is running and has the file mapped`));
  });
});
