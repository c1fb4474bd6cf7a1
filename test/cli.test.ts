// The prom-multiproc command, run as a real process from source, against temp directories
// that real worker processes wrote.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileStore, Histogram } from '../packages/prom-multiproc/src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join('packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');
const WORKER = path.join('test', 'helpers', 'cliWorker.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without either directory variable, plus `extra`. */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const name of ['PROM_MULTIPROC_DIR', 'PROMETHEUS_MULTIPROC_DIR']) if (!(name in extra)) delete env[name];
  return env;
}

/** Another user than this process's, for directories it may not write (root may write any). */
const NOBODY = 65534;

function runScript(script: string, args: string[], env: Record<string, string>, user?: number): Promise<Run> {
  const asUser = user === undefined ? {} : { uid: user, gid: user };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: environment(env), ...asUser }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      if (typeof code !== 'number') reject(error ?? new Error('no exit code'));
      else resolve({ code, stdout, stderr });
    });
  });
}

const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => runScript(CLI, args, env);

/** Runs the CLI as a user who may not write `dir` (another user when this is root, else `dir` made read-only). */
function cliWithoutWriteAccess(dir: string, args: string[]): Promise<Run> {
  chmodSync(dir, 0o555);
  return runScript(CLI, args, {}, process.getuid?.() === 0 ? NOBODY : undefined);
}

/** Runs the CLI, with how long it took. */
async function timedCli(args: string[], env: Record<string, string> = {}): Promise<Run & { ms: number }> {
  const started = Date.now();
  const run = await cli(args, env);
  return { ...run, ms: Date.now() - started };
}

/** One line on stderr, naming the problem, without a stack trace. */
function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, pattern);
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, `one line:\n${run.stderr}`);
}

/** Runs a worker that records into `dir`; returns its pid, its identity in the file names. */
async function worker(dir: string, args: string[]): Promise<string> {
  const run = await runScript(WORKER, args, { PROM_MULTIPROC_DIR: dir });
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

/** Two workers at once, so that they surely have different pids. */
async function twoWorkers(dir: string, first: string[], second: string[]): Promise<[string, string]> {
  const pids = await Promise.all([worker(dir, first), worker(dir, second)]);
  assert.equal(readdirSync(dir).filter((name) => name.startsWith('counter_')).length, 2, 'one counter file per worker');
  return pids;
}

function sampleLines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

// Every case has its own directory, and most of the time is Node starting up: run cases in parallel.
let scratch: string;
let count = 0;
const freshPath = (): string => path.join(scratch, `case${++count}`);
function freshDir(): string {
  const dir = freshPath();
  mkdirSync(dir);
  return dir;
}

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'prom-multiproc-cli-'));
  chmodSync(scratch, 0o755); // so that the cases run as another user reach their directories
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('prom-multiproc clean', { concurrency: true }, () => {
  it('creates a missing directory', async () => {
    const dir = path.join(freshPath(), 'nested');
    const run = await cli(['clean', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(lstatSync(dir).isDirectory());
    assert.match(run.stdout, /^created .*nested$/m);
  });

  it('removes the metrics files and nothing else', async () => {
    const dir = freshDir();
    // Identities that are not pids: a file named by the pid of a running process (1 is) is kept.
    const ours = ['counter_w1.db', 'gauge_livesum_w2.db', 'histogram_w3.db', 'summary_w4.db'];
    const others = ['notes.txt', 'counter_1.db.bak', 'sqlite.db', 'gauge_bogusmode_5.db'];
    for (const name of [...ours, ...others]) writeFileSync(path.join(dir, name), 'x');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'counter_6.db'), 'x');
    mkdirSync(path.join(dir, 'counter_7.db'));

    const run = await cli(['clean', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), `removed 4 metrics files from ${dir}`);
    assert.deepEqual(readdirSync(dir).sort(), [...others, 'counter_7.db', 'sub'].sort());
    assert.ok(existsSync(path.join(dir, 'sub', 'counter_6.db')), 'does not descend into subdirectories');
  });

  it('takes the directory from PROM_MULTIPROC_DIR, then PROMETHEUS_MULTIPROC_DIR', async () => {
    const preferred = freshDir();
    const fallback = freshDir();
    for (const dir of [preferred, fallback]) writeFileSync(path.join(dir, 'counter_w1.db'), 'x');

    const both = await cli(['clean'], { PROM_MULTIPROC_DIR: preferred, PROMETHEUS_MULTIPROC_DIR: fallback });
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual([readdirSync(preferred), readdirSync(fallback)], [[], ['counter_w1.db']]);

    const pythonOnly = await cli(['clean'], { PROMETHEUS_MULTIPROC_DIR: fallback });
    assert.equal(pythonOnly.code, 0, pythonOnly.stderr);
    assert.deepEqual(readdirSync(fallback), []);
  });

  it('refuses the root directory', async () => {
    const run = await cli(['clean', '--dir', '/']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^prom-multiproc: refusing to clean \/: it is the file system root/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  it('refuses a regular file', async () => {
    const file = path.join(freshDir(), 'counter_1.db');
    writeFileSync(file, 'keep me');
    const run = await cli(['clean', '--dir', file]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^prom-multiproc: refusing to clean .*counter_1\.db: it is not a directory/);
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
  });

  it('refuses a symlink to a directory and leaves the target alone', async () => {
    const target = freshDir();
    writeFileSync(path.join(target, 'counter_1.db'), 'x');
    const link = path.join(freshDir(), 'link');
    symlinkSync(target, link, 'dir');
    const run = await cli(['clean', '--dir', link]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^prom-multiproc: refusing to clean .*link: it is a symbolic link; pass the real directory/);
    assert.deepEqual(readdirSync(target), ['counter_1.db']);
  });
});

describe('prom-multiproc scrape', { concurrency: true }, () => {
  let dir: string;
  before(async () => {
    dir = freshDir();
    await twoWorkers(dir, ['2', '3', '0.05', '0.5'], ['5', '4', '2']);
  });

  it('prints the sum over the processes', async () => {
    const run = await cli(['scrape', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const lines = sampleLines(run.stdout);
    for (const line of [
      'cli_jobs_total{queue="mail"} 7',
      'cli_job_seconds_bucket{le="0.1"} 1',
      'cli_job_seconds_bucket{le="1.0"} 2',
      'cli_job_seconds_bucket{le="+Inf"} 3',
      'cli_job_seconds_count 3',
      'cli_in_flight 7',
    ]) {
      assert.ok(lines.includes(line), `${line} in\n${run.stdout}`);
    }
    assert.match(run.stdout, /^# TYPE cli_jobs_total counter$/m);
    assert.equal(lines.filter((line) => line.startsWith('cli_last_increment{pid=')).length, 2, 'one all-mode gauge series per process');
  });

  it('prints OpenMetrics with --openmetrics', async () => {
    const run = await cli(['scrape', '--dir', dir, '--openmetrics']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.endsWith('# EOF\n'), run.stdout.slice(-40));
    assert.ok(sampleLines(run.stdout).includes('cli_jobs_total{queue="mail"} 7'), run.stdout);
    assert.match(run.stdout, /^# TYPE cli_jobs counter$/m);
  });

  it('skips a corrupt file with a warning and prints the rest', async () => {
    const corrupt = freshDir();
    await twoWorkers(corrupt, ['1', '1'], ['1', '1']);
    writeFileSync(path.join(corrupt, 'counter_99.db'), Buffer.from([0x13, 0x37, 0xde, 0xad, 0x42]));
    const run = await cli(['scrape', '--dir', corrupt]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^warning: .*counter_99\.db/m);
    assert.ok(sampleLines(run.stdout).includes('cli_jobs_total{queue="mail"} 2'), run.stdout);
  });

  it('fails on a missing directory, naming it', async () => {
    const missing = freshPath();
    const run = await cli(['scrape', '--dir', missing]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.ok(run.stderr.startsWith(`prom-multiproc: ${missing} does not exist`), run.stderr);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('prom-multiproc mark-dead', { concurrency: true }, () => {
  it('removes only the live gauge file, so that process leaves the live sum', async () => {
    const dir = freshDir();
    const [dead, alive] = await twoWorkers(dir, ['2', '3'], ['5', '4']);
    assert.ok(sampleLines((await cli(['scrape', '--dir', dir])).stdout).includes('cli_in_flight 7'));

    const run = await cli(['mark-dead', dead, '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), `removed ${path.join(dir, `gauge_livesum_${dead}.db`)}`);
    assert.ok(!existsSync(path.join(dir, `gauge_livesum_${dead}.db`)));
    for (const kept of [`counter_${dead}.db`, `gauge_all_${dead}.db`, `histogram_${dead}.db`, `gauge_livesum_${alive}.db`]) {
      assert.ok(existsSync(path.join(dir, kept)), `${kept} kept`);
    }

    const lines = sampleLines((await cli(['scrape', '--dir', dir])).stdout);
    assert.ok(lines.includes('cli_in_flight 4'), lines.join('\n'));
    assert.ok(lines.includes('cli_jobs_total{queue="mail"} 7'), 'counters of the dead process stay');
    assert.ok(lines.includes(`cli_last_increment{pid="${dead}"} 2`), 'all-mode gauges of the dead process stay');
  });

  it('rejects an identity that cannot name a file as a usage error', async () => {
    const run = await cli(['mark-dead', 'a_b', '--dir', freshDir()]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^prom-multiproc: .*'a_b'.*'_'/);
  });

  it('fails on a missing directory', async () => {
    const run = await cli(['mark-dead', '12', '--dir', freshPath()]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^prom-multiproc: .* does not exist/);
  });
});

describe('prom-multiproc usage', { concurrency: true }, () => {
  for (const command of [['clean'], ['scrape'], ['mark-dead', '12']]) {
    it(`${command[0]} without a directory exits 2 naming --dir and the variable`, async () => {
      const run = await cli(command);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^prom-multiproc: no metrics directory: pass --dir <path>, or set PROM_MULTIPROC_DIR/);
    });
  }

  it('an unknown command or option exits 2', async () => {
    const [command, option] = await Promise.all([cli(['frobnicate']), cli(['scrape', '--dir', freshDir(), '--json'])]);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /^prom-multiproc: unknown command 'frobnicate'/);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^prom-multiproc: unknown option '--json'/);
  });

  for (const command of ['clean', 'scrape', 'mark-dead']) {
    it(`${command} --help exits 0 with an example and the exit codes`, async () => {
      const run = await cli([command, '--help']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: prom-multiproc ${command}`, 'm'));
      assert.match(run.stdout, new RegExp(`^  \\$ prom-multiproc ${command} .*--dir`, 'm'));
      assert.match(run.stdout, /^Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 +usage error/m);
    });
  }

  it('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.join(repoRoot, 'packages', 'prom-multiproc', 'package.json'), 'utf8')) as { version: string };
    const run = await cli(['--version']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), version);
  });
});

describe('a directory the command cannot use', { concurrency: true }, () => {
  // Each answers at once (the compactors' lock is not retried for half a minute), in one line
  // that names the directory, not a file inside it.
  const QUICK_MS = 15_000; // node and tsx start slowly on a busy machine; the lock's retries took 29 s

  for (const command of [['compact'], ['mark-dead', '12'], ['serve', '--port', '0']]) {
    const name = command[0]!;

    it(`${name}: a missing directory`, async () => {
      const missing = freshPath();
      const run = await timedCli([...command, '--dir', missing]);
      assertOneLineError(run, new RegExp(`^prom-multiproc: ${missing} does not exist; check --dir or PROM_MULTIPROC_DIR`));
      assert.ok(run.ms < QUICK_MS, `took ${run.ms} ms`);
      assert.doesNotMatch(run.stderr, /\.lock/);
    });

    it(`${name}: a regular file`, async () => {
      const file = path.join(freshDir(), 'metrics');
      writeFileSync(file, 'x');
      const run = await timedCli([...command, '--dir', file]);
      assertOneLineError(run, new RegExp(`^prom-multiproc: ${file} is not a directory; pass the metrics directory`));
      assert.ok(run.ms < QUICK_MS, `took ${run.ms} ms`);
    });
  }

  for (const command of [['compact'], ['mark-dead', '12']]) {
    it(`${command[0]}: a directory this user may not write`, async () => {
      const dir = freshDir();
      const started = Date.now();
      const run = await cliWithoutWriteAccess(dir, [...command, '--dir', dir]);
      const ms = Date.now() - started;
      assertOneLineError(run, new RegExp(`^prom-multiproc: ${dir} is not writable by this user \\(uid \\d+\\); ${command[0]} changes files there: run it as the user that writes the metrics`));
      assert.ok(ms < QUICK_MS, `took ${ms} ms`);
    });
  }
});

describe('prom-multiproc serve', { concurrency: true }, () => {
  it('names the address when the port is in use', async () => {
    const dir = freshDir();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const run = await cli(['serve', '--dir', dir, '--port', String(port)]);
      assertOneLineError(run, new RegExp(`^prom-multiproc: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use .*--port`));
    } finally {
      taken.close();
    }
  });

  it('names the host when it is not an address of this machine', async () => {
    const dir = freshDir();
    const [unknown, notHere] = await Promise.all([
      cli(['serve', '--dir', dir, '--port', '0', '--host', '999.1.1.1']),
      cli(['serve', '--dir', dir, '--port', '0', '--host', '192.0.2.1']), // TEST-NET-1: never assigned
    ]);
    assertOneLineError(unknown, /^prom-multiproc: cannot listen on --host 999\.1\.1\.1: .*--host 127\.0\.0\.1/);
    assertOneLineError(notHere, /^prom-multiproc: cannot listen on 192\.0\.2\.1: .*not an address of this host.*--host/);
  });
});

describe('what the CLI prints besides its output', { concurrency: true }, () => {
  it('scrape of a regular file prints the one error that matters', async () => {
    const file = path.join(freshDir(), 'metrics');
    writeFileSync(file, 'x');
    const run = await cli(['scrape', '--dir', file]);
    assertOneLineError(run, new RegExp(`^prom-multiproc: .*${file}`));
    assert.doesNotMatch(run.stderr, /manifest/);
  });

  it('prints the library\'s warnings as "warning: " lines, in every command', async () => {
    const dir = freshDir();
    // A file of a live pid without its lock: what compaction takes for a Python writer.
    writeFileSync(path.join(dir, `counter_${process.pid}.db`), '');
    const run = await cli(['compact', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^warning: compaction of .* found live writers that hold no prom-multiproc lock/m);
    assert.doesNotMatch(run.stderr, /\(node:\d+\)|\[Error\]/);
  });

  it('warns once when PROM_MULTIPROC_DIR and PROMETHEUS_MULTIPROC_DIR differ, naming both', async () => {
    const ours = freshDir();
    const python = freshDir();
    const run = await cli(['scrape'], { PROM_MULTIPROC_DIR: ours, PROMETHEUS_MULTIPROC_DIR: python });
    assert.equal(run.code, 0, run.stderr);
    const warnings = run.stderr.split('\n').filter((line) => line.startsWith('warning: '));
    assert.equal(warnings.length, 1, run.stderr);
    assert.ok(warnings[0]!.includes(`PROM_MULTIPROC_DIR=${ours}`) && warnings[0]!.includes(`PROMETHEUS_MULTIPROC_DIR=${python}`), warnings[0]);
    assert.match(warnings[0]!, /Python/);

    const same = await cli(['scrape'], { PROM_MULTIPROC_DIR: ours, PROMETHEUS_MULTIPROC_DIR: `${ours}/` });
    assert.equal(same.stderr, '', 'the same directory, spelled with a trailing slash');
    const given = await cli(['scrape', '--dir', ours], { PROM_MULTIPROC_DIR: ours, PROMETHEUS_MULTIPROC_DIR: python });
    assert.equal(given.stderr, '', 'with --dir the variables are not used');
  });

  it('warns at scrape time about a histogram whose bucket layouts differ between processes, naming a file of each', async () => {
    const dir = freshDir();
    const layouts: Record<string, number[]> = {
      express: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      python: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    };
    for (const [identity, buckets] of [['express1', layouts.express], ['express2', layouts.express], ['python1', layouts.python]] as const) {
      const store = new FileStore({ dir, identity });
      new Histogram({ name: 'http_request_duration_seconds', help: 'Latency.', labelNames: ['route'], buckets, store, registers: [] }).observe({ route: '/' }, 0.3);
      new Histogram({ name: 'job_seconds', help: 'Jobs.', buckets: [1, 2], store, registers: [] }).observe(1.5);
      store.close();
    }
    const run = await cli(['scrape', '--dir', dir]);
    assert.equal(run.code, 0, run.stderr);
    const warnings = run.stderr.split('\n').filter((line) => line.startsWith('warning: '));
    assert.equal(warnings.length, 1, run.stderr);
    assert.match(warnings[0]!, /histogram http_request_duration_seconds has different bucket bounds/);
    assert.ok(warnings[0]!.includes(path.join(dir, 'histogram_python1.db')), warnings[0]);
    assert.match(warnings[0]!, /histogram_express[12]\.db/);
    assert.doesNotMatch(warnings[0]!, /job_seconds/);
  });
});
