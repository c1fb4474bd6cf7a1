// Issue "bad files": whatever lies in the directory under a metrics file's name, a scrape
// skips it, says which file and what is wrong (once per file, not per scrape, and in the
// collector's own metric), and serves every good file exactly; it neither crashes, nor hangs,
// nor allocates what a file merely claims. Real files in a real directory, each bad file
// alone beside good ones and all of them together. (The byte-level cases of readEntries are
// unit tests in src/format/format.test.ts.)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import fc from 'fast-check';
import {
  Counter, FileStore, Gauge, Histogram, MultiprocessRegistry, collectDirectory, compactDirectory, type MetricFamily,
} from '../packages/prom-multiproc/src/index.js';
import { parseFileName } from '../packages/prom-multiproc/src/format/fileNames.js';
import { HEADER_SIZE, entrySize, readUsed, writeEntry, writeUsed } from '../packages/prom-multiproc/src/format/format.js';
import { oldFormatFile } from './helpers/oldFormat.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { parseExposition, seriesValues } from './helpers/stressExposition.js';

const GROWER = fileURLToPath(new URL('./helpers/stressGrower.ts', import.meta.url));

const tempDir = scratchDirectories('prom-multiproc-badfiles-');
const warnings = capturedWarnings();

/** Two workers' files with counters, a max gauge and a histogram: what must always be served. */
function writeGoodFiles(dir: string): void {
  for (const [identity, amount] of [['good1', 3], ['good2', 4]] as const) {
    const store = new FileStore({ dir, identity });
    const requests = new Counter({ name: 'good_requests_total', help: 'Requests.', labelNames: ['route'], store, registers: [] });
    requests.labels('/a').inc(amount);
    requests.labels('/b').inc(amount * 10);
    new Gauge({ name: 'good_temperature', help: 'Hottest.', multiprocessMode: 'max', store, registers: [] }).set(amount * 2);
    const latency = new Histogram({ name: 'good_latency_seconds', help: 'Latency.', buckets: [0.1, 1], store, registers: [] });
    latency.observe(0.05 * amount);
    latency.observe(amount);
    store.close();
  }
}

/** A real file of other metrics, to damage: several label sets, so it has entries to cut through. */
function victimFile(): Buffer {
  const dir = tempDir();
  const store = new FileStore({ dir, identity: 'victim' });
  const counter = new Counter({ name: 'victim_events_total', help: 'Victim "events"\nhelp.', labelNames: ['kind'], store, registers: [] });
  for (const kind of ['a', 'bb', 'ccc', 'dddd', 'ünï', 'x'.repeat(40)]) counter.labels(kind).inc(kind.length);
  store.close();
  return readFileSync(path.join(dir, 'counter_victim.db'));
}

function goodOnly(families: MetricFamily[]): MetricFamily[] {
  return families.filter((family) => family.name.startsWith('good_'));
}

let baseline: MetricFamily[];
before(async () => {
  const dir = tempDir();
  writeGoodFiles(dir);
  baseline = (await collectDirectory(dir)).families;
  assert.equal(baseline.length, 3);
});

const OLD_FORMAT_KEYS = ['["old", "old_total", {}, "Old."]', '["old", "old_total", {"a": "b"}, "Old."]'];

/** An 8-byte-aligned header-plus-entry file with `used` and the first key length as given. */
function withHeader(used: number, keyLength?: number, size = 4096): Buffer {
  const bytes = Buffer.alloc(size);
  bytes.writeInt32LE(used, 0);
  if (keyLength !== undefined) bytes.writeInt32LE(keyLength, HEADER_SIZE);
  return bytes;
}


/** A well-formed file holding one entry with this key (as written, not validated). */
function fileWithKey(key: string): Buffer {
  const keyBytes = Buffer.from(key);
  const bytes = Buffer.alloc(4096);
  writeEntry(bytes, HEADER_SIZE, keyBytes, 1, 0);
  writeUsed(bytes, HEADER_SIZE + entrySize(keyBytes.length));
  return bytes;
}

// A real SQLite 3 database (one table, one row), deflated: made with
// sqlite3 t.db "create table samples(name text, value real); insert into samples values ('counter_total', 1.5);"
const SQLITE_DATABASE = inflateSync(Buffer.from(
  'eNrt1z0KwlAMB/C8KjpJ3RS6ZFNBXDyAVunWRe0uz/IE4bWVNhWv1gv1DI4irYuLOAr/H4SQjylbDrvwIobPWZ5o4SUNSSlaMxOR08abIqLuR/2NQ4tYDV7LbkVuRQAAAAAAAADwi0D1Rp6nYtEnawqdXK0p2uRs94EfBRz5mzDgtjlNdWJYzF3mfNO2NJwbbWfNb16TW+OkAAAAAAAAAP9trDqTfpyVqZj8KJlou3o0kycArig/',
  'base64',
));

/** A deterministic stream of bytes (xorshift), so a failing case can be rerun. */
function randomBytes(seed: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

interface BadFile {
  what: string;
  name: string;
  make(file: string): void;
  /** Part of the reason the collector gives. */
  reason: RegExp;
}

function bytesFile(bytes: Buffer): (file: string) => void {
  return (file) => writeFileSync(file, bytes);
}

const hasMkfifo = spawnSync('mkfifo', ['--version']).status === 0;

const BAD_FILES: BadFile[] = [
  { what: 'a 0-byte file', name: 'counter_empty.db', make: bytesFile(Buffer.alloc(0)), reason: /empty \(0 bytes\)/ },
  { what: 'a file shorter than its header', name: 'counter_short.db', make: bytesFile(Buffer.from([8, 0, 0])), reason: /shorter than its 8-byte header/ },
  ...[1, 2, 3].map((seed): BadFile => ({
    what: `random bytes (seed ${seed})`, name: `histogram_random${seed}.db`, make: bytesFile(randomBytes(seed, 500 * seed)), reason: /used|key length|padded|not valid/,
  })),
  { what: '`used` past the end', name: 'counter_usedpast.db', make: bytesFile(withHeader(4104)), reason: /header says 4104 bytes are used, but the file has 4096/ },
  { what: '`used` negative', name: 'counter_usedneg.db', make: bytesFile(withHeader(-8)), reason: /header says -8 bytes are used/ },
  { what: '`used` = 2^31-1 in a small file', name: 'counter_usedmax.db', make: bytesFile(withHeader(2 ** 31 - 1)), reason: /header says 2147483647 bytes are used/ },
  { what: 'a key length past the end', name: 'gauge_all_keypast.db', make: bytesFile(withHeader(64, 1_000_000)), reason: /key length 1000000/ },
  { what: 'a negative key length', name: 'gauge_all_keyneg.db', make: bytesFile(withHeader(64, -3)), reason: /key length -3/ },
  { what: 'a file of the 0.16/0.17 format (no timestamps)', name: 'counter_oldformat.db', make: bytesFile(oldFormatFile(OLD_FORMAT_KEYS, 5)), reason: /another format/ },
  { what: 'an SQLite database named counter_1.db', name: 'counter_1.db', make: bytesFile(SQLITE_DATABASE), reason: /header says \d+ bytes are used, but the file has 8192/ },
  {
    what: 'a well-formed key with an empty metric name', name: 'counter_emptyname.db',
    make: bytesFile(fileWithKey('["", "_total", {}, "h"]')), reason: /a name is empty/,
  },
  {
    what: 'a well-formed key whose sample is outside its family', name: 'counter_badsample.db',
    make: bytesFile(fileWithKey('["evil", "evil0total", {}, "h"]')), reason: /evil0total cannot be a sample of the counter evil/,
  },
  { what: 'a directory named like a file', name: 'gauge_max_dir.db', make: (file) => mkdirSync(file), reason: /a directory/ },
  { what: 'a symlink to /dev/zero', name: 'summary_zero.db', make: (file) => symlinkSync('/dev/zero', file), reason: /symbolic link/ },
  {
    what: 'a symlink to a good file outside the directory', name: 'counter_link.db',
    make: (file) => {
      const outside = path.join(tempDir(), 'counter_1.db');
      writeFileSync(outside, SQLITE_DATABASE);
      symlinkSync(outside, file);
    },
    reason: /symbolic link/,
  },
  {
    what: 'a sparse 1.5 GiB file claiming to be full', name: 'counter_huge.db',
    make: (file) => {
      const fd = openSync(file, 'w');
      ftruncateSync(fd, 1536 * 1024 * 1024);
      writeSync(fd, withHeader(1536 * 1024 * 1024 - 8, undefined, 8), 0, 8, 0);
      closeSync(fd);
    },
    // Read a window at a time like any large file: the first window finds no entry, and ends the read.
    reason: /entry at offset 8 has key length 0/,
  },
  ...(hasMkfifo
    ? [{ what: 'a FIFO named like a file', name: 'counter_fifo.db', make: (file: string) => assert.equal(spawnSync('mkfifo', [file]).status, 0), reason: /a FIFO/ }]
    : []),
];

async function scrapeAndCheck(dir: string, bad: BadFile[]): Promise<void> {
  const begun = performance.now();
  const collection = await collectDirectory(dir);
  const elapsed = performance.now() - begun;
  assert.deepEqual(goodOnly(collection.families), baseline, 'the good files are served exactly');
  assert.deepEqual(collection.families.filter((family) => !family.name.startsWith('good_')), [], 'nothing of the bad files is served');
  const skipped = new Map(collection.skipped.map(({ file, reason }) => [path.basename(file), reason]));
  assert.deepEqual([...skipped.keys()].sort(), bad.map((file) => file.name).sort());
  for (const file of bad) assert.match(skipped.get(file.name)!, file.reason, file.what);
  // Nothing was read in full or waited on: the huge file and the FIFO included.
  assert.ok(elapsed < 5000, `the scrape took ${Math.round(elapsed)} ms`);
}

describe('bad files in the directory, at scrape time', { timeout: 120_000 }, () => {
  for (const bad of BAD_FILES) {
    it(`skips and reports ${bad.what}, serving the good files`, async () => {
      const dir = tempDir();
      writeGoodFiles(dir);
      bad.make(path.join(dir, bad.name));
      await scrapeAndCheck(dir, [bad]);
    });
  }

  it('skips all of them at once; warns once per file, not per scrape; counts them in its own metric', async () => {
    const dir = tempDir();
    writeGoodFiles(dir);
    for (const bad of BAD_FILES) bad.make(path.join(dir, bad.name));
    const registry = new MultiprocessRegistry({ dir });
    const before = warnings.length;
    for (let scrape = 0; scrape < 5; scrape++) {
      await scrapeAndCheck(dir, BAD_FILES);
      const series = seriesValues(parseExposition(await registry.metrics(), 'text'));
      assert.equal(series.get('good_requests_total{route="/a"}'), 7);
      assert.equal(series.get('prom_multiproc_scrape_files_skipped{}'), BAD_FILES.length);
    }
    const mine = warnings.slice(before);
    assert.equal(mine.length, BAD_FILES.length, mine.join('\n'));
    for (const bad of BAD_FILES) {
      const about = mine.filter((message) => message.includes(path.join(dir, bad.name)));
      assert.equal(about.length, 1, `one warning naming ${bad.name}`);
      assert.match(about[0]!, bad.reason);
    }
  });

  it('compaction of the bad files\' identities leaves them alone, without hanging, and the scrape is unchanged', async () => {
    const dir = tempDir();
    writeGoodFiles(dir);
    for (const bad of BAD_FILES) bad.make(path.join(dir, bad.name));
    const dead = BAD_FILES.map((bad) => parseFileName(bad.name)!.id);
    const result = await compactDirectory(dir, { dead, detectDeadPids: false });
    assert.deepEqual(result.folded, []);
    await scrapeAndCheck(dir, BAD_FILES);
  });

  it('skips a file it may not read (permissions), as an unprivileged scraper', async (t) => {
    const dir = tempDir();
    writeGoodFiles(dir);
    const locked = path.join(dir, 'counter_locked.db');
    writeFileSync(locked, readFileSync(path.join(dir, 'counter_good1.db')));
    chmodSync(locked, 0o000);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      // Root reads anything: drop to nobody for the scrape (effective ids only, restored after).
      // The good files are the group-readable 0640 files of root; the scraper here is in no
      // group of root's, so they are opened up for it.
      chmodSync(dir, 0o755);
      for (const name of ['counter_good1.db', 'counter_good2.db', 'gauge_max_good1.db', 'gauge_max_good2.db', 'histogram_good1.db', 'histogram_good2.db']) {
        chmodSync(path.join(dir, name), 0o644);
      }
      process.setegid!(65534);
      process.seteuid!(65534);
    }
    try {
      await scrapeAndCheck(dir, [{ what: 'an unreadable file', name: 'counter_locked.db', make: () => {}, reason: /EACCES/ }]);
    } finally {
      if (asRoot) {
        process.seteuid!(0);
        process.setegid!(0);
      }
    }
    t.diagnostic(asRoot ? 'scraped as uid 65534' : `scraped as uid ${process.getuid?.()}`);
  });

  it('skips a real file truncated at every offset up to its `used`, and serves it whole from there on', async (t) => {
    const victim = victimFile();
    const used = readUsed(victim);
    const dir = tempDir();
    writeGoodFiles(dir);
    const file = path.join(dir, 'counter_victim.db');
    let skipped = 0;
    let served = 0;
    const lengths = [...Array.from({ length: used + 64 }, (_, n) => n), 4096, victim.length];
    for (const length of lengths) {
      writeFileSync(file, victim.subarray(0, length));
      const { families, skipped: skips } = await collectDirectory(dir);
      assert.deepEqual(goodOnly(families), baseline, `truncated at ${length}`);
      const victimFamily = families.find((family) => family.name === 'victim_events');
      if (length < used) {
        assert.equal(skips.length, 1, `truncated at ${length} of used=${used}: must be skipped`);
        assert.equal(victimFamily, undefined, `truncated at ${length}: nothing of it is served`);
        skipped++;
      } else {
        assert.deepEqual(skips, [], `truncated at ${length} >= used=${used}: the file is whole`);
        assert.equal(victimFamily?.samples.reduce((sum, sample) => sum + sample.value, 0), 1 + 2 + 3 + 4 + 3 + 40);
        served++;
      }
    }
    t.diagnostic(`${lengths.length} truncations of a ${used}-byte file: ${skipped} skipped, ${served} served whole`);
  });

  it('never throws, and always serves the good files, for mutated real files (fast-check)', async (t) => {
    const victim = victimFile().subarray(0, 2048);
    const used = readUsed(victim);
    const dir = tempDir();
    writeGoodFiles(dir);
    const file = path.join(dir, 'counter_victim.db');
    const int32s = fc.oneof(fc.constantFrom(0, -1, 1, 7, 8, used - 1, used, used + 1, 2 ** 31 - 1, -(2 ** 31)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('byte' as const), at: fc.nat({ max: used + 32 }), value: fc.nat({ max: 255 }) }),
      fc.record({ kind: fc.constant('int32' as const), at: fc.nat({ max: used }), value: int32s }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat({ max: used }), value: fc.nat({ max: 64 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat({ max: used }), value: fc.nat({ max: 64 }) }),
    );
    let skipped = 0;
    let served = 0;
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
      let bytes = Buffer.from(victim);
      for (const { kind, at, value } of mutations) {
        if (kind === 'byte') bytes[Math.min(at, bytes.length - 1)] = value;
        else if (kind === 'int32' && at + 4 <= bytes.length) bytes.writeInt32LE(value, at);
        else if (kind === 'cut') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + value)]);
        else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.alloc(value, 0x41), bytes.subarray(at)]);
      }
      writeFileSync(file, bytes);
      const { families, skipped: skips } = await collectDirectory(dir);
      assert.deepEqual(goodOnly(families), baseline);
      if (skips.length > 0) skipped++;
      else served++;
      // Whatever was decoded renders as a valid exposition: no name from a file breaks a line.
      parseExposition(await new MultiprocessRegistry({ dir }).metrics(), 'text');
    }), { numRuns: 400, seed: Number(process.env.FC_SEED ?? Date.now()) });
    t.diagnostic(`400 mutated files: ${skipped} skipped, ${served} decoded and served`);
  });

  it('reads files that grow and disappear while being read, without skipping one', async (t) => {
    const dir = tempDir();
    writeGoodFiles(dir);
    const grower = spawn(process.execPath, ['--import', 'tsx', GROWER, dir, '6000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    grower.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    let running = true;
    const ended = new Promise<number | null>((resolve) => grower.once('exit', (code) => {
      running = false;
      resolve(code);
    }));
    let scrapes = 0;
    const problems: string[] = [];
    while (running) {
      const { families, skipped } = await collectDirectory(dir);
      scrapes++;
      for (const skip of skipped) if (problems.length < 10) problems.push(`${skip.file}: ${skip.reason}`);
      if (JSON.stringify(goodOnly(families)) !== JSON.stringify(baseline)) problems.push(`scrape ${scrapes}: good files not served exactly`);
    }
    assert.equal(await ended, 0);
    assert.deepEqual(problems, []);
    const match = /cycles (\d+) growths (\d+)/.exec(output);
    assert.ok(match !== null && Number(match[2]) > 10, `the grower grew its files (${output.trim()})`);
    t.diagnostic(`${scrapes} scrapes during ${match[1]} grow-and-delete cycles (${match[2]} file growths), none skipped a file`);
  });
});

/** A counter file of these keys, each with the value 2. */
function fileWithKeys(keys: readonly string[]): Buffer {
  const bytes = Buffer.alloc(4096);
  let used = HEADER_SIZE;
  for (const key of keys) {
    const keyBytes = Buffer.from(key);
    writeEntry(bytes, used, keyBytes, 2, 0);
    used += entrySize(keyBytes.length);
  }
  writeUsed(bytes, used);
  return bytes;
}

describe('names outside the exposition rules, which Python 0.26 writes', () => {
  it('are escaped as Python escapes them (every other character, and a leading digit, becomes _); no line breaks, nothing else in the file lost', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'counter_1.db'), fileWithKeys([
      '["requests", "requests_total", {"route": "/a"}, "plain"]',
      '["my.dotted", "my.dotted_total", {"tenant.id": "t1", "x": "1"}, "dotted"]',
      '["9lives", "9lives_total", {}, "leading digit"]',
      '["bad name", "bad name_total", {}, "space"]',
      '["evil", "evil_total", {"a=\\"1\\"} 1\\ninjected_total{b": "x"}, "injection"]',
      '["caf\u00e9", "caf\u00e9_total", {"\ud83d\ude00": "v"}, "astral"]',
    ]));
    const collection = await collectDirectory(dir);
    assert.deepEqual(collection.skipped, []);
    const series = seriesValues(parseExposition(await new MultiprocessRegistry({ dir }).metrics(), 'text'));
    assert.equal(series.get('requests_total{route="/a"}'), 2);
    assert.equal(series.get('my_dotted_total{tenant_id="t1",x="1"}'), 2);
    assert.equal(series.get('_lives_total{}'), 2);
    assert.equal(series.get('bad_name_total{}'), 2);
    assert.equal(series.get('evil_total{a__1___1_injected_total_b="x"}'), 2);
    assert.equal(series.get('caf__total{_="v"}'), 2);
    assert.ok(![...series.keys()].some((name) => name.startsWith('injected_total')), 'no injected series');
  });
});

describe('files named like metrics files in a form not read here', () => {
  it('are named in a warning (Python\'s collector would read them), once each, and the rest is served', async () => {
    const dir = tempDir();
    writeGoodFiles(dir);
    const odd = ['counter_a_b.db', 'gauge_bogus_3.db', 'gauge_all_a_b.db'];
    for (const name of odd) writeFileSync(path.join(dir, name), fileWithKeys(['["odd", "odd_total", {}, "h"]']));
    writeFileSync(path.join(dir, 'notes.db'), 'not ours, not Python\'s');
    const before = warnings.length;
    for (let scrape = 0; scrape < 2; scrape++) assert.deepEqual(goodOnly((await collectDirectory(dir)).families), baseline);
    const mine = warnings.slice(before);
    assert.equal(mine.length, odd.length, mine.join('\n'));
    for (const name of odd) assert.ok(mine.some((message) => message.includes(`${path.join(dir, name)} is not read`)), name);
  });
});
