// Compaction against the writers and compactors it races with, in real processes: a worker
// slot refilled while its files are folded, a compactor that stalls past the lock's stale
// time, an `all` gauge of a reused identity, a SIGKILLed writer of another host (a container
// with its own hostname, made with unshare), and long folds that must let the event loop run.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Counter, FileStore, collectDirectory, compactDirectory, markProcessDead, type CompactionResult, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { lockFileName } from '../packages/prom-multiproc/src/directory/identityLock.js';
import { cleanDirectory } from '../packages/prom-multiproc/src/lifecycle/processes.js';
import { repoRoot } from './helpers/fixtures.js';
import { ensurePythonClient } from './helpers/python.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';

const PYTHON_WRITER = fileURLToPath(new URL('./helpers/pythonWriter.py', import.meta.url));
const SLOT_WRITER = fileURLToPath(new URL('./helpers/slotWriter.ts', import.meta.url));
const COMPACTOR = fileURLToPath(new URL('./helpers/compactionChild.ts', import.meta.url));
const tempDir = scratchDirectories('pm-compact-races-');
const warnings = capturedWarnings();

const children = new Set<ChildProcess>();
// A failed test leaves no process behind (its pipes would keep this one from ending).
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** A slotWriter child: `send` resolves once the command's values are in the file. */
class SlotWriter {
  private readonly child: ChildProcess;
  private readonly lines: AsyncIterator<string>;
  private readonly output: Interface;

  constructor(dir: string, command: string[] = [process.execPath]) {
    const [file, ...args] = command;
    this.child = spawn(file!, [...args, '--import', 'tsx', SLOT_WRITER, dir], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(this.child);
    this.output = createInterface({ input: this.child.stdout! });
    this.lines = this.output[Symbol.asyncIterator]();
  }

  get pid(): number {
    return this.child.pid!;
  }

  async send(command: string): Promise<void> {
    this.child.stdin!.write(`${command}\n`);
    const { value, done } = await this.lines.next();
    assert.equal(done, false, `the writer ended before answering "${command}"`);
    assert.equal(value, `ok ${command}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return exited;
  }

  async end(): Promise<void> {
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end('exit\n');
    assert.equal(await exited, 0);
  }
}

function total(families: MetricFamily[], sampleName: string): number {
  return families.flatMap((family) => family.samples).filter((sample) => sample.name === sampleName).reduce((sum, sample) => sum + sample.value, 0);
}

async function merged(dir: string): Promise<MetricFamily[]> {
  const { families, skipped } = await collectDirectory(dir);
  assert.deepEqual(skipped, []);
  return families;
}

function needsUnshare(): void {
  if (spawnSync('unshare', ['--uts', 'true']).status !== 0) {
    assert.fail('this test needs unshare --uts (util-linux, as root) to give a writer a hostname of its own');
  }
}

/** A writer command that runs node as if on another host (a container with its own hostname). */
const asHost = (host: string) => ['unshare', '--uts', 'sh', '-c', `hostname ${host} && exec "$0" "$@"`, process.execPath];

/** A Python prometheus_client writer of `dir` (helpers/pythonWriter.py), once it says it is ready. */
async function startPythonWriter(dir: string): Promise<{ writer: ChildProcess; lines: AsyncIterator<string> }> {
  const { python, env } = await ensurePythonClient();
  const writer = spawn(python, [PYTHON_WRITER], { env: { ...env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(writer);
  const lines = createInterface({ input: writer.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'ready');
  return { writer, lines };
}

/** Ends a Python writer (stdin closed; killed if it does not go), so a failed test leaves no process behind. */
async function stopPython(writer: ChildProcess): Promise<void> {
  if (writer.exitCode !== null || writer.signalCode !== null) return;
  const exited = new Promise((resolve) => writer.once('exit', resolve));
  writer.stdin!.end();
  const timer = setTimeout(() => writer.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('compaction races', () => {
  it('a slot refilled while its identity is folded never double counts nor loses counts (natural timing)', async () => {
    const dir = tempDir();
    const writer = new SlotWriter(dir);
    const trials = 200;
    const wrong: string[] = [];
    let folds = 0;
    try {
      for (let trial = 0; trial < trials; trial++) {
        const identity = `slot-${trial}`;
        await writer.send(`trial ${identity} 100`); // the worker that held the slot, now gone
        // Its replacement starts and counts 20 while a compaction folds the old one's files.
        const jitter = Math.random() * 3;
        const [, compaction] = await Promise.all([
          trial % 2 === 0 ? writer.send(`trial ${identity} 20`) : pause(jitter).then(() => writer.send(`trial ${identity} 20`)),
          trial % 2 === 0 ? pause(jitter).then(() => compactDirectory(dir, { dead: [identity], detectDeadPids: false })) : compactDirectory(dir, { dead: [identity], detectDeadPids: false }),
        ]);
        folds += compaction.folded.length;
        const counted = total(await merged(dir), 'jobs_total');
        if (counted !== 120 * (trial + 1)) wrong.push(`trial ${trial}: ${counted}, expected ${120 * (trial + 1)}`);
      }
    } finally {
      await writer.end();
    }
    assert.deepEqual(wrong, []);
    assert.ok(folds > trials / 4, `compaction folded ${folds} of ${trials} identities: the race was hardly run`);
  });

  it('a live writer\'s `all` gauge wins over the archived value of its identity', async () => {
    const dir = tempDir();
    const old = new SlotWriter(dir);
    await old.send('open 7');
    await old.send('set 500');
    await old.end();
    const { folded } = await compactDirectory(dir, { dead: ['7'], detectDeadPids: false });
    assert.deepEqual(folded, ['7']);
    const gaugeOf7 = async () => (await merged(dir)).find((family) => family.name === 'slot_value')!.samples.filter((s) => s.labels.pid === '7');
    assert.deepEqual((await gaugeOf7()).map((s) => s.value), [500], 'the archive holds the old process\'s value');

    const successor = new SlotWriter(dir);
    await successor.send('open 7');
    await successor.send('set 3');
    assert.deepEqual((await gaugeOf7()).map((s) => s.value), [3]);
    await successor.send('set 4');
    assert.deepEqual((await gaugeOf7()).map((s) => s.value), [4]);
    await successor.end();
  });

  for (const stallAt of ['read', 'committed', 'deleted'] as const) {
    it(`a compactor stalled past the lock's stale time after "${stallAt}" gives up cleanly, and nothing is counted twice`, { timeout: 90_000 }, async () => {
      const dir = tempDir();
      const dead: string[] = [];
      for (let n = 0; n < 6; n++) {
        const store = new FileStore({ dir, identity: `w${n}` });
        new Counter({ name: 'jobs_total', help: 'Jobs done', store, registers: [] }).inc(10 ** n);
        store.close();
        dead.push(`w${n}`);
      }
      let expected = 111_111;
      assert.equal(total(await merged(dir), 'jobs_total'), expected);

      // The first compactor stalls after a step (its event loop blocked for 12 s: the directory
      // lock goes stale at 10 s); a second one takes the directory over meanwhile.
      const stalled = spawn(process.execPath, ['--import', 'tsx', COMPACTOR, dir, 'none', ...dead], {
        cwd: repoRoot,
        env: { ...process.env, STALL_AT: stallAt, STALL_MS: '12000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(stalled);
      let stdout = '';
      let stderr = '';
      stalled.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      stalled.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => stalled.once('exit', resolve));
      while (!stdout.includes('stalled')) await pause(20);
      // Meanwhile another worker ends, and the second compactor is told of it too.
      const store = new FileStore({ dir, identity: 'w6' });
      new Counter({ name: 'jobs_total', help: 'Jobs done', store, registers: [] }).inc(10 ** 6);
      store.close();
      dead.push('w6');
      expected += 10 ** 6;
      const second = spawnSync(process.execPath, ['--import', 'tsx', COMPACTOR, dir, 'none', ...dead], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
      assert.equal(second.status, 0, second.stderr);
      const secondResult = JSON.parse(second.stdout) as CompactionResult;
      assert.equal(total(await merged(dir), 'jobs_total'), expected, 'while the first compactor is stalled');

      assert.equal(await exited, 0, `the stalled compactor died:\n${stderr}`);
      const firstResult = JSON.parse(stdout.slice(stdout.indexOf('{'))) as CompactionResult;
      // Past its commit, the stalled one must not act on a directory that moved on (its settle
      // used to roll the manifest back to its own generation, and every archived count vanished).
      if (stallAt !== 'read') assert.match(firstResult.interrupted ?? '', /committed/, JSON.stringify(firstResult));
      assert.equal(total(await merged(dir), 'jobs_total'), expected, 'after both compactions');
      // Each identity folded at most once, and the stalled one never held what the other folded.
      const foldedTwice = firstResult.folded.filter((identity) => secondResult.folded.includes(identity));
      assert.deepEqual(foldedTwice, []);
      assert.ok(firstResult.folded.length + secondResult.folded.length <= dead.length);
      const again = await compactDirectory(dir, { dead, detectDeadPids: false });
      assert.equal(total(await merged(dir), 'jobs_total'), expected, 'after a third compaction');
      assert.deepEqual(readdirSync(dir).filter((name) => /_w\d\.db$/.test(name)), [], `every dead identity is folded in the end (${JSON.stringify(again)})`);
    });
  }

  it('a long compaction lets the event loop run, so its lock stays fresh', async () => {
    const dir = tempDir();
    const dead: string[] = [];
    for (let n = 0; n < 1500; n++) {
      const store = new FileStore({ dir, identity: `w${n}` });
      const counter = new Counter({ name: 'jobs_total', help: 'Jobs done', labelNames: ['route'], store, registers: [] });
      for (let route = 0; route < 20; route++) counter.labels(`/r${route}`).inc(1);
      store.close();
      dead.push(`w${n}`);
    }
    let longestGap = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      const now = Date.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const startedAt = Date.now();
    try {
      await compactDirectory(dir, { dead, detectDeadPids: false });
    } finally {
      clearInterval(ticker);
    }
    const tookMs = Date.now() - startedAt;
    assert.equal(total(await merged(dir), 'jobs_total'), 1500 * 20);
    assert.ok(tookMs > 300, `the compaction took only ${tookMs} ms: too short to show anything`);
    // Without yields the loop is blocked for nearly all of the compaction; with them, for a
    // batch's steps at most (about 100 ms when the machine is idle; more when others load its
    // cores), and always well within the lock's 2 s refresh.
    assert.ok(longestGap < tookMs / 2 && longestGap < 2000, `the event loop was blocked for ${longestGap} ms during a ${tookMs} ms compaction`);
  });

  it('a SIGKILLed writer of another host is folded once its lock stays untouched; a live one is kept and reported', { timeout: 60_000 }, async () => {
    needsUnshare();
    const dir = tempDir();
    const killed = new SlotWriter(dir, asHost('web-a'));
    await killed.send('open web-a');
    await killed.send('inc 5');
    const live = new SlotWriter(dir, asHost('web-b'));
    await live.send('open web-b');
    await live.send('inc 7');
    await killed.kill('SIGKILL');

    const startedAt = Date.now();
    const [{ compaction: deadResult }, { compaction: liveResult }] = await Promise.all([
      markProcessDead('web-a', { dir, compact: true }),
      markProcessDead('web-b', { dir, compact: true }),
    ]);
    assert.deepEqual(deadResult.folded, ['web-a'], JSON.stringify(deadResult));
    assert.ok(Date.now() - startedAt < 20_000);
    assert.ok(!existsSync(path.join(dir, lockFileName('web-a'))), 'the dead writer\'s lock is gone');
    assert.deepEqual(liveResult.folded, []);
    assert.equal(liveResult.kept[0]?.identity, 'web-b');
    assert.match(liveResult.kept[0]!.reason, /touched while compaction watched it/);
    assert.ok(warnings.some((warning) => warning.includes('web-b') && warning.includes(lockFileName('web-b'))), warnings.join('\n'));
    assert.equal(total(await merged(dir), 'jobs_total'), 12);
    await live.end();
  });

  it('clean removes the lock of a SIGKILLed writer of another host once it stays untouched, and keeps a live one\'s, saying why', { timeout: 60_000 }, async () => {
    needsUnshare();
    const dir = tempDir();
    const killed = new SlotWriter(dir, asHost('web-c'));
    await killed.send('open web-c');
    const live = new SlotWriter(dir, asHost('web-d'));
    await live.send('open web-d');
    await killed.kill('SIGKILL');
    const { removed, kept } = cleanDirectory(dir);
    assert.ok(removed.includes(path.join(dir, lockFileName('web-c'))), JSON.stringify(removed));
    const liveLock = kept.find((entry) => entry.file === path.join(dir, lockFileName('web-d')));
    assert.ok(liveLock, JSON.stringify(kept));
    assert.match(liveLock.reason, /another host or container/);
    await live.end();
  });

  it('compaction warns when live writers hold no lock (Python\'s), since Python\'s collector would miscount during it', { timeout: 600_000 }, async () => {
    const dir = tempDir();
    const { writer } = await startPythonWriter(dir);
    try {
      const node = new FileStore({ dir, identity: 'node-1' });
      new Counter({ name: 'jobs_total', help: 'Jobs done', store: node, registers: [] }).inc();
      node.close();
      const before = warnings.length;
      const result = await compactDirectory(dir, { dead: ['node-1'], detectDeadPids: false });
      assert.deepEqual(result.folded, ['node-1']);
      const warned = warnings.slice(before).find((warning) => warning.includes('hold no prom-multiproc lock'));
      assert.ok(warned, warnings.slice(before).join('\n'));
      assert.ok(warned.includes(String(writer.pid)), warned);
      assert.match(warned, /scrape with prom-multiproc instead/);
    } finally {
      await stopPython(writer);
    }
  });

  it('a writer waits for a compactor that holds its identity, even one stalled past the lock\'s touch time', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const writer = new SlotWriter(dir);
    await writer.send('trial slot1 5'); // the slot's last worker, gone
    // The compactor holds slot1 and then blocks its event loop for 7 s (no touches of the lock).
    const compactor = spawn(process.execPath, ['--import', 'tsx', COMPACTOR, dir, 'none', 'slot1'], {
      cwd: repoRoot,
      env: { ...process.env, STALL_AT: 'read', STALL_MS: '7000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(compactor);
    let stdout = '';
    compactor.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => compactor.once('exit', resolve));
    while (!stdout.includes('stalled')) await pause(20);
    const startedAt = Date.now();
    await writer.send('trial slot1 7'); // the slot refilled: it must wait, not take the lock from a live compactor
    const waitedMs = Date.now() - startedAt;
    assert.equal(await exited, 0);
    await writer.end();
    assert.equal(total(await merged(dir), 'jobs_total'), 12);
    assert.ok(waitedMs > 5000, `the writer waited only ${waitedMs} ms: it took the lock from the stalled compactor`);
  });

  it('compaction told that a running lock-less writer (Python\'s) is dead keeps its file, saying why', { timeout: 600_000 }, async () => {
    const dir = tempDir();
    const { writer, lines } = await startPythonWriter(dir);
    try {
      writer.stdin!.write('inc 5\n');
      assert.equal((await lines.next()).value, 'ok 5');
      const result = await compactDirectory(dir, { dead: [String(writer.pid)], detectDeadPids: false });
      assert.deepEqual(result.folded, []);
      assert.match(result.kept[0]?.reason ?? '', new RegExp(`process ${writer.pid} is running and has the file mapped`));
      writer.stdin!.write('inc 7\n');
      assert.equal((await lines.next()).value, 'ok 12');
      const requests = (await merged(dir)).flatMap((family) => family.samples).find((sample) => sample.name === 'mixed_requests_total');
      assert.equal(requests?.value, 12);
    } finally {
      await stopPython(writer);
    }
  });
});
