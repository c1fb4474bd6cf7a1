// 2,000 short-lived workers (4 processes playing 500 identities each), compacted while they
// come and go and while the directory is scraped: the number of files stays bounded, every
// scrape's counts only grow, and the final totals are exact.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory, type MetricFamily } from '../packages/prom-multiproc/src/index.js';

const PROCESSES = 4;
const WORKERS_EACH = 500;
const helper = (name: string) => fileURLToPath(new URL(`./helpers/${name}`, import.meta.url));

function total(families: MetricFamily[], family: string, sample: string): number {
  return (families.find((f) => f.name === family)?.samples ?? []).filter((s) => s.name === sample).reduce((sum, s) => sum + s.value, 0);
}

describe('2,000 recycled workers with compaction and scrapes', () => {
  it('keeps files bounded, counts monotonic and totals exact', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-recycle-'));
    const children: ChildProcess[] = [];
    try {
      const env = { ...process.env, METRICS_DIR: dir };
      const compactor = fork(helper('recyclingCompactor.ts'), [], { env, execArgv: ['--import', 'tsx'] });
      children.push(compactor);
      let increments = 0;
      let dead = 0;
      const finished: Promise<void>[] = [];
      for (let p = 0; p < PROCESSES; p++) {
        const worker = fork(helper('recyclingWorker.ts'), [], {
          env: { ...env, WORKER_PREFIX: `p${p}`, WORKERS_TO_PLAY: String(WORKERS_EACH) },
          execArgv: ['--import', 'tsx'],
        });
        children.push(worker);
        finished.push(new Promise((resolve, reject) => {
          worker.on('message', (message: { dead?: string; increments?: number; done?: boolean }) => {
            if (message.dead !== undefined) {
              increments += message.increments!;
              dead++;
              compactor.send({ dead: [message.dead] });
            }
            if (message.done) resolve();
          });
          worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
        }));
      }

      let scrapes = 0;
      let maxFiles = 0;
      const fileCounts: number[] = [];
      let lastJobs = 0;
      let lastObservations = 0;
      let workersDone = false;
      void Promise.all(finished).then(() => (workersDone = true));
      while (!workersDone) {
        const { families, skipped } = await collectDirectory(dir);
        assert.deepEqual(skipped, [], `scrape ${scrapes} skipped files`);
        const jobs = total(families, 'jobs', 'jobs_total');
        const observations = total(families, 'job_seconds', 'job_seconds_count');
        assert.ok(jobs >= lastJobs, `scrape ${scrapes}: jobs went from ${lastJobs} to ${jobs}`);
        assert.ok(observations >= lastObservations, `scrape ${scrapes}: observations went from ${lastObservations} to ${observations}`);
        lastJobs = jobs;
        lastObservations = observations;
        const files = readdirSync(dir).length;
        // By how far the run has come, so the start-up (no workers yet) does not count.
        if (dead >= PROCESSES * WORKERS_EACH * 0.25) fileCounts.push(files);
        maxFiles = Math.max(maxFiles, files);
        scrapes++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await Promise.all(finished);
      const summary = new Promise<{ compactions: number; folded: number }>((resolve) => compactor.once('message', resolve));
      compactor.send({ stop: true });
      const { compactions, folded } = await summary;

      const { families } = await collectDirectory(dir);
      assert.equal(dead, PROCESSES * WORKERS_EACH);
      assert.equal(folded, dead, 'every dead worker was folded');
      assert.equal(total(families, 'jobs', 'jobs_total'), increments);
      assert.equal(total(families, 'job_seconds', 'job_seconds_count'), dead);
      assert.equal(families.find((f) => f.name === 'last_job')!.samples.length, dead, 'all-mode gauges keep a series per worker');
      assert.equal(total(families, 'busy', 'busy'), 0, 'no live gauge of a dead worker remains');
      assert.equal(families.find((f) => f.name === 'peak')!.samples[0]!.value, WORKERS_EACH - 1);
      const finalFiles = readdirSync(dir).filter((name) => name.endsWith('.db'));
      assert.ok(finalFiles.length <= 8, `after the last compaction only archives remain: ${finalFiles.join(', ')}`);
      const half = Math.floor(fileCounts.length / 2);
      const firstHalfPeak = Math.max(...fileCounts.slice(0, half));
      const secondHalfPeak = Math.max(...fileCounts.slice(half));
      console.log(`recycling: ${dead} workers, ${scrapes} scrapes, ${compactions} compactions, at most ${maxFiles} files at once (peak ${firstHalfPeak} early, ${secondHalfPeak} late), ${finalFiles.length} at the end`);
      // Without compaction: 2,000 workers × 4 kinds of file that stay after mark-dead = 8,000,
      // growing all the time. With it, what is not folded yet depends on how fast the
      // compactor keeps up, not on how many workers came before.
      assert.ok(maxFiles < 2000, `the directory peaked at ${maxFiles} entries`);
      assert.ok(fileCounts.length >= 3, `enough scrapes while workers came and went (${fileCounts.length})`);
      assert.ok(secondHalfPeak <= firstHalfPeak * 2 + 200, `the file count grows: ${firstHalfPeak} then ${secondHalfPeak}`);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
