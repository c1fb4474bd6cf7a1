// collect() callbacks in multiprocess mode: a process that does not serve the scrape runs its
// callbacks on a timer (so what they set is in its files), and the serving process runs its own
// at scrape time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from './helpers/fixtures.js';

const entry = path.join(repoRoot, 'packages', 'prom-multiproc', 'src', 'index.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'pm-collect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `code` with the library as `lib` in a child writing `dir`; resolves with its stdout once it exits. */
async function child(code: string, env: NodeJS.ProcessEnv): Promise<string> {
  const script = `import * as lib from ${JSON.stringify(entry)};\n${code}`;
  const running = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, PROM_MULTIPROC_DIR: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  running.stdout.on('data', (chunk) => (stdout += chunk));
  running.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => running.kill('SIGKILL'), 30_000);
  try {
    const [status] = (await once(running, 'exit')) as [number | null];
    assert.equal(status, 0, stderr);
    return stdout;
  } finally {
    clearTimeout(timer);
  }
}

describe('collect() in multiprocess mode', () => {
  it("runs in a process that serves no scrape, on the interval, and its values reach the other process's scrape", async () => {
    // The worker's callback counts its own runs; it stays up ~1.2 s at a 100 ms interval, and
    // no timer of the library keeps it alive beyond its own.
    await child(
      `let runs = 0;
       new lib.Gauge({ name: 'queue_depth', help: 'Jobs queued.', multiprocessMode: 'max', collect() { runs++; this.set(runs); } });
       await new Promise((resolve) => setTimeout(resolve, 1200));
       process.stdout.write(String(runs));`,
      { PROM_MULTIPROC_IDENTITY: 'worker', PROM_MULTIPROC_COLLECT_INTERVAL_MS: '100' },
    );
    const scraped = await child(
      `let calls = 0;
       new lib.Gauge({ name: 'scraper_state', help: 'Set at scrape time.', multiprocessMode: 'max', collect() { calls++; this.set(42); } });
       const text = await lib.register.metrics();
       process.stdout.write(JSON.stringify({ text, calls }));`,
      { PROM_MULTIPROC_IDENTITY: 'scraper', PROM_MULTIPROC_COLLECT_INTERVAL_MS: '60000' },
    );
    const { text, calls } = JSON.parse(scraped) as { text: string; calls: number };
    const depth = Number(/^queue_depth (\S+)$/m.exec(text)?.[1]);
    assert.ok(depth >= 5, `the worker's callback ran on its timer (queue_depth ${depth})\n${text}`);
    assert.match(text, /^scraper_state 42$/m, 'the scraping process ran its own callback before reading');
    assert.equal(calls, 1);
  });

  it('a process whose only timer is the collect interval exits on its own', async () => {
    const started = Date.now();
    await child(
      `new lib.Gauge({ name: 'idle_gauge', help: 'h', collect() { this.set(1); } }).set(0);`,
      { PROM_MULTIPROC_IDENTITY: 'idle', PROM_MULTIPROC_COLLECT_INTERVAL_MS: '50' },
    );
    assert.ok(Date.now() - started < 20_000);
  });
});
