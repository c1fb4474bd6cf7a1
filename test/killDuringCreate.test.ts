// A new metrics file is written under a temporary name, `<file>.<pid>-<8 hex>.tmp`, linked into
// place, and the temporary name unlinked. A creator SIGKILLed between the link and the unlink
// leaves the temporary name as a second link to the file. The next writer of that identity
// must take the file anyway (the twin is ours: it removes it), or every series of that kind
// stays out of the scrape for the writer's life; and `prom-multiproc clean` removes such
// leftovers of dead creators. Real processes: creators under plain node (stressBuild.ts),
// killed with SIGKILL, once at the window itself (a test hook stops the creator there) and a
// hundred times at random moments.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { linkSync, lstatSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileStore, collectDirectory, type MetricFamily } from '../packages/prom-multiproc/src/index.js';
import { repoRoot } from './helpers/fixtures.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { compiledHelper } from './helpers/stressBuild.js';
import { expectedSamples, touchEveryKind } from './helpers/stressFileKinds.js';

const tempDir = scratchDirectories('prom-multiproc-create-kill-');
const warnings = capturedWarnings();
const IDENTITY = 'creator';
// About 2 in 100 kills at random moments land between link and unlink (the link is that share
// of a creator's time), too few to count on: CAUGHT creators are stopped (SIGSTOP) at random
// moments until one is found there, and killed then. No hook: the moment is one the creator
// reached on its own.
const CAUGHT = Number(process.env.CREATE_CAUGHT ?? 20);
const KILLS = Number(process.env.CREATE_KILLS ?? 30);
const onLinux = { skip: process.platform === 'linux' ? false : 'reads process states from /proc' };
// Two cores: more creators at once only queue for them.
const AT_ONCE = 4;
const TIMEOUT_MS = 20_000;

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['PROM_MULTIPROC_DIR', 'PROMETHEUS_MULTIPROC_DIR', 'PROM_MULTIPROC_IDENTITY', 'PROM_MULTIPROC_TEST_STOP_AFTER_LINK']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function ended(child: ChildProcess): Promise<Ended> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stderr })));
}

/** Starts a creator that loops until killed; resolves once it says it is ready. */
async function startCreator(dir: string, extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess; ended: Promise<Ended> }> {
  const child = spawn(process.execPath, [compiledHelper('stressFileCreator'), dir, IDENTITY, 'loop'], {
    env: environment(extraEnv),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const end = ended(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the creator did not say ready')), TIMEOUT_MS);
    child.stdout!.setEncoding('utf8').once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    void end.then((result) => reject(new Error(`the creator exited before it was ready: ${JSON.stringify(result)}`)));
  });
  return { child, ended: end };
}

/** The next writer of the identity: records into every kind of file and exits. */
async function recordAfter(dir: string): Promise<void> {
  const child = spawn(process.execPath, [compiledHelper('stressFileCreator'), dir, IDENTITY, 'record'], {
    env: environment(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const result = await ended(child);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '', 'the next writer reported no problem');
}

/** Temporary names that are a second link to a metrics file. */
function twinsIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.tmp') && lstatSync(path.join(dir, name)).nlink > 1);
}

function samplesOf(families: MetricFamily[]): Map<string, number> {
  const samples = new Map<string, number>();
  for (const family of families) {
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels).map(([name, value]) => `${name}="${value === '1.0' ? '1' : value}"`).join(',');
      samples.set(`${sample.name}{${labels}}`, sample.value);
    }
  }
  return samples;
}

/** The scrape holds exactly what the last writer recorded, and no file has a second name left. */
async function assertExact(dir: string): Promise<void> {
  const { families, skipped } = await collectDirectory(dir);
  assert.deepEqual(skipped, []);
  assert.deepEqual(samplesOf(families), expectedSamples(IDENTITY));
  const linked = readdirSync(dir).filter((name) => name.endsWith('.db') && lstatSync(path.join(dir, name)).nlink > 1);
  assert.deepEqual(linked, [], 'no metrics file has a second name');
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: environment() }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      if (typeof code !== 'number') reject(error ?? new Error('no exit code'));
      else resolve({ code, stdout, stderr });
    });
  });
}

/** Whether the process is stopped (state T in /proc/<pid>/stat). */
function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

/** Stops the creator at random moments until it is stopped between link and unlink; returns how many stops it took. */
async function stopInTheWindow(child: ChildProcess, dir: string): Promise<number> {
  const pid = child.pid!;
  const deadline = Date.now() + TIMEOUT_MS;
  for (let stops = 1; ; stops++) {
    assert.ok(Date.now() < deadline, `the creator was not once stopped between link and unlink in ${stops} stops`);
    await sleep(Math.random() * 3);
    child.kill('SIGSTOP');
    while (!isStopped(pid)) await sleep(0);
    if (twinsIn(dir).length > 0) return stops;
    child.kill('SIGCONT');
  }
}

/** A creator stopped by the test hook right after it linked its first file into place, then SIGKILLed. */
async function killAtTheWindow(dir: string): Promise<{ pid: number; twin: string }> {
  const creator = await startCreator(dir, { PROM_MULTIPROC_TEST_STOP_AFTER_LINK: '1' });
  const deadline = Date.now() + TIMEOUT_MS;
  while (twinsIn(dir).length === 0) {
    assert.ok(Date.now() < deadline, 'the creator never stopped between link and unlink');
    await sleep(5);
  }
  creator.child.kill('SIGKILL');
  assert.equal((await creator.ended).signal, 'SIGKILL');
  const twins = twinsIn(dir);
  assert.equal(twins.length, 1);
  assert.match(twins[0]!, new RegExp(`^counter_${IDENTITY}\\.db\\.${creator.child.pid}-[0-9a-f]{8}\\.tmp$`));
  return { pid: creator.child.pid!, twin: twins[0]! };
}

describe('a creator SIGKILLed between linking a new file and unlinking its temporary name', { timeout: 300_000 }, () => {
  it('at the window itself: the next writer of the identity removes the twin and gets every series into the scrape', async () => {
    const dir = tempDir();
    await killAtTheWindow(dir);
    await recordAfter(dir);
    assert.deepEqual(twinsIn(dir), []);
    await assertExact(dir);
  });

  it(`${CAUGHT} creators caught between link and unlink by natural timing, ${KILLS} killed at random moments: each next writer's values are in the scrape, exact`, onLinux, async (t) => {
    compiledHelper('stressFileCreator'); // built once, before the rounds start
    let started = 0;
    let samples = 0;
    let atTheWindow = 0;
    const round = async (caught: boolean): Promise<void> => {
      const dir = tempDir();
      const creator = await startCreator(dir);
      if (caught) samples += await stopInTheWindow(creator.child, dir);
      else await sleep(5 + Math.random() * 45);
      creator.child.kill('SIGKILL');
      assert.equal((await creator.ended).signal, 'SIGKILL');
      if (twinsIn(dir).length > 0) atTheWindow++;
      // The next writer is this process (a child per round would double the run's time).
      const store = new FileStore({ dir, identity: IDENTITY });
      touchEveryKind(store, true);
      store.close();
      assert.deepEqual(warnings, []);
      await assertExact(dir);
    };
    await Promise.all(Array.from({ length: AT_ONCE }, async () => {
      while (started < CAUGHT + KILLS) await round(started++ < CAUGHT);
    }));
    t.diagnostic(`${CAUGHT + KILLS} SIGKILLs, ${atTheWindow} between link and unlink (${CAUGHT} found there in ${samples} stops, the rest by chance)`);
    assert.ok(atTheWindow >= CAUGHT);
  });

  it('any other second name of the file is still refused', () => {
    // Second names that are not a temporary name of that very file: a backup, another file's temporary name.
    for (const second of [`counter_${IDENTITY}.db.bak`, `histogram_${IDENTITY}.db.4242-0a1b2c3d.tmp`, `counter_${IDENTITY}.db.4242-0a1b2c3.tmp`]) {
      const dir = tempDir();
      const file = path.join(dir, `counter_${IDENTITY}.db`);
      const store = new FileStore({ dir, identity: IDENTITY });
      touchEveryKind(store, false);
      store.close();
      linkSync(file, path.join(dir, second));
      const mark = warnings.length;
      const next = new FileStore({ dir, identity: IDENTITY });
      touchEveryKind(next, true);
      next.close();
      assert.equal(lstatSync(file).nlink, 2, second);
      assert.match(warnings.splice(mark).join('\n'), /counter_creator\.db has 2 hard links/, second);
    }
  });

  it('prom-multiproc clean removes the temporary names of dead creators and keeps those of live ones', async () => {
    const dir = tempDir();
    const { pid: dead, twin } = await killAtTheWindow(dir);
    // What else our writers and compactors leave when killed: a temporary never linked, an
    // archive and a manifest written aside. The same names of this (live) process stay.
    const leftovers = [twin];
    const live: string[] = [];
    for (const [pid, names] of [[dead, leftovers], [process.pid, live]] as const) {
      for (const name of [
        `histogram_${IDENTITY}.db.${pid}-0a1b2c3d.tmp`,
        `.archive-gauge_livesum-${pid}.tmp`,
        `.archive-counter-${pid}-0a1b2c3d.tmp`,
        `.prom-multiproc-archive.json.tmp-${pid}`,
        `.prom-multiproc-archive.json.tmp-${pid}-0a1b2c3d`,
      ]) {
        writeFileSync(path.join(dir, name), 'x');
        names.push(name);
      }
    }
    const others = ['notes.tmp', `counter_${IDENTITY}.db.${dead}.tmp`, `.archive-x-${dead}.tmp.bak`];
    for (const name of others) writeFileSync(path.join(dir, name), 'x');

    const run = await cli(['clean', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    const left = readdirSync(dir).sort();
    for (const name of leftovers) assert.ok(!left.includes(name), `${name} removed`);
    for (const name of [...live, ...others]) assert.ok(left.includes(name), `${name} kept`);
    for (const name of live) assert.match(run.stdout, new RegExp(`^kept ${path.join(dir, name).replace(/[.\\/+-]/g, '\\$&')}: process ${process.pid}, which is writing it, is running$`, 'm'));
  });
});
