// `prom-multiproc serve`: a standalone exporter process over a directory, stopped by SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Counter, FileStore, Gauge } from '../packages/prom-multiproc/src/index.js';
import { processExists, processStat } from '../packages/prom-multiproc/src/directory/procfs.js';
import { repoRoot } from './helpers/fixtures.js';

const cli = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'exporter', 'cli.ts');

describe('prom-multiproc serve', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pm-serve-'));
    for (const identity of ['101', '102']) {
      const store = new FileStore({ dir, identity });
      new Counter({ name: 'jobs_total', help: 'Jobs', labelNames: ['queue'], store, registers: [] }).labels('mail').inc(identity === '101' ? 3 : 4);
      new Gauge({ name: 'workers_busy', help: 'Busy', multiprocessMode: 'livesum', store, registers: [] }).set(1);
      store.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the merge on /metrics and /healthz, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--dir', dir, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('serve did not start in 20 s')), 20_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const match = /on (http:\/\/\S+)\/metrics/.exec(line);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`serve exited early with ${code}`)));
      });
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      const body = await metrics.text();
      assert.match(body, /^jobs_total\{queue="mail"\} 7$/m);
      assert.match(body, /^workers_busy 2$/m);
      const open = await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
      assert.match(await open.text(), /# EOF\n$/);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      assert.equal((await fetch(`${url}/other`)).status, 404);
      assert.equal((await fetch(`${url}/metrics`, { method: 'POST' })).status, 405);

      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  /** Starts `serve` under a shell (as npx does: it passes no SIGTERM on), returns the exporter's pid and a line reader. */
  async function serveUnderShell(extra: string[]): Promise<{ shell: ReturnType<typeof spawn>; pid: number; lines: string[] }> {
    const command = [process.execPath, '--import', 'tsx', cli, 'serve', '--dir', dir, '--port', '0', ...extra].map((part) => `'${part}'`).join(' ');
    const shell = spawn('sh', ['-c', `${command} & echo "pid $!"; wait`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const pid = await new Promise<number>((resolve, reject) => {
      let exporterPid: number | undefined;
      const timer = setTimeout(() => reject(new Error(`serve did not start in 20 s: ${lines.join(' | ')}`)), 20_000);
      createInterface({ input: shell.stdout! }).on('line', (line) => {
        lines.push(line);
        const started = /^pid (\d+)$/.exec(line);
        if (started) exporterPid = Number(started[1]);
        if (/on http:\/\/\S+\/metrics/.test(line) && exporterPid !== undefined) {
          clearTimeout(timer);
          resolve(exporterPid);
        }
      });
    });
    return { shell, pid, lines };
  }

  /** Alive and not a zombie: an orphan that exits waits for init to reap it, and some inits (a container's) never do. */
  function running(pid: number): boolean {
    const stat = processStat(pid);
    return stat === undefined ? processExists(pid) : stat.state !== 'Z';
  }

  async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (condition()) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return condition();
  }

  it('stops when its parent goes without passing a signal on (npx, a shell), and says why', async () => {
    const { shell, pid, lines } = await serveUnderShell([]);
    try {
      shell.kill('SIGKILL');
      assert.ok(await waitFor(() => !running(pid), 10_000), 'the exporter is still running after its parent exited');
      assert.ok(lines.some((line) => line === 'parent process exited: stopping'), lines.join('\n'));
    } finally {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('keeps serving after its parent goes with --no-exit-with-parent', async () => {
    const { shell, pid } = await serveUnderShell(['--no-exit-with-parent']);
    try {
      shell.kill('SIGKILL');
      assert.equal(await waitFor(() => !running(pid), 2_000), false, 'it stopped although told not to');
    } finally {
      if (running(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
