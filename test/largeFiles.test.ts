// Issue "Every number exact", item 8: files over 256 MiB. The format allows a file up to the
// int32 `used` limit (2 GiB), and Python's collector reads it; ours must too, with memory that
// follows the file's series, not its size, and the writer must say when a file grows that
// large, since it is almost always a label with too many values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Counter, FileStore, collectDirectory, compactDirectory } from '../packages/prom-multiproc/src/index.js';
import { HEADER_SIZE, INITIAL_FILE_SIZE, entrySize, grownCapacity, writeEntry, writeUsed } from '../packages/prom-multiproc/src/format/format.js';
import { entryKey } from '../packages/prom-multiproc/src/format/pythonJson.js';
import { capturedWarnings, scratchDirectories } from './helpers/scratch.js';
import { writeSparseFile } from './helpers/sparseFile.js';

const SCRAPER = fileURLToPath(new URL('./helpers/largeFileScrape.ts', import.meta.url));
const MiB = 1024 * 1024;

const tempDir = scratchDirectories('prom-multiproc-large-');
const warnings = capturedWarnings();

/**
 * Writes a counter file of more than `minUsed` bytes in use: entries of BIG_SERIES label sets
 * of `big_payload` (each label value 64 KiB), in turn, each entry 1, then one `unrelated_total`
 * entry of 1000 at the end. A key appears many times over: the format allows it (both readers
 * sum a counter's repeats), and it is the only way a file's bytes outgrow what its distinct
 * series take, which is what a test of memory that follows series needs. Written a few MiB at
 * a time with the format's encoder; the file is sized as the writer would have grown it.
 * Returns how many `big_payload` entries it holds and its `used`.
 */
const BIG_SERIES = 16;
function writeLargeCounterFile(file: string, minUsed: number): { bigEntries: number; used: number } {
  const bigKeys = Array.from({ length: BIG_SERIES }, (_, i) =>
    Buffer.from(entryKey('big_payload', 'big_payload_total', ['payload'], [`${i}:${'p'.repeat(64 * 1024)}`], 'Payloads.')));
  const unrelatedKey = Buffer.from(entryKey('unrelated', 'unrelated_total', [], [], 'Unrelated events.'));
  const fd = openSync(file, 'w', 0o644);
  try {
    const chunk = Buffer.alloc(4 * MiB);
    let used = HEADER_SIZE;
    let filled = HEADER_SIZE; // the header is written last, at offset 0
    let chunkStart = 0;
    let bigEntries = 0;
    const append = (key: Buffer, value: number): void => {
      const size = entrySize(key.length);
      if (filled + size > chunk.length) {
        writeSync(fd, chunk, 0, filled, chunkStart);
        chunkStart += filled;
        filled = 0;
      }
      writeEntry(chunk, filled, key, value, 0);
      filled += size;
      used += size;
    };
    while (used < minUsed) append(bigKeys[bigEntries++ % BIG_SERIES]!, 1);
    append(unrelatedKey, 1000);
    writeSync(fd, chunk, 0, filled, chunkStart);
    ftruncateSync(fd, grownCapacity(INITIAL_FILE_SIZE, used));
    const header = Buffer.alloc(HEADER_SIZE);
    writeUsed(header, used);
    writeSync(fd, header, 0, HEADER_SIZE, 0);
    return { bigEntries, used };
  } finally {
    closeSync(fd);
  }
}


/**
 * Totals per sample name and the number of distinct keys of the given files, read as the
 * reference client's reader reads them (written from the format description, standard
 * library only). Each file is read whole, as Python's collector does.
 */
const PYTHON_FORMAT_READER = `
import json, struct, sys
totals, parsed = {}, {}
for name in sys.argv[1:]:
    data = open(name, 'rb').read()
    used = struct.unpack_from('i', data, 0)[0]
    pos = 8
    while pos < used:
        n = struct.unpack_from('i', data, pos)[0]
        key = data[pos + 4:pos + 4 + n].decode('utf-8')
        pos += 4 + n + (8 - (n + 4) % 8)
        value, timestamp = struct.unpack_from('dd', data, pos)
        pos += 16
        if key not in parsed:
            parsed[key] = json.loads(key)[1]
        totals[parsed[key]] = totals.get(parsed[key], 0) + value
print(json.dumps({'totals': totals, 'series': len(parsed)}))
`;

/** The reference client's own collector: totals per sample name of a directory. */
const PYTHON_COLLECTOR = `
import json, sys
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
registry = CollectorRegistry()
MultiProcessCollector(registry, path=sys.argv[1])
totals = {}
for family in registry.collect():
    for sample in family.samples:
        totals[sample.name] = totals.get(sample.name, 0) + sample.value
print(json.dumps(totals))
`;

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;
const hasPythonClient = hasPython && spawnSync('python3', ['-c', 'import prometheus_client']).status === 0;

function runPython(script: string, args: string[]): unknown {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 16 * MiB });
  assert.equal(result.status, 0, `python3: ${result.error?.message ?? result.stderr}`);
  return JSON.parse(result.stdout);
}

interface ScrapeReport {
  rssBeforeBytes: number;
  rssPeakBytes: number;
  scrapes: { ms: number; skipped: string[]; totals: Record<string, number>; series: Record<string, number> }[];
  warnings: string[];
}

function scrapeInChild(dir: string): ScrapeReport {
  const result = spawnSync(process.execPath, ['--import', 'tsx', SCRAPER, dir], { encoding: 'utf8', maxBuffer: 16 * MiB, timeout: 120_000 });
  assert.equal(result.status, 0, `scraper: ${result.error?.message ?? result.stderr}`);
  return JSON.parse(result.stdout) as ScrapeReport;
}

describe('files over 256 MiB', { timeout: 300_000 }, () => {
  it('a 257 MiB file is merged exactly, by a scrape whose memory follows its series, not its size; compaction folds it', async () => {
    const dir = tempDir();
    const small = new FileStore({ dir, identity: 'small' });
    new Counter({ name: 'unrelated_total', help: 'Unrelated events.', store: small, registers: [] }).inc(42);
    small.close();
    const bigFile = path.join(dir, 'counter_big.db');
    const { bigEntries, used } = writeLargeCounterFile(bigFile, 257 * MiB);
    assert.ok(used > 257 * MiB);

    if (hasPython) {
      const read = runPython(PYTHON_FORMAT_READER, [bigFile]) as { totals: Record<string, number>; series: number };
      assert.deepEqual(read, { totals: { big_payload_total: bigEntries, unrelated_total: 1000 }, series: BIG_SERIES + 1 });
    }
    if (hasPythonClient) {
      const python = runPython(PYTHON_COLLECTOR, [dir]) as Record<string, number>;
      assert.equal(python.unrelated_total, 1042, "Python's collector");
      assert.equal(python.big_payload_total, bigEntries, "Python's collector");
    }

    // Damage beside it, which must still be skipped without reading what it claims: a sparse
    // GiB whose header claims more than the file holds, and 300 MiB of zeros claiming 300 MiB.
    writeSparseFile(path.join(dir, 'counter_claimsmore.db'), 1024 * MiB, 2 ** 31 - 1);
    writeSparseFile(path.join(dir, 'counter_zeros.db'), 300 * MiB, 300 * MiB);

    const report = scrapeInChild(dir);
    for (const scrape of report.scrapes) {
      assert.equal(scrape.totals.unrelated_total, 1042, 'the counter of the large file is counted');
      assert.equal(scrape.totals.big_payload_total, bigEntries);
      assert.equal(scrape.series.big_payload_total, BIG_SERIES);
      assert.equal(scrape.skipped.length, 2, scrape.skipped.join('\n'));
      assert.match(scrape.skipped.join('\n'), /counter_claimsmore\.db: header says 2147483647 bytes are used, but the file has 1073741824/);
      assert.match(scrape.skipped.join('\n'), /counter_zeros\.db: entry at offset 8 has key length 0/);
    }
    const grew = report.rssPeakBytes - report.rssBeforeBytes;
    console.log(
      `large file: ${(used / MiB).toFixed(1)} MiB in use; scraper peak RSS ${(report.rssPeakBytes / MiB).toFixed(1)} MiB ` +
        `(${(report.rssBeforeBytes / MiB).toFixed(1)} MiB before scraping, +${(grew / MiB).toFixed(1)} MiB); ` +
        `scrapes took ${report.scrapes.map(({ ms }) => `${ms.toFixed(0)} ms`).join(' and ')}`,
    );
    // Reading the file whole would take its size on top of the process's own ~90 MiB.
    assert.ok(grew < used / 4, `scraping grew the peak RSS by ${grew} bytes for a file of ${used}`);
    assert.ok(report.rssPeakBytes < (used * 3) / 4, `peak RSS ${report.rssPeakBytes} bytes for a file of ${used}`);

    const compaction = await compactDirectory(dir, { dead: ['big', 'small'], detectDeadPids: false });
    assert.deepEqual(compaction.folded, ['big', 'small']);
    const { families } = await collectDirectory(dir);
    const totalOf = (name: string) => families.flatMap((family) => family.samples).filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);
    assert.equal(totalOf('unrelated_total'), 1042, 'after compaction');
    assert.equal(totalOf('big_payload_total'), bigEntries, 'after compaction');
  });

  it('the writer warns once when its file passes 64 MiB, naming the file and the metric with the most series', () => {
    const dir = tempDir();
    const store = new FileStore({ dir, identity: 'wide' });
    const narrow = new Counter({ name: 'narrow_total', help: 'A few series.', labelNames: ['route'], store, registers: [] });
    const wide = new Counter({ name: 'wide_requests_total', help: 'One series per user.', labelNames: ['user'], store, registers: [] });
    for (const route of ['/a', '/b', '/c']) narrow.labels(route).inc();
    const file = path.join(dir, 'counter_wide.db');
    const warned = () => warnings.filter((message) => message.includes(file));
    const longLabel = 'u'.repeat(64 * 1024);
    let users = 0;
    const addUsers = (count: number) => {
      for (let i = 0; i < count; i++) wide.labels(`${users++}:${longLabel}`).inc();
      store.flush();
    };
    addUsers(900); // about 58 MiB
    assert.deepEqual(warned(), [], 'no warning below 64 MiB');
    addUsers(200); // past 64 MiB
    assert.equal(warned().length, 1, warnings.join('\n'));
    const message = warned()[0]!;
    assert.match(message, /64 MiB/);
    assert.match(message, /wide_requests/);
    const [, entries, total] = /(\d+) of its (\d+) entries/.exec(message) ?? [];
    assert.equal(Number(total), Number(entries) + 3, message);
    assert.match(message, /fewer label values/);
    assert.doesNotMatch(message, /narrow/);
    addUsers(1000); // past 128 MiB: the file doubles again, and is not reported again
    assert.equal(warned().length, 1, warnings.join('\n'));
    store.close();
  });
});
