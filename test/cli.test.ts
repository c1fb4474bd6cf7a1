// The prom-multiproc command, run as a real process from source, against temp directories
// that real worker processes wrote.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join('packages', 'prom-multiproc', 'src', 'cli.ts');
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

function runScript(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: environment(env) }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      if (typeof code !== 'number') reject(error ?? new Error('no exit code'));
      else resolve({ code, stdout, stderr });
    });
  });
}

const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => runScript(CLI, args, env);

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
