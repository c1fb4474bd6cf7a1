// What a collector keeps between scrapes (open descriptors, the listing, each file's bytes and
// keys) must never change what a scrape finds: after any change to the directory, a scrape
// through the cache merges exactly what a scrape from nothing does. And the shortcuts must
// be taken, or the cache is only a cost.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectDirectory, type MetricFamily } from '../packages/prom-multiproc/src/index.js';
import { encodeFile, readEntries } from '../packages/prom-multiproc/src/format/format.js';
import { entryKey } from '../packages/prom-multiproc/src/format/pythonJson.js';
import { MultiprocessRegistry } from '../packages/prom-multiproc/src/scrape/registry.js';
import { ScrapeCache } from '../packages/prom-multiproc/src/scrape/scrapeCache.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';

const scratch = scratchDirectories('pm-scrape-cache-');
const lowFdsChild = fileURLToPath(new URL('./helpers/scrapeCacheLowFds.ts', import.meta.url));
const writerChild = fileURLToPath(new URL('./helpers/scrapeCacheWriter.ts', import.meta.url));
const warnings = capturedWarnings();

// Short enough to wait out in a test, longer than any file system clock tick.
const SETTLED_AFTER_MS = 30;
const settle = () => sleep(SETTLED_AFTER_MS + 15);

// Keys of equal length that differ in one byte, so that a stale layout would match by size.
const KEYS = {
  counter: ['a', 'b', 'c', 'd'].map((route) => entryKey('req', 'req_total', ['route'], [route], 'Requests')),
  gauge_livesum: ['x', 'y'].map((queue) => entryKey('depth', 'depth', ['queue'], [queue], 'Depth')),
};
const FILE_NAMES = ['counter_1.db', 'counter_2.db', 'gauge_livesum_1.db', 'gauge_livesum_2.db'] as const;
type FileName = (typeof FILE_NAMES)[number];

function keysOf(name: FileName): string[] {
  return name.startsWith('counter') ? KEYS.counter : KEYS.gauge_livesum;
}

function canonical(families: MetricFamily[]): string[] {
  return families
    .flatMap((family) => family.samples.map((s) => `${s.name} ${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`))
    .sort();
}

async function fresh(dir: string): Promise<{ merged: string[]; skipped: number }> {
  const collection = await collectDirectory(dir);
  return { merged: canonical(collection.families), skipped: collection.skipped.length };
}

async function throughCache(dir: string, cache: ScrapeCache): Promise<{ merged: string[]; skipped: number }> {
  const collection = await collectDirectory(dir, { cache });
  return { merged: canonical(collection.families), skipped: collection.skipped.length };
}

const writers = new Set<ChildProcess>();
after(() => {
  for (const child of writers) child.kill('SIGKILL');
});

interface Writer {
  /** Sends one command of helpers/scrapeCacheWriter.ts and waits until its change is written. */
  send(command: string): Promise<void>;
  /** What the library reported in the writer. */
  warnings: string[];
  /** Ends it (stdin closed) and checks that it exited normally. */
  stop(): Promise<void>;
}

/** A real writer process of `dir`, identity "writer" (file counter_writer.db). */
async function startWriter(dir: string): Promise<Writer> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerChild, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  writers.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const warnings: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('warning ')) warnings.push(JSON.parse(line.slice('warning '.length)) as string);
    else waiting.shift()?.(line);
  });
  const nextLine = (): Promise<string> => Promise.race([
    new Promise<string>((resolve) => waiting.push(resolve)),
    exited.then((code): never => {
      throw new Error(`the writer exited (${code}): ${stderr}`);
    }),
  ]);
  assert.equal(await nextLine(), 'ready');
  return {
    warnings,
    async send(command) {
      const answer = nextLine();
      child.stdin!.write(`${command}\n`);
      assert.equal(await answer, 'ok', `the writer's answer to "${command}"`);
    },
    async stop() {
      child.stdin!.end();
      assert.equal(await exited, 0, stderr);
      writers.delete(child);
    },
  };
}

function fileBytes(name: FileName, keyIndexes: number[], value: number): Buffer {
  const keys = keysOf(name);
  const entries = [...new Set(keyIndexes.map((i) => i % keys.length))].map((i) => ({ key: keys[i]!, value: value + i, timestamp: 0 }));
  return encodeFile(entries);
}

// How a directory changes under a collector: new values for the same keys, or other entries,
// in place (a writer's changes, the same inode), replaced by a rename, deleted and created
// again, deleted, or damaged. And what leaves an old file another name, so that it is not
// gone when its name leads elsewhere: a hard link to it in a backup directory (`cp -al`), the
// same with a new file renamed over its name then (remove() under a backup), and the whole
// directory renamed away and made anew with new files (`mv metrics metrics.old && mkdir metrics`).
const HOW = ['new-values', 'in-place', 'rename-over', 'recreate', 'delete', 'damage', 'link-backup', 'rename-over-linked', 'rotate'] as const;
interface Change {
  how: (typeof HOW)[number];
  name: FileName;
  keys: number[];
  value: number;
  settle: boolean;
}
// New values in place, what a collector meets most, are drawn twice as often as each other change.
const how = fc.oneof(...HOW.map((each) => ({ arbitrary: fc.constant(each), weight: each === 'new-values' ? 2 : 1 })));
const change: fc.Arbitrary<Change> = fc.record({
  how,
  name: fc.constantFrom(...FILE_NAMES),
  keys: fc.array(fc.nat(7), { minLength: 0, maxLength: 4 }),
  value: fc.integer({ min: 1, max: 1000 }),
  settle: fc.boolean(),
});

/** A metrics directory, and beside it what its files' other names and old selves go to. */
interface Scene {
  dir: string;
  backup: string;
  /** Hard links and rotations made so far, which number their names. */
  made: number;
}

function sceneIn(base: string): Scene {
  const scene = { dir: path.join(base, 'metrics'), backup: path.join(base, 'backup'), made: 0 };
  mkdirSync(scene.dir);
  mkdirSync(scene.backup);
  return scene;
}

function renameOver(file: string, bytes: Buffer): void {
  writeFileSync(`${file}.tmp`, bytes);
  renameSync(`${file}.tmp`, file);
}

function linkToBackup(scene: Scene, name: FileName): void {
  linkSync(path.join(scene.dir, name), path.join(scene.backup, `${name}.${++scene.made}`));
}

/** Renames the directory away and makes it anew, with new files of the names it had (and `name`). */
function rotate(scene: Scene, { name, keys, value }: Change): void {
  const names = new Set([...(readdirSync(scene.dir) as FileName[]), name]);
  renameSync(scene.dir, `${scene.dir}.${++scene.made}`);
  mkdirSync(scene.dir);
  for (const each of names) writeFileSync(path.join(scene.dir, each), fileBytes(each, keys, value));
}

function apply(scene: Scene, step: Change): void {
  const { how, name, keys, value } = step;
  const file = path.join(scene.dir, name);
  const bytes = fileBytes(name, keys, value);
  const exists = readdirSync(scene.dir).includes(name);
  switch (how) {
    case 'new-values':
      if (exists) {
        let entries: ReturnType<typeof readEntries> = [];
        try {
          entries = readEntries(readFileSync(file));
        } catch {
          break; // damaged: nothing to change the values of
        }
        writeFileSync(file, encodeFile(entries.map((entry, i) => ({ ...entry, value: entry.value * 2 + value + i }))));
      }
      break;
    case 'in-place':
      writeFileSync(file, bytes); // O_TRUNC on the same inode when it exists
      break;
    case 'rename-over':
      renameOver(file, bytes);
      break;
    case 'rename-over-linked':
      if (exists) linkToBackup(scene, name);
      renameOver(file, bytes);
      break;
    case 'recreate':
      if (exists) unlinkSync(file);
      writeFileSync(file, bytes);
      break;
    case 'delete':
      if (exists) unlinkSync(file);
      break;
    case 'damage':
      if (exists) writeFileSync(file, Buffer.from('not a metrics file at all, but long enough'));
      break;
    case 'link-backup':
      if (exists) linkToBackup(scene, name);
      break;
    case 'rotate':
      rotate(scene, step);
      break;
  }
}

describe('the scrape cache', () => {
  it('merges what a scrape from nothing merges, after any sequence of changes (property)', async () => {
    const totals = { listingsReused: 0, filesUnchanged: 0, filesWithNewValues: 0, filesDecoded: 0, filesReopened: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 12 }), async (changes) => {
        const scene = sceneIn(scratch());
        const { dir } = scene;
        const cache = new ScrapeCache({ settledAfterMs: SETTLED_AFTER_MS, maxKeptBytes: 600 });
        for (const step of changes) {
          apply(scene, step);
          if (step.settle) await settle();
          // Twice: the second scrape of an unchanged directory takes every shortcut there is.
          for (let scrape = 0; scrape < 2; scrape++) {
            assert.deepEqual(await throughCache(dir, cache), await fresh(dir), `after ${JSON.stringify(step)}`);
          }
        }
        cache.close();
        for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += cache.counts[key];
      }),
      { numRuns: 40, seed: Number(process.env.FC_SEED ?? 11) },
    );
    // The shortcuts were taken, so the property above tested them.
    assert.ok(totals.listingsReused > 20, `listings reused ${totals.listingsReused} times`);
    assert.ok(totals.filesUnchanged > 20, `files found unchanged ${totals.filesUnchanged} times`);
    assert.ok(totals.filesWithNewValues > 10, `files found with new values only ${totals.filesWithNewValues} times`);
    assert.ok(totals.filesReopened > 10, `kept files found no longer their names' and reopened ${totals.filesReopened} times`);
    assert.ok(warnings.length > 0, 'damaged files were reported');
  });

  it('decodes nothing and lists nothing when the directory has not changed, and sees a change in place', async () => {
    const dir = scratch();
    for (const name of FILE_NAMES) writeFileSync(path.join(dir, name), fileBytes(name, [0, 1, 2], 5));
    await settle();
    const cache = new ScrapeCache({ settledAfterMs: SETTLED_AFTER_MS });
    await throughCache(dir, cache);
    assert.equal(cache.counts.filesDecoded, FILE_NAMES.length);
    await throughCache(dir, cache);
    assert.deepEqual(cache.counts, { listingsReused: 1, filesUnchanged: FILE_NAMES.length, filesWithNewValues: 0, filesDecoded: FILE_NAMES.length, filesReopened: 0 });

    // New values in place: the keys are known after one comparison.
    writeFileSync(path.join(dir, 'counter_1.db'), fileBytes('counter_1.db', [0, 1, 2], 100));
    const newValues = await throughCache(dir, cache);
    assert.deepEqual(newValues, await fresh(dir));
    assert.ok(newValues.merged.includes('req_total [["route","c"]] 109'), newValues.merged.join('\n'));
    assert.equal(cache.counts.filesWithNewValues, 1);

    // A new entry in place: decoded, the known ones not.
    writeFileSync(path.join(dir, 'counter_1.db'), fileBytes('counter_1.db', [0, 1, 2, 3], 500));
    const after = await throughCache(dir, cache);
    assert.deepEqual(after, await fresh(dir));
    assert.ok(after.merged.some((line) => line.startsWith('req_total [["route","d"]] 503')), after.merged.join('\n'));
    assert.equal(cache.counts.listingsReused, 3);
    assert.equal(cache.counts.filesDecoded, FILE_NAMES.length + 1);
    cache.close();
  });

  it('does not follow a symbolic link put in place of a kept file', async () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'counter_1.db'), fileBytes('counter_1.db', [0], 1));
    writeFileSync(path.join(dir, 'elsewhere'), fileBytes('counter_1.db', [0], 999));
    const cache = new ScrapeCache({ settledAfterMs: SETTLED_AFTER_MS });
    assert.equal((await throughCache(dir, cache)).skipped, 0);
    unlinkSync(path.join(dir, 'counter_1.db'));
    symlinkSync('elsewhere', path.join(dir, 'counter_1.db'));
    const after = await throughCache(dir, cache);
    assert.equal(after.skipped, 1);
    assert.deepEqual(after.merged, []);
    cache.close();
  });

  const rotating = { skip: process.platform === 'win32' && 'a directory with files open in it cannot be renamed there' };
  it('serves the file a running worker writes anew after its directory is rotated (mv metrics metrics.old && mkdir metrics)', rotating, async () => {
    const dir = path.join(scratch(), 'metrics');
    mkdirSync(dir);
    const writer = await startWriter(dir);
    const registry = new MultiprocessRegistry({ dir });
    const scrape = async () => canonical((await registry.collect()).families);
    await writer.send('inc a 5');
    assert.deepEqual(await scrape(), ['req_total [["route","a"]] 5']);

    renameSync(dir, `${dir}.old`);
    mkdirSync(dir);
    // The worker notices at a flush a second after its last check, and writes its file anew here.
    let total = 5;
    const deadline = Date.now() + 10_000;
    while (!existsSync(path.join(dir, 'counter_writer.db'))) {
      assert.ok(Date.now() < deadline, `the worker did not write its file anew: ${writer.warnings.join('\n')}`);
      await writer.send('inc a 1');
      total++;
      await sleep(50);
    }
    // One more, so the new file is ahead of the old one for certain.
    await writer.send('inc a 1');
    total++;

    const cached = await scrape();
    assert.deepEqual(cached, (await fresh(dir)).merged);
    assert.deepEqual(cached, [`req_total [["route","a"]] ${total}`]);
    registry.close();
    await writer.stop();
  });

  it('drops a series a worker removed while a hard link (a cp -al backup) keeps the old file', async () => {
    const base = scratch();
    const dir = path.join(base, 'metrics');
    mkdirSync(dir);
    const writer = await startWriter(dir);
    const cache = new ScrapeCache({ settledAfterMs: SETTLED_AFTER_MS });
    await writer.send('inc a 1');
    await writer.send('inc b 2');
    assert.deepEqual((await throughCache(dir, cache)).merged, ['req_total [["route","a"]] 1', 'req_total [["route","b"]] 2']);

    // What `cp -al metrics backup` makes of the metrics files: a second name for each.
    const backup = path.join(base, 'backup');
    mkdirSync(backup);
    for (const name of readdirSync(dir).filter((name) => name.endsWith('.db'))) linkSync(path.join(dir, name), path.join(backup, name));
    // remove() writes the file anew and renames it over the old one, which the backup keeps.
    await writer.send('remove b');

    // Right after; once the directory's times have settled; and again, the listing reused then.
    for (const wait of [false, true, false]) {
      if (wait) await settle();
      const cached = await throughCache(dir, cache);
      assert.deepEqual(cached, await fresh(dir));
      assert.deepEqual(cached.merged, ['req_total [["route","a"]] 1']);
    }
    assert.equal(cache.counts.listingsReused, 1);
    assert.equal(cache.counts.filesReopened, 1);
    cache.close();
    await writer.stop();
  });

  it('checks a kept file again when the scrape that listed its changed directory did not read it', async () => {
    const scene = sceneIn(scratch());
    const { dir } = scene;
    writeFileSync(path.join(dir, 'counter_1.db'), fileBytes('counter_1.db', [0], 1));
    const cache = new ScrapeCache({ settledAfterMs: SETTLED_AFTER_MS });
    await throughCache(dir, cache);
    apply(scene, { how: 'rename-over', name: 'counter_1.db', keys: [0], value: 500, settle: true });
    await settle();
    // Lists the changed directory, settled now, and reads none of it.
    await collectDirectory(dir, { cache, select: () => false });
    // Takes that listing as it is, and must not take the kept descriptor as it is.
    const scraped = await throughCache(dir, cache);
    assert.equal(cache.counts.listingsReused, 1);
    assert.deepEqual(scraped, await fresh(dir));
    assert.deepEqual(scraped.merged, ['req_total [["route","a"]] 500']);
    assert.equal(cache.counts.filesReopened, 1);
    cache.close();
  });

  const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

  it('keeps at most maxKeptFiles descriptors, and close() gives them back', { skip: process.platform !== 'linux' && 'counts /proc/self/fd' }, async () => {
    const dir = scratch();
    for (let i = 0; i < 30; i++) writeFileSync(path.join(dir, `counter_${i}.db`), fileBytes('counter_1.db', [i], i));
    const before = openDescriptors();
    const cache = new ScrapeCache({ maxKeptFiles: 10 });
    const expected = await fresh(dir);
    assert.deepEqual(await throughCache(dir, cache), expected);
    assert.deepEqual(await throughCache(dir, cache), expected);
    assert.equal(openDescriptors() - before, 10);
    // The files past the limit are opened for each read, and still found unchanged without decoding.
    assert.equal(cache.counts.filesUnchanged, 30);
    cache.close();
    assert.equal(openDescriptors(), before);
    assert.deepEqual(await throughCache(dir, cache), expected, 'a closed cache still scrapes');
    assert.equal(openDescriptors(), before);
  });

  it('closes the descriptors of files no longer listed', { skip: process.platform !== 'linux' && 'counts /proc/self/fd' }, async () => {
    const dir = scratch();
    for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `counter_${i}.db`), fileBytes('counter_1.db', [i], i));
    const before = openDescriptors();
    const cache = new ScrapeCache();
    await throughCache(dir, cache);
    assert.equal(openDescriptors() - before, 5);
    for (let i = 0; i < 3; i++) unlinkSync(path.join(dir, `counter_${i}.db`));
    await throughCache(dir, cache);
    assert.equal(openDescriptors() - before, 2);
    cache.close();
  });

  it('gives back its descriptors and reads on when the process runs out of them', { skip: process.platform === 'win32' && 'ulimit' }, () => {
    const dir = scratch();
    const files = 150;
    for (let i = 0; i < files; i++) writeFileSync(path.join(dir, `counter_${i}.db`), fileBytes('counter_1.db', [0], 1));
    // Fewer descriptors than files: keeping every file open would run out (EMFILE) midway.
    const child = spawnSync('sh', ['-c', `ulimit -n 100 && exec "${process.execPath}" --import tsx "${lowFdsChild}" "${dir}"`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr);
    const scrapes = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { skipped: string[]; total: number }[];
    assert.deepEqual(scrapes, Array.from({ length: 3 }, () => ({ skipped: [], total: files })));
  });

  it('rejects a bad limit with the option named', () => {
    assert.throws(() => new ScrapeCache({ maxKeptFiles: -1 }), /maxKeptFiles must be a whole number/);
    assert.throws(() => new MultiprocessRegistry({ maxKeptFiles: 1.5 }), /maxKeptFiles must be a whole number/);
  });

  it('MultiprocessRegistry keeps files open between scrapes until close()', { skip: process.platform !== 'linux' && 'counts /proc/self/fd' }, async () => {
    const dir = scratch();
    for (let i = 0; i < 4; i++) writeFileSync(path.join(dir, `counter_${i}.db`), fileBytes('counter_1.db', [i], i));
    const before = openDescriptors();
    const registry = new MultiprocessRegistry({ dir });
    const first = await registry.metrics();
    assert.match(first, /^req_total\{route="d"\} 6$/m);
    assert.equal(openDescriptors() - before, 4);
    assert.equal(await registry.metrics(), first);
    registry.close();
    assert.equal(openDescriptors(), before);
    assert.equal(await registry.metrics(), first);
  });
});
