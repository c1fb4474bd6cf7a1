// Child side of tools/bench-scrape.ts for our collector: a fresh process, a fresh registry, one
// cold scrape, then `repeats` warm ones with the same registry (what it keeps between scrapes
// filled, the directory unchanged), then `repeats` "changed" ones, before each of which every
// file's bytes change in place (the timestamp of its first entry, which a counter's or
// histogram's merge ignores), as if every worker had recorded something since the last scrape.
// The first exposition goes to `outFile` for the parent to check; every later one must be the
// same text. Before each timed series, `warmup` scrapes of the same kind run untimed: a service is
// scraped every few seconds for as long as it runs, so what counts is the state V8's compiler
// reaches after a few scrapes, not its first minutes.
// Run as: node --import tsx tools/bench-scrape/scrapeNode.ts <dir> <repeats> <outFile> [<warmup>]

import { closeSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { readEntries } from '../../packages/prom-multiproc/src/format/format.js';
import { loadLibrary, peakRssMiB } from './library.js';

export interface NodeScrapeResult {
  coldMs: number;
  warmMs: number[];
  /** CPU time (user + system, all threads) of each warm scrape: steadier than wall time on a busy machine. */
  warmCpuMs: number[];
  /** Scrapes after every file changed in place. */
  changedMs: number[];
  changedCpuMs: number[];
  filesRead: number;
  /** Resident set before the first scrape (the process with the library loaded), in MiB. */
  rssBeforeMiB: number;
  /** Peak resident set of the process, in MiB. */
  maxRssMiB: number;
}

const elapsedMs = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

async function main(): Promise<void> {
  const [dir, repeatsText, outFile, warmupText = '0'] = process.argv.slice(2);
  if (dir === undefined || outFile === undefined) throw new Error('usage: scrapeNode.ts <dir> <repeats> <outFile> [<warmup>]');
  const repeats = Number(repeatsText);
  const warmup = Number(warmupText);
  const { MultiprocessRegistry } = await loadLibrary();
  const registry = new MultiprocessRegistry({ dir });
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  let start = process.hrtime.bigint();
  const first = await registry.metrics();
  const coldMs = elapsedMs(start);
  const collection = registry.lastCollection!;
  if (collection.skipped.length > 0) throw new Error(`files skipped: ${JSON.stringify(collection.skipped.slice(0, 3))}`);
  writeFileSync(outFile, first);

  /** `warmup` untimed scrapes, then `repeats` timed ones, each after `before(i)`; every text must be the first. */
  async function series(what: string, before: (i: number) => void): Promise<{ ms: number[]; cpuMs: number[] }> {
    const times = { ms: [] as number[], cpuMs: [] as number[] };
    for (let i = 0; i < warmup + repeats; i++) {
      before(i);
      const cpuStart = cpuMs();
      start = process.hrtime.bigint();
      const text = await registry.metrics();
      if (i >= warmup) {
        times.ms.push(elapsedMs(start));
        times.cpuMs.push(cpuMs() - cpuStart);
      }
      if (text !== first) throw new Error(`${what} scrape ${i + 1} differs from the first`);
    }
    return times;
  }
  const warm = await series('warm', () => {});
  const touch = firstTimestampOffsets(dir);
  const changed = await series('changed', (i) => touch(i + 1));
  const result: NodeScrapeResult = {
    coldMs,
    warmMs: warm.ms,
    warmCpuMs: warm.cpuMs,
    changedMs: changed.ms,
    changedCpuMs: changed.cpuMs,
    filesRead: collection.filesRead,
    rssBeforeMiB,
    maxRssMiB: peakRssMiB(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** A function that writes `stamp` as the first entry's timestamp in every counter and histogram file of `dir`. */
function firstTimestampOffsets(dir: string): (stamp: number) => void {
  const files = readdirSync(dir)
    .filter((name) => /^(counter|histogram)_.*\.db$/.test(name))
    .map((name) => ({ file: path.join(dir, name), offset: readEntries(readFileSync(path.join(dir, name)))[0]!.valueOffset + 8 }));
  const bytes = Buffer.alloc(8);
  return (stamp) => {
    bytes.writeDoubleLE(stamp);
    for (const { file, offset } of files) {
      const fd = openSync(file, 'r+');
      writeSync(fd, bytes, 0, 8, offset);
      closeSync(fd);
    }
  };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
