// One live writer per identity: a second process (or store) taking an identity that a live
// one holds must fail loudly with the fix, while a dead holder's identity is free at once
// (same host) or after a bounded wait (a holder we cannot check, e.g. another container).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { FileStore, MultiprocessDirectoryError, Counter, cleanDirectory, setProblemReporter } from '../packages/prom-multiproc/src/index.js';
import { parseFileName } from '../packages/prom-multiproc/src/format/fileNames.js';
import { STALE_MS, isIdentityLocked, lockFileName } from '../packages/prom-multiproc/src/directory/identityLock.js';
import { repoRoot } from './helpers/fixtures.js';

const ENTRY = new URL('../packages/prom-multiproc/src/index.ts', import.meta.url).href;

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-lock-'));
  dirs.push(dir);
  return dir;
}

function script(body: string): string[] {
  return ['--import', 'tsx', '--input-type=module', '-e', `import * as lib from ${JSON.stringify(ENTRY)};\n${body}`];
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a script to its end, asynchronously: the tests run concurrently, and one blocked in
 * spawnSync would stop another's timers (and a lock it touches would look dead).
 */
function run(body: string, env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, script(body), { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

/**
 * Opens a store of `identity`, printing how long taking its lock took (the process's own start
 * is slow and irregular on a busy machine, so it is not timed), then adds 1 to a counter and
 * prints the counter's value.
 */
function writeOnce(dir: string, identity: string, env: Record<string, string> = {}): Promise<Run> {
  return run(
    `const started = performance.now();
     let store;
     try {
       store = new lib.FileStore({ dir: ${JSON.stringify(dir)}, identity: ${JSON.stringify(identity)} });
     } finally {
       process.stdout.write(String(performance.now() - started) + '\\n');
     }
     const c = new lib.Counter({ name: 'runs_total', help: 'h', store }); c.inc();
     process.stdout.write(String(store.cell('counter', '["runs", "runs_total", {}, "h"]').value));`,
    env,
  );
}

/** What writeOnce printed: the milliseconds the lock took, and the counter's value after its run. */
function printed(result: Run): { lockMs: number; value: string | undefined } {
  const [lockMs, value] = result.stdout.split('\n');
  return { lockMs: Number(lockMs), value };
}

/** A process that holds `identity` until killed; resolves once it holds it. */
async function holder(dir: string, identity: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, script(
    `new lib.FileStore({ dir: ${JSON.stringify(dir)}, identity: ${JSON.stringify(identity)} });
     process.stdout.write('holding\\n'); setInterval(() => {}, 1000);`,
  ), { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('holding') && resolve());
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** A lock as a holder elsewhere (another host or pid namespace) writes it. */
function foreignLock(dir: string, identity: string): string {
  const file = path.join(dir, lockFileName(identity));
  writeFileSync(file, JSON.stringify({ host: 'elsewhere', pidNamespace: 'pid:[1]', pid: 1, thread: 0, started: '1', token: 'theirs' }));
  return file;
}

describe('the identity lock', { concurrency: true, timeout: 120_000 }, () => {
  it('refuses a second live store of one identity in one directory, naming the identity, the directory and the fix', () => {
    const dir = tempDir();
    const first = new FileStore({ dir, identity: 'web1' });
    assert.throws(() => new FileStore({ dir, identity: 'web1' }), (error: unknown) => {
      assert.ok(error instanceof MultiprocessDirectoryError);
      assert.match(error.message, /process identity "web1" is in use in /);
      assert.ok(error.message.includes(dir), error.message);
      assert.match(error.message, new RegExp(`process ${process.pid} on host `));
      assert.match(error.message, /PROM_MULTIPROC_IDENTITY/);
      return true;
    });
    // Another identity, or another directory, is fine.
    new FileStore({ dir, identity: 'web2' }).close();
    new FileStore({ dir: tempDir(), identity: 'web1' }).close();
    first.close();
    const again = new FileStore({ dir, identity: 'web1' });
    again.close();
    assert.deepEqual(readdirSync(dir), [], 'closed stores leave no lock and no file');
  });

  it('makes a second live process with the same identity fail at once, with the fix on stderr', async () => {
    const dir = tempDir();
    const live = await holder(dir, 'container1');
    const second = await writeOnce(dir, 'container1');
    assert.notEqual(second.status, 0);
    assert.match(second.stderr, /MultiprocessDirectoryError: process identity "container1" is in use/);
    assert.match(second.stderr, new RegExp(`process ${live.pid} on host ${hostname()}`));
    assert.ok(printed(second).lockMs < STALE_MS / 2, `took ${printed(second).lockMs} ms: a live holder on this host is known at once`);
    live.kill('SIGKILL');
    await exited(live);
  });

  it('frees the identity of a SIGKILLed holder at once on the same host, and the restart continues its counts', async () => {
    const dir = tempDir();
    assert.equal(printed(await writeOnce(dir, 'slot3')).value, '1');
    const crashed = await holder(dir, 'slot3');
    crashed.kill('SIGKILL');
    await exited(crashed);
    assert.ok(readdirSync(dir).includes(lockFileName('slot3')), 'a killed holder leaves its lock');
    const restart = await writeOnce(dir, 'slot3');
    assert.equal(restart.status, 0, restart.stderr);
    assert.equal(printed(restart).value, '2');
    assert.ok(printed(restart).lockMs < STALE_MS / 2, `took ${printed(restart).lockMs} ms`);
    assert.deepEqual(readdirSync(dir), ['counter_slot3.db']);
  });

  // pm2 reload starts an instance's new process while the old one runs; with the identity
  // NODE_APP_INSTANCE both are the same writer, so the new one waits for the old one to exit.
  // Here the test process stands for PM2's daemon: both writers are its children.
  const pm2Instance = { pm_id: '3', name: 'web', NODE_APP_INSTANCE: '0' };

  it('makes the replacement of a PM2 instance wait for the process it replaces to exit, then continue its counts', async () => {
    const dir = tempDir();
    assert.equal(printed(await writeOnce(dir, '0', pm2Instance)).value, '1', 'an earlier run of the instance');
    const old = await holder(dir, '0', pm2Instance);
    const trying = path.join(tempDir(), 'trying');
    const replacement = run(
      `import { writeFileSync } from 'node:fs';
       writeFileSync(${JSON.stringify(trying)}, '');
       const store = new lib.FileStore({ dir: ${JSON.stringify(dir)}, identity: '0' });
       const runs = new lib.Counter({ name: 'runs_total', help: 'h', store }); runs.inc();
       process.stdout.write(String(Date.now()) + ' ' + store.cell('counter', '["runs", "runs_total", {}, "h"]').value);`,
      pm2Instance,
    );
    while (!existsSync(trying)) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // it waits, rather than failing
    assert.equal(old.exitCode, null);
    const killedAt = Date.now();
    old.kill('SIGINT'); // what PM2 sends it once the replacement is started
    const result = await replacement;
    assert.equal(result.status, 0, result.stderr);
    const [tookAt, value] = result.stdout.split(' ');
    assert.ok(Number(tookAt) >= killedAt, 'the replacement took the identity only after the old process was stopped');
    assert.equal(value, '2', 'the replacement continues from the instance\'s count');
  });

  it('does not wait for a live holder that is another PM2 process, nor for one outside PM2', async () => {
    const dir = tempDir();
    const live = await holder(dir, '0', pm2Instance);
    const [otherProcess, outside] = await Promise.all([writeOnce(dir, '0', { ...pm2Instance, pm_id: '4' }), writeOnce(dir, '0')]);
    for (const contender of [otherProcess, outside]) {
      assert.notEqual(contender.status, 0);
      assert.match(contender.stderr, /process identity "0" is in use/);
      assert.ok(printed(contender).lockMs < STALE_MS / 2, `took ${printed(contender).lockMs} ms`);
    }
    live.kill('SIGKILL');
    await exited(live);
  });

  it('fails against a holder it cannot check (another container) once it sees the lock touched', async () => {
    const dir = tempDir();
    const file = foreignLock(dir, '1');
    const toucher = setInterval(() => utimesSync(file, new Date(), new Date()), 200);
    try {
      const contender = await writeOnce(dir, '1');
      assert.notEqual(contender.status, 0);
      assert.match(contender.stderr, /process identity "1" is in use in .*process 1 on host elsewhere/);
      assert.ok(printed(contender).lockMs < STALE_MS, `decided after ${printed(contender).lockMs} ms, when the lock could count as dead`);
    } finally {
      clearInterval(toucher);
    }
  });

  it('takes over an untouched lock it cannot check after watching it for the stale time', async () => {
    const dir = tempDir();
    foreignLock(dir, '1');
    const taker = await writeOnce(dir, '1');
    assert.equal(taker.status, 0, taker.stderr);
    assert.ok(printed(taker).lockMs >= STALE_MS, `took over after ${printed(taker).lockMs} ms, before the lock could be known dead`);
    assert.deepEqual(readdirSync(dir), ['counter_1.db']);
  });

  it('is released when the process ends by an uncaught error or process.exit()', async () => {
    const dir = tempDir();
    for (const ending of ['throw new Error("boom")', 'process.exit(3)']) {
      const result = await run(
        `const store = new lib.FileStore({ dir: ${JSON.stringify(dir)}, identity: 'ends' }); new lib.Counter({ name: 'c', help: 'h', store }).inc(); ${ending};`,
      );
      assert.notEqual(result.status, 0);
      assert.deepEqual(readdirSync(dir), ['counter_ends.db'], `after ${ending}`);
    }
  });

  it('reports a takeover to the holder that lost it, and takes back a lock removed under it', async () => {
    const dir = tempDir();
    const reports: Error[] = [];
    setProblemReporter((error) => reports.push(error));
    const store = new FileStore({ dir, identity: 'victim' });
    try {
      const file = path.join(dir, lockFileName('victim'));
      rmSync(file);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.ok(JSON.parse(readFileSync(file, 'utf8')).pid === process.pid, 'the lock is back');
      assert.equal(reports.length, 0);
      writeFileSync(file, JSON.stringify({ host: hostname(), pidNamespace: '', pid: 1, thread: 0, started: '', token: 'intruder' }));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(reports.length, 1);
      assert.match(reports[0]!.message, /the lock of process identity "victim" in .* is held by process 1 .*overwrite each other's values/);
    } finally {
      setProblemReporter(undefined);
      store.close();
    }
  });

  it('is never read as a metrics file, and clean removes dead holders\' locks but keeps live ones, and their files', () => {
    const dir = tempDir();
    assert.equal(parseFileName(lockFileName('1234')), undefined);
    assert.ok(!lockFileName('1234').endsWith('.db'));
    const live = new FileStore({ dir, identity: 'alive' });
    new Counter({ name: 'c', help: 'h', store: live, registers: [] }).inc();
    live.flush();
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(path.join(dir, lockFileName('dead')), JSON.stringify({ host: hostname(), pidNamespace: pidNamespace(), pid: gone, thread: 0, started: 'x', token: 't' }));
    assert.equal(isIdentityLocked(dir, 'dead'), false);
    assert.equal(isIdentityLocked(dir, 'alive'), true);
    const { removed, kept } = cleanDirectory(dir);
    assert.deepEqual(removed.map((file) => path.basename(file)), ['.lock-dead']);
    assert.deepEqual(kept, [{ file: path.join(dir, 'counter_alive.db'), reason: 'a live writer holds its lock (.lock-alive)' }]);
    assert.deepEqual(readdirSync(dir).sort(), [lockFileName('alive'), 'counter_alive.db']);
    live.close();
  });
});

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}
