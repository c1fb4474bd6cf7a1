// Worker threads that write under slot identities (`pool-<slot>`) rather than the default
// `<pid>-t<threadId>`: a terminated thread's lock must neither make its replacement wait nor
// outlive the thread being marked dead, by markThreadDead or by markProcessDead(<slot identity>).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { collectDirectory, markProcessDead, markThreadDead } from '../packages/prom-multiproc/src/index.js';
import { lockFileName } from '../packages/prom-multiproc/src/directory/identityLock.js';
import { exitOf, nextFrom, startTsWorker } from './helpers/threadHarness.js';
import { scratchDirectories } from './helpers/scratch.js';

const SLOT_THREAD = new URL('./helpers/slotThread.ts', import.meta.url);
const tempDir = scratchDirectories('pm-thread-slots-');

async function startSlot(dir: string, slot: number): Promise<{ worker: Worker; firstMetricMs: number }> {
  const worker = startTsWorker(SLOT_THREAD, { workerData: { dir, slot } });
  const ready = await nextFrom<{ type: 'ready'; firstMetricMs: number }>(worker, 'ready');
  return { worker, firstMetricMs: ready.firstMetricMs };
}

async function terminate(worker: Worker): Promise<void> {
  const exited = exitOf(worker);
  await worker.terminate();
  await exited;
}

async function tasksCounted(dir: string): Promise<number> {
  const { families } = await collectDirectory(dir);
  return families.find((family) => family.name === 'pool_tasks')?.samples.find((s) => s.name === 'pool_tasks_total')?.value ?? 0;
}

describe('slot-named thread identities', () => {
  it('a replacement thread does not wait on the lock its terminated predecessor left', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const lock = path.join(dir, lockFileName('pool-1'));
    const first = await startSlot(dir, 1);
    assert.ok(existsSync(lock), 'the thread holds its identity\'s lock');
    await terminate(first.worker);
    assert.ok(existsSync(lock), 'terminate() runs nothing in the thread: its lock is left behind');
    const replacement = await startSlot(dir, 1);
    assert.ok(replacement.firstMetricMs < 1000, `the replacement's first metric took ${replacement.firstMetricMs} ms`);
    await terminate(replacement.worker);
    const counted = await tasksCounted(dir);
    assert.ok(counted >= 2, `${counted} tasks counted`);
  });

  it('markProcessDead(<slot identity>) releases a terminated thread\'s lock', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const lock = path.join(dir, lockFileName('pool-2'));
    const { worker } = await startSlot(dir, 2);
    await terminate(worker);
    assert.ok(existsSync(lock));
    markProcessDead('pool-2', dir);
    assert.ok(!existsSync(lock), 'marking the identity dead releases its lock');
  });

  it('markThreadDead(threadId) releases the lock of a thread named by an identity function', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const lock = path.join(dir, lockFileName('pool-3'));
    const { worker } = await startSlot(dir, 3);
    const threadId = worker.threadId;
    await terminate(worker);
    assert.ok(existsSync(lock));
    markThreadDead(threadId, { dir });
    assert.ok(!existsSync(lock), 'the thread\'s lock is gone, whatever identity it wrote under');
  });

  it('a live thread\'s lock stays when another thread of the process marks its identity dead by mistake, and is taken back', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const lock = path.join(dir, lockFileName('pool-4'));
    const { worker } = await startSlot(dir, 4);
    markProcessDead('pool-4', dir);
    // The thread's OS thread runs, so the lock is provably live and stays.
    assert.ok(existsSync(lock));
    await terminate(worker);
  });
});
