// Found while adding stalled compactors to the chaos and soak runs (helpers/stressChaos.ts): a
// compactor holds each identity it folds through that identity's lock, touched every second.
// When the compactor's event loop blocks after it has read (here 7 s, and 12 s: past the
// identity lock's 5 s stale time, and past the directory lock's 10 s) and no other compactor
// comes, a refilled writer of that identity must not take the hold and adopt the old values:
// the compactor then commits its fold (its directory lock, manifest and generation claim all
// check out), the archive counts the old values, the writer's file is deleted and the writer
// writes it anew with the old values plus its own, and the old values count twice (221 where
// 121 on the code of 2994bfa to 98a8f55; since 98d6b44 the writer waits for a live holder).
// Either the writer waits, or the compactor gives up; either way each count is counted once.
//
// Real processes: a compactor child (helpers/compactionChild.ts, STALL_AT=read) and a writer
// child (helpers/slotWriter.ts) that opens the stalled identity, as a refilled slot does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Counter, FileStore, collectDirectory, type CompactionResult } from '../packages/prom-multiproc/src/index.js';
import { repoRoot } from './helpers/fixtures.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';

const SLOT_WRITER = fileURLToPath(new URL('./helpers/slotWriter.ts', import.meta.url));
const COMPACTOR = fileURLToPath(new URL('./helpers/compactionChild.ts', import.meta.url));
const tempDir = scratchDirectories('pm-stalled-hold-');
capturedWarnings();

async function jobsTotal(dir: string): Promise<number> {
  const { families } = await collectDirectory(dir);
  return families.flatMap((family) => family.samples).filter((sample) => sample.name === 'jobs_total').reduce((sum, sample) => sum + sample.value, 0);
}

/** A compactor of `identity` whose event loop blocks for `stallMs` once it holds the identity and has read its files. */
function stalledCompactor(dir: string, identity: string, stallMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', COMPACTOR, dir, 'none', identity], {
    cwd: repoRoot,
    env: { ...process.env, STALL_AT: 'read', STALL_MS: String(stallMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    stalled: async () => {
      while (!stdout.includes('stalled')) await new Promise((resolve) => setTimeout(resolve, 20));
    },
    result: async () => {
      assert.equal(await exited, 0, stderr);
      return JSON.parse(stdout.slice(stdout.indexOf('{'))) as CompactionResult;
    },
  };
}

/** A slotWriter child: `send` resolves once the command's values are in the file. */
function slotWriter(dir: string) {
  // Its warning that its file was removed and written anew is part of the story, not noise to print.
  const child = spawn(process.execPath, ['--import', 'tsx', SLOT_WRITER, dir], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    send: async (command: string) => {
      child.stdin!.write(`${command}\n`);
      assert.equal((await lines.next()).value, `ok ${command}`);
    },
    end: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end('exit\n');
      await exited;
    },
  };
}

describe('a compactor stalled while it holds an identity', { concurrency: true }, () => {
  // Below the directory lock's stale time, and past it: either way no other compactor comes.
  for (const stallMs of [7000, 12_000]) {
    it(`blocked ${stallMs / 1000} s with no other compactor about: a writer of that identity started meanwhile counts once`, {
      timeout: 60_000,
    }, async () => {
      const dir = tempDir();
      const dead = new FileStore({ dir, identity: 'slot-1' });
      new Counter({ name: 'jobs_total', help: 'Jobs done', store: dead, registers: [] }).inc(100);
      dead.close();

      const compactor = stalledCompactor(dir, 'slot-1', stallMs);
      await compactor.stalled();
      // The slot is refilled: its writer opens the identity while the compactor holds it.
      const writer = slotWriter(dir);
      try {
        await writer.send('open slot-1');
        await writer.send('inc 20');
        assert.equal(await jobsTotal(dir), 120, 'once the writer holds the identity');
        const result = await compactor.result();
        // Had the compaction deleted the file the writer writes, the writer writes it anew within a second.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await writer.send('inc 1');
        assert.equal(await jobsTotal(dir), 121, `after the compaction (${JSON.stringify(result)})`);
      } finally {
        await writer.end();
      }
    });
  }
});
