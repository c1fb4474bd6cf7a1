import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import fsModule from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { entryKey } from '../format/pythonJson.js';
import { setProblemReporter } from '../common/report.js';
import { closeExemplarSink, exemplarSink } from './exemplarFile.js';
import { decodeExemplarFile } from '../format/exemplarFormat.js';
import { FileStore } from './fileStore.js';
import { MemoryStore } from './memoryStore.js';
import type { SeriesStore } from './store.js';

const counterKey = entryKey('jobs', 'jobs_total', ['queue'], ['a'], 'Jobs done');
const otherKey = entryKey('jobs', 'jobs_total', ['queue'], ['b'], 'Jobs done');
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const dirs: string[] = [];
const stores: SeriesStore[] = [];
const warnings: string[] = [];
before(() => setProblemReporter((error) => warnings.push(error.message)));
after(() => {
  setProblemReporter(undefined);
  for (const store of stores) {
    closeExemplarSink(store);
    store.close();
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = fs.mkdtempSync(path.join(tmpdir(), 'pm-exemplar-file-'));
  dirs.push(dir);
  return dir;
}

function fileStore(dir: string, identity: string): FileStore {
  const store = new FileStore({ dir, identity });
  stores.push(store);
  return store;
}

function onDisk(dir: string, identity: string) {
  return decodeExemplarFile(fs.readFileSync(path.join(dir, `exemplars_${identity}.pmx`)));
}

describe('exemplarSink in memory (single-process mode)', () => {
  it('keeps the latest exemplar per key, copied, with label values as strings', () => {
    const store = new MemoryStore({ identity: 1 });
    const sink = exemplarSink(store);
    assert.equal(exemplarSink(store), sink, 'one sink per store');
    const labels: Record<string, string | number> = { trace_id: 'first', attempt: 2 };
    sink.record(counterKey, labels, 1, 100.5);
    labels.trace_id = 'changed afterwards';
    assert.deepEqual(sink.exemplars().get(counterKey), { labels: { trace_id: 'first', attempt: '2' }, value: 1, timestamp: 100.5 });
    sink.record(counterKey, { trace_id: 'second' }, 3, 101);
    sink.record(otherKey, { trace_id: 'other' }, 1, 99);
    assert.equal(sink.exemplars().get(counterKey)?.labels.trace_id, 'second');
    assert.equal(sink.remove((key) => key === otherKey), 1);
    assert.deepEqual([...sink.exemplars().keys()], [counterKey]);
  });

  it('refuses a timestamp that is not a finite number of seconds', () => {
    const sink = exemplarSink(new MemoryStore({ identity: 2 }));
    assert.throws(() => sink.record(counterKey, {}, 1, NaN), TypeError);
    assert.throws(() => sink.record(counterKey, {}, 1, Infinity), TypeError);
    assert.equal(sink.exemplars().size, 0);
  });
});

describe('exemplarSink with a directory', () => {
  it('rewrites exemplars_<identity>.pmx whole once at the end of a turn that recorded, and not in idle turns', async () => {
    const dir = scratch();
    const store = fileStore(dir, 'w1');
    const sink = exemplarSink(store);
    // Counted on the module object, whose changes syncBuiltinESMExports hands to every importer.
    const renames = mock.method(fsModule, 'renameSync');
    syncBuiltinESMExports();
    try {
      for (let i = 0; i < 50; i++) sink.record(i % 2 === 0 ? counterKey : otherKey, { trace_id: `t${i}` }, 1, 1000 + i);
      assert.equal(fs.existsSync(path.join(dir, 'exemplars_w1.pmx')), false, 'nothing is written within the turn');
      await nextTurn();
      assert.equal(renames.mock.callCount(), 1);
      await nextTurn();
      await nextTurn();
      assert.equal(renames.mock.callCount(), 1, 'an idle turn writes nothing');
      sink.record(counterKey, { trace_id: 'later' }, 2, 2000);
      await nextTurn();
      assert.equal(renames.mock.callCount(), 2);
    } finally {
      renames.mock.restore();
      syncBuiltinESMExports();
    }
    const read = onDisk(dir, 'w1');
    assert.deepEqual(read.get(counterKey), { labels: { trace_id: 'later' }, value: 2, timestamp: 2000 });
    assert.equal(read.get(otherKey)?.labels.trace_id, 't49');
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left');
    assert.equal(fs.statSync(path.join(dir, 'exemplars_w1.pmx')).mode & 0o777, 0o640);
  });

  it('writes removals, and a restarted process of the identity starts from its file', async () => {
    const dir = scratch();
    const first = fileStore(dir, 'w2');
    exemplarSink(first).record(counterKey, { trace_id: 'kept' }, 1, 10);
    exemplarSink(first).record(otherKey, { trace_id: 'removed' }, 1, 11);
    await nextTurn();
    exemplarSink(first).remove((key) => key === otherKey);
    closeExemplarSink(first);
    first.close();
    assert.deepEqual([...onDisk(dir, 'w2').keys()], [counterKey]);

    const second = fileStore(dir, 'w2');
    const sink = exemplarSink(second);
    assert.equal(sink.exemplars().get(counterKey)?.labels.trace_id, 'kept');
    sink.record(otherKey, { trace_id: 'new' }, 1, 12);
    sink.flush();
    assert.deepEqual([...onDisk(dir, 'w2')].map(([key, exemplar]) => [key, exemplar.labels.trace_id]), [[counterKey, 'kept'], [otherKey, 'new']]);
  });

  it('reports an unreadable file of its identity by name and writes its own exemplars over it', () => {
    const dir = scratch();
    const file = path.join(dir, 'exemplars_w3.pmx');
    fs.writeFileSync(file, 'not exemplars');
    warnings.length = 0;
    const sink = exemplarSink(fileStore(dir, 'w3'));
    assert.equal(sink.exemplars().size, 0);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.includes(file), warnings[0]);
    sink.record(counterKey, { trace_id: 'fresh' }, 1, 1);
    sink.flush();
    assert.equal(onDisk(dir, 'w3').get(counterKey)?.labels.trace_id, 'fresh');
  });

  it('reports a failed write once, keeps the exemplars, and writes them when the directory is back', async () => {
    const dir = scratch();
    const sink = exemplarSink(fileStore(dir, 'w4'));
    fs.rmSync(dir, { recursive: true });
    warnings.length = 0;
    sink.record(counterKey, { trace_id: 'survivor' }, 1, 1);
    await nextTurn();
    sink.record(counterKey, { trace_id: 'survivor' }, 1, 2);
    await nextTurn();
    const writeWarnings = warnings.filter((message) => message.includes('exemplars_w4.pmx'));
    assert.equal(writeWarnings.length, 1, warnings.join('\n'));
    assert.match(writeWarnings[0]!, /retried every second/);
    fs.mkdirSync(dir);
    const started = Date.now();
    while (!fs.existsSync(path.join(dir, 'exemplars_w4.pmx'))) {
      assert.ok(Date.now() - started < 10_000, 'the write was not retried');
      await sleep(50);
    }
    assert.equal(onDisk(dir, 'w4').get(counterKey)?.timestamp, 2);
  });

  it('writes what was recorded in the turn that calls process.exit()', () => {
    const dir = scratch();
    const here = path.dirname(new URL(import.meta.url).pathname);
    const script = `
      import { FileStore } from ${JSON.stringify(path.join(here, 'fileStore.ts'))};
      import { exemplarSink } from ${JSON.stringify(path.join(here, 'exemplarFile.ts'))};
      const sink = exemplarSink(new FileStore({ dir: ${JSON.stringify(dir)}, identity: 'exiting' }));
      sink.record(${JSON.stringify(counterKey)}, { trace_id: 'last words' }, 1, 42);
      process.exit(0);`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(onDisk(dir, 'exiting').get(counterKey)?.labels.trace_id, 'last words');
  });
});
