// setupClusterMetrics with workers that write under their worker id: the exited worker's
// identity (not its pid) is marked dead, so its live gauge leaves the merge and its counts
// stay, and with compaction its files are folded into the archive.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory } from '../packages/prom-multiproc/src/index.js';
import { identityOfLockFile } from '../packages/prom-multiproc/src/directory/identityLock.js';
import { scratchDirectories } from './helpers/scratch.js';

const app = fileURLToPath(new URL('./helpers/clusterIdentityApp.ts', import.meta.url));
const scratch = scratchDirectories('pm-cluster-identity-');

function run(compact: boolean): { dir: string; files: string[] } {
  const dir = scratch();
  const result = spawnSync(process.execPath, ['--import', 'tsx', app], {
    env: { ...process.env, METRICS_DIR: dir, COMPACT: compact ? '1' : '0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout.trim().split('\n').at(-1)!), { exited: 'w1' });
  const files = readdirSync(dir).filter((name) => name.endsWith('.db') && identityOfLockFile(name) === undefined).sort();
  return { dir, files };
}

async function merged(dir: string): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  for (const family of (await collectDirectory(dir)).families) {
    for (const sample of family.samples) values.set(sample.name, sample.value);
  }
  return values;
}

describe('setupClusterMetrics with identityOf', () => {
  it('marks the exited worker dead by its identity: its live gauge goes, its counts stay', async () => {
    const { dir, files } = run(false);
    assert.deepEqual(files, ['counter_w1.db', 'counter_w2.db', 'gauge_livesum_w2.db']);
    const values = await merged(dir);
    assert.equal(values.get('jobs_total'), 30);
    assert.equal(values.get('busy'), 1);
  });

  it('with compact, folds the exited worker into the archive and keeps the totals', async () => {
    const { dir, files } = run(true);
    assert.deepEqual(files, ['counter_archive1.db', 'counter_w2.db', 'gauge_livesum_w2.db']);
    const values = await merged(dir);
    assert.equal(values.get('jobs_total'), 30);
    assert.equal(values.get('busy'), 1);
  });
});
