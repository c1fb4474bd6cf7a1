// Issue "write path under faults": a worker whose directory fills up, stops accepting writes,
// disappears, is cleaned, or has its file replaced keeps running; inc() never throws; each
// fault is reported once (not per retry); and once the fault is gone the file holds every
// value the worker has, without a restart.
//
// The faults are real, not mocked: a 1 MiB tmpfs filled to the last byte (ENOSPC), the files
// made immutable with chattr +i (EPERM on every write: what a file system remounted read-only
// after an error looks like to a writer; a read-only bind mount cannot be applied under open
// writers), rm -rf of the directory, `cleanDirectory` (which must keep a live worker's file),
// and a rename over the worker's file.
// The tmpfs and chattr cases need root (CAP_SYS_ADMIN, CAP_LINUX_IMMUTABLE) and are skipped,
// saying so, where those are not available.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it, type TestContext } from 'node:test';
import { Counter, FileStore, cleanDirectory, collectDirectory } from '../packages/prom-multiproc/src/index.js';
import { compiledHelper } from './helpers/stressBuild.js';
import { fileSeriesTotal } from './helpers/stressRun.js';

const dirs: string[] = [];
const mounts: string[] = [];
const workers = new Set<ChildProcess>();
after(() => {
  for (const child of workers) child.kill('SIGKILL');
  for (const mount of mounts) spawnSync('umount', ['-l', mount]);
  for (const dir of dirs) {
    spawnSync('chattr', ['-R', '-i', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-faults-'));
  dirs.push(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `predicate`; fails at once if a worker it depends on has died meanwhile. */
async function waitFor(what: string, predicate: () => boolean, worker?: FaultWorker, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (worker?.died !== undefined) throw new Error(`the worker died while waiting for ${what}: ${worker.died}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface FaultWorker {
  child: ChildProcess;
  total: number;
  ticks: number;
  warnings: string[];
  threw: string[];
  /** Set when the worker exited without being stopped: how, and its stderr. */
  died: string | undefined;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops it with SIGTERM (a normal exit: the last turn is written) and checks how it ended. */
  stop(): Promise<void>;
}

function startWorker(dir: string, ...options: string[]): FaultWorker {
  const child = spawn(process.execPath, [compiledHelper('stressFaultWorker'), ...options], {
    env: { ...process.env, PROM_MULTIPROC_DIR: dir, PROMETHEUS_MULTIPROC_DIR: '', PROM_MULTIPROC_IDENTITY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout! });
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) worker.died = `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(0, 3).join(' | ')}`;
  });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  const worker: FaultWorker = {
    child,
    total: 0,
    ticks: 0,
    warnings: [],
    threw: [],
    died: undefined,
    ended: new Promise((resolve) => child.once('exit', (code, signal) => void closed.then(() => resolve({ code, signal })))),
    async stop() {
      stopping = true;
      child.kill('SIGTERM');
      assert.deepEqual(await worker.ended, { code: 0, signal: null }, stderr);
      workers.delete(child);
    },
  };
  lines.on('line', (line) => {
    const [word, first, , third] = line.split(' ');
    if (word === 'tick') {
      worker.ticks = Number(first);
      worker.total = Number(third);
    } else if (word === 'final') worker.total = Number(first);
    else if (word === 'warning') worker.warnings.push(JSON.parse(line.slice('warning '.length)) as string);
    else if (word === 'threw') worker.threw.push(line);
  });
  return worker;
}

const counterFileOf = (dir: string) => path.join(dir, 'counter_faulty.db');
const onDisk = (dir: string) => fileSeriesTotal(counterFileOf(dir), 'fault_events_total');

function warningsAbout(worker: FaultWorker, pattern: RegExp): string[] {
  return worker.warnings.filter((warning) => pattern.test(warning));
}

/** The end of every fault: the worker caught up while running, and holds everything after a normal exit. */
async function expectRecovered(worker: FaultWorker, dir: string): Promise<void> {
  const fixedAt = worker.total;
  await waitFor(`the file to catch up with the ${fixedAt} events recorded when the fault went away`, () => onDisk(dir) >= fixedAt, worker);
  await worker.stop();
  assert.equal(onDisk(dir), worker.total, 'every event the worker recorded is in its file');
  assert.deepEqual(worker.threw, [], 'inc() never threw');
}

function canMountTmpfs(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = tempDir();
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status !== 0) return false;
  spawnSync('umount', [probe]);
  return true;
}

function canMakeImmutable(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = path.join(tempDir(), 'probe');
  writeFileSync(probe, '');
  if (spawnSync('chattr', ['+i', probe]).status !== 0) return false;
  spawnSync('chattr', ['-i', probe]);
  return true;
}

function smallDisk(): string {
  const dir = tempDir();
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir]);
  assert.equal(mounted.status, 0, String(mounted.stderr));
  mounts.push(dir);
  return dir;
}

/** Writes a filler file until the file system says ENOSPC; returns its path. */
function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'a');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  return filler;
}

function unmount(dir: string): void {
  spawnSync('umount', [dir]);
  mounts.splice(mounts.indexOf(dir), 1);
}

const tmpfs = canMountTmpfs();
const immutable = canMakeImmutable();
const needsTmpfs = tmpfs ? {} : { skip: 'mounting a tmpfs needs root on Linux (the full-disk cases use a 1 MiB tmpfs)' };
const needsChattr = immutable ? {} : { skip: 'chattr +i needs root and a file system with the immutable flag (ext4, xfs, btrfs)' };

describe('the write path under faults', { timeout: 120_000 }, () => {
  it('a disk already full when the worker starts: counted in memory, reported once, written when space is freed', needsTmpfs, async () => {
    const dir = smallDisk();
    const filler = fillDisk(dir);
    const worker = startWorker(dir);
    await waitFor('40 ticks on a full disk', () => worker.ticks >= 40, worker);
    assert.equal(onDisk(dir), 0, 'nothing could be written');
    const skipped = (await collectDirectory(dir)).skipped;
    assert.ok(skipped.every((file) => /empty/.test(file.reason)), 'a scrape meanwhile skips the empty file, and works');
    assert.equal(warningsAbout(worker, /could not write .*counter_faulty\.db.*ENOSPC/).length, 1, worker.warnings.join('\n'));
    rmSync(filler);
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /could not write/).length, 1, 'reported once, not once per retry');
    unmount(dir);
  });

  it('a disk that fills up while the worker adds series: reported once, caught up when space is freed', needsTmpfs, async () => {
    const dir = smallDisk();
    const worker = startWorker(dir, 'growing');
    await waitFor('20 ticks', () => worker.ticks >= 20, worker);
    const filler = fillDisk(dir);
    await waitFor('the ENOSPC report', () => warningsAbout(worker, /ENOSPC/).length > 0, worker);
    const ticksAtFault = worker.ticks;
    await waitFor('60 more ticks on the full disk', () => worker.ticks >= ticksAtFault + 60, worker);
    assert.ok(onDisk(dir) < worker.total, 'the file fell behind while the disk was full');
    rmSync(filler);
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /could not write/).length, 1, worker.warnings.join('\n'));
    unmount(dir);
  });

  it('writes refused (chattr +i, EPERM): reported once, resumed when they are accepted again', needsChattr, async () => {
    const dir = tempDir();
    const worker = startWorker(dir);
    await waitFor('20 ticks', () => worker.ticks >= 20, worker);
    assert.equal(spawnSync('chattr', ['+i', counterFileOf(dir)]).status, 0);
    const frozenAt = onDisk(dir);
    await waitFor('the EPERM report', () => warningsAbout(worker, /EPERM/).length > 0, worker);
    const ticks = worker.ticks;
    await waitFor('50 more ticks', () => worker.ticks >= ticks + 50, worker);
    assert.ok(onDisk(dir) <= frozenAt + 1, 'nothing more was written');
    assert.equal(spawnSync('chattr', ['-i', counterFileOf(dir)]).status, 0);
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /could not write/).length, 1, worker.warnings.join('\n'));
  });

  it('a directory that refuses new files (chattr +i on it): a new metric is reported once and inc() does not throw', needsChattr, async () => {
    const dir = tempDir();
    const worker = startWorker(dir, 'late-gauge');
    await waitFor('10 ticks', () => worker.ticks >= 10, worker);
    assert.equal(spawnSync('chattr', ['+i', dir]).status, 0);
    // At tick 50 the worker creates a gauge, whose file cannot be created now.
    await waitFor('80 ticks', () => worker.ticks >= 80, worker);
    assert.equal(spawnSync('chattr', ['-i', dir]).status, 0);
    assert.equal(warningsAbout(worker, /could not open .*gauge_livesum_faulty\.db/).length, 1, worker.warnings.join('\n'));
    // The counter's file existed already, and was written all along.
    await expectRecovered(worker, dir);
  });

  it('the directory removed under the running worker and recreated: the file is written anew, complete', async () => {
    const dir = tempDir();
    const worker = startWorker(dir);
    await waitFor('20 ticks', () => worker.ticks >= 20, worker);
    rmSync(dir, { recursive: true });
    await waitFor('the report that the file cannot be written anew yet', () => warningsAbout(worker, /cannot be written anew yet/).length > 0, worker);
    const ticks = worker.ticks;
    await waitFor('50 more ticks without a directory', () => worker.ticks >= ticks + 50, worker);
    mkdirSync(dir, { mode: 0o700 });
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /cannot be written anew yet/).length, 1, worker.warnings.join('\n'));
    assert.equal(warningsAbout(worker, /counter_faulty\.db was removed while .* it has been written anew/).length, 1, worker.warnings.join('\n'));
  });

  it('`clean` run under the running worker keeps its file (its lock is held): every value stays', async () => {
    const dir = tempDir();
    const worker = startWorker(dir);
    await waitFor('20 ticks', () => worker.ticks >= 20, worker);
    const { removed, kept } = cleanDirectory(dir);
    assert.deepEqual(removed, []);
    assert.deepEqual(kept.map(({ file }) => file), [counterFileOf(dir)]);
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /was removed while/).length, 0, worker.warnings.join('\n'));
  });

  it('its file replaced by another process (rename over it): the worker takes the name back with its own values', async () => {
    const dir = tempDir();
    const worker = startWorker(dir);
    await waitFor('20 ticks', () => worker.ticks >= 20, worker);
    // Another process's complete file, moved over the worker's, as a careless tool would.
    const elsewhere = tempDir();
    const store = new FileStore({ dir: elsewhere, identity: 'other' });
    new Counter({ name: 'fault_events_total', help: 'Events.', labelNames: ['series'], store, registers: [] }).labels('one').inc(1_000_000);
    store.close();
    renameSync(path.join(elsewhere, 'counter_other.db'), counterFileOf(dir));
    assert.equal(onDisk(dir), 1_000_000);
    await waitFor('the worker to take its file back', () => onDisk(dir) < 1_000_000, worker);
    await expectRecovered(worker, dir);
    assert.equal(warningsAbout(worker, /replaced by another file/).length, 1, worker.warnings.join('\n'));
  });

  it('files are created complete: a new file is never seen empty, and never left as a temporary', async () => {
    const dir = tempDir();
    const worker = startWorker(dir);
    await waitFor('5 ticks', () => worker.ticks >= 5, worker);
    await worker.stop();
    const file = readFileSync(counterFileOf(dir));
    assert.equal(file.length, 65536);
    assert.equal(statSync(counterFileOf(dir)).mode & 0o777, 0o640 & ~process.umask());
    assert.deepEqual((await collectDirectory(dir)).skipped, []);
  });
});

// A check of the check: the fault cases above would pass vacuously if the tmpfs could not fill.
describe('the simulated faults are real', () => {
  it('a filled 1 MiB tmpfs refuses a write with ENOSPC', needsTmpfs, (t: TestContext) => {
    const dir = smallDisk();
    fillDisk(dir);
    assert.throws(() => writeFileSync(path.join(dir, 'more'), Buffer.alloc(4096)), { code: 'ENOSPC' });
    unmount(dir);
    t.diagnostic('1 MiB tmpfs, filled to ENOSPC');
  });
});
