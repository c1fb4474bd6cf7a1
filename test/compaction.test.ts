// Compaction: dead processes' files folded into archives, with the merge unchanged, however
// the compactor dies, and with a reused identity counted afresh.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Counter, FileStore, Gauge, Histogram, Summary, collectDirectory, compactDirectory, markProcessDead, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';

const child = fileURLToPath(new URL('./helpers/compactionChild.ts', import.meta.url));
const STEPS = ['recovered', 'read', 'archive-written', 'committed', 'deleted', 'settled'] as const;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-compact-'));
  dirs.push(dir);
  return dir;
}

/** What one process records: every kind, with values that depend on its number. */
function writeProcess(dir: string, identity: string, n: number): void {
  const store = new FileStore({ dir, identity, now: () => 1_700_000_000 + n });
  const labelNames = ['route'];
  new Counter({ name: 'requests_total', help: 'Requests', labelNames, store, registers: [] }).labels(n % 2 ? '/a' : '/b').inc(n + 1);
  new Histogram({ name: 'latency', help: 'Latency', labelNames, buckets: [0.1, 1], store, registers: [] }).labels('/a').observe(n / 10);
  new Summary({ name: 'size', help: 'Size', store, registers: [] }).observe(n);
  new Gauge({ name: 'g_all', help: 'all', store, registers: [] }).set(n);
  new Gauge({ name: 'g_max', help: 'max', multiprocessMode: 'max', store, registers: [] }).set(n % 7);
  new Gauge({ name: 'g_min', help: 'min', multiprocessMode: 'min', store, registers: [] }).set(-(n % 5));
  new Gauge({ name: 'g_sum', help: 'sum', multiprocessMode: 'sum', store, registers: [] }).set(n);
  new Gauge({ name: 'g_recent', help: 'mostrecent', multiprocessMode: 'mostrecent', store, registers: [] }).set(n * 3);
  new Gauge({ name: 'g_live', help: 'livesum', multiprocessMode: 'livesum', store, registers: [] }).set(1);
  store.close();
}

function canonical(families: MetricFamily[]): string[] {
  return families
    .flatMap((family) => family.samples.map((s) => `${s.name} ${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`))
    .sort();
}

async function merged(dir: string): Promise<string[]> {
  const collection = await collectDirectory(dir);
  assert.deepEqual(collection.skipped, []);
  return canonical(collection.families);
}

/** Ten processes, the first seven dead and marked so. */
function populate(dir: string): string[] {
  const dead: string[] = [];
  for (let n = 0; n < 10; n++) {
    writeProcess(dir, `w${n}`, n);
    if (n < 7) {
      markProcessDead(`w${n}`, dir);
      dead.push(`w${n}`);
    }
  }
  return dead;
}

describe('compaction', () => {
  it('folds dead processes into one archive per kind, and the merge does not change', async () => {
    const dir = tempDir();
    const dead = populate(dir);
    const before = await merged(dir);
    const filesBefore = readdirSync(dir).length;
    const result = await compactDirectory(dir, { dead, detectDeadPids: false });
    assert.deepEqual(result.folded, dead);
    assert.equal(result.generation, 1);
    assert.deepEqual(await merged(dir), before);
    const names = readdirSync(dir).filter((name) => name.endsWith('.db'));
    assert.equal(names.filter((name) => /_w[0-6]\.db$/.test(name)).length, 0, 'dead processes\' files are gone');
    assert.equal(names.filter((name) => name.includes('archive1')).length, 8, 'one archive per non-live kind');
    assert.ok(readdirSync(dir).length < filesBefore);

    // Compacting again (the archive folded into the next) changes nothing either.
    writeProcess(dir, 'w20', 20);
    markProcessDead('w20', dir);
    const beforeSecond = await merged(dir);
    const second = await compactDirectory(dir, { dead: ['w20'], detectDeadPids: false });
    assert.equal(second.generation, 2);
    assert.deepEqual(await merged(dir), beforeSecond);
    assert.ok(!readdirSync(dir).some((name) => name.includes('archive1')), 'the old generation is removed');
  });

  it('markProcessDead({ compact: true }) removes the live gauges and folds the rest', async () => {
    const dir = tempDir();
    writeProcess(dir, 'w1', 1);
    writeProcess(dir, 'w2', 2);
    const { removed, compaction } = await markProcessDead('w1', { dir, compact: true });
    assert.equal(path.basename(removed[0]!), 'gauge_livesum_w1.db');
    assert.deepEqual(compaction.folded, ['w1']);
    const text = canonical((await collectDirectory(dir)).families).join('\n');
    assert.match(text, /^requests_total \[\["route","\/a"\]\] 2$/m);
    assert.match(text, /^requests_total \[\["route","\/b"\]\] 3$/m);
  });

  for (const step of STEPS) {
    it(`keeps the merge when the compactor is killed after "${step}"`, async () => {
      const dir = tempDir();
      const dead = populate(dir);
      const before = await merged(dir);
      const run = spawnSync(process.execPath, ['--import', 'tsx', child, dir, step, ...dead], { encoding: 'utf8' });
      assert.equal(run.signal, 'SIGKILL', `the compactor should have died after ${step}: ${run.stderr}`);
      assert.deepEqual(await merged(dir), before, `merge after a crash after ${step}`);
      // The next compaction finishes the job.
      const again = await compactDirectory(dir, { dead, detectDeadPids: false });
      assert.deepEqual(await merged(dir), before, `merge after recovery from ${step}`);
      assert.ok(!readdirSync(dir).some((name) => /_w[0-6]\.db$/.test(name)), `folded files remain after recovery from ${step}: ${again.folded}`);
      assert.ok(!readdirSync(dir).some((name) => name.startsWith('.archive-')), 'no archive left aside');
    });
  }

  it('counts a reused identity afresh after its old files were folded', async () => {
    const dir = tempDir();
    writeProcess(dir, 'w1', 1);
    markProcessDead('w1', dir);
    await compactDirectory(dir, { dead: ['w1'], detectDeadPids: false });
    const store = new FileStore({ dir, identity: 'w1' });
    new Counter({ name: 'requests_total', help: 'Requests', labelNames: ['route'], store, registers: [] }).labels('/a').inc(10);
    store.close();
    const text = canonical((await collectDirectory(dir)).families).join('\n');
    assert.match(text, /^requests_total \[\["route","\/a"\]\] 12$/m, 'the archive\'s 2 and the new process\'s 10');
  });

  it('folds identities whose pid is gone from this host, and only those', async () => {
    const dir = tempDir();
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeProcess(dir, gone, 1);
    writeProcess(dir, String(process.pid), 2);
    writeProcess(dir, 'named', 3);
    const result = await compactDirectory(dir);
    assert.deepEqual(result.folded, [gone]);
  });

  it('never folds the files of a live writer, even one said to be dead', async () => {
    const dir = tempDir();
    writeProcess(dir, 'w1', 1);
    const live = new FileStore({ dir, identity: 'w2' });
    new Counter({ name: 'requests_total', help: 'Requests', labelNames: ['route'], store: live, registers: [] }).labels('/a').inc(5);
    live.flush();
    try {
      const result = await compactDirectory(dir, { dead: ['w1', 'w2'], detectDeadPids: false });
      assert.deepEqual(result.folded, ['w1']);
      assert.ok(readdirSync(dir).includes('counter_w2.db'));
    } finally {
      live.close();
    }
  });

  it('refuses the archive identities to writers', () => {
    const dir = tempDir();
    assert.throws(() => new FileStore({ dir, identity: 'archive3' }), /name the archives of compacted processes/);
  });
});
