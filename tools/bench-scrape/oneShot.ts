// Whole-process one-shot scrapes, as an operator or a cron job runs them: our built CLI
// (`prom-multiproc scrape --dir D`, started with plain node) and a Python interpreter that
// runs MultiProcessCollector + generate_latest once. Each is timed from spawn to exit, its
// output written to a file, and its peak RSS taken by /usr/bin/time (the kernel's maxrss of
// that one child; not measured where there is no /usr/bin/time).

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface OneShotResult {
  ms: number;
  maxRssMiB: number;
}

const TIME = '/usr/bin/time';

const PYTHON_ONE_SHOT = `
import sys
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
registry = CollectorRegistry()
MultiProcessCollector(registry, path=sys.argv[1])
sys.stdout.buffer.write(generate_latest(registry))
`;

export function canMeasureRss(): boolean {
  return existsSync(TIME);
}

/** Runs `command args` once, stdout to `outFile`; wall time from spawn to exit, and its peak RSS. */
function runOnce(command: string, args: string[], outFile: string, env: NodeJS.ProcessEnv): OneShotResult {
  const work = mkdtempSync(path.join(tmpdir(), 'one-shot-'));
  const rssFile = path.join(work, 'rss');
  const out = openSync(outFile, 'w');
  try {
    const start = process.hrtime.bigint();
    const timed = canMeasureRss();
    const result = timed
      ? spawnSync(TIME, ['-f', '%M', '-o', rssFile, command, ...args], { env, stdio: ['ignore', out, 'pipe'], encoding: 'utf8' })
      : spawnSync(command, args, { env, stdio: ['ignore', out, 'pipe'], encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.error !== undefined) throw result.error;
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
    const kib = timed ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : Number.NaN;
    return { ms, maxRssMiB: kib / 1024 };
  } finally {
    closeSync(out);
    rmSync(work, { recursive: true, force: true });
  }
}

/** `node <cli> scrape --dir <dir>`: the built CLI, plain node (no TypeScript loader). */
export function runCliScrape(cli: string, dir: string, outFile: string): OneShotResult {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return runOnce(process.execPath, [cli, 'scrape', '--dir', dir], outFile, env);
}

/** A fresh Python interpreter that scrapes `dir` once and exits. */
export function runPythonOneShot(checkout: string, dir: string, outFile: string): OneShotResult {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: path.resolve(checkout) };
  delete env.PROMETHEUS_MULTIPROC_DIR;
  delete env.prometheus_multiproc_dir;
  return runOnce('python3', ['-c', PYTHON_ONE_SHOT, dir], outFile, env);
}
