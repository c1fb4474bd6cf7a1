// Child side of tools/bench-scrape.ts for our collector: a fresh process, a fresh registry, one
// cold scrape, then `repeats` warm ones with the same registry (what it keeps between scrapes
// filled, the directory unchanged), then `repeats` "changed" ones, before each of which every
// file's bytes change in place (the timestamp of its first entry, which a counter's or
// histogram's merge ignores), as if every worker had recorded something since the last scrape.
// The first exposition goes to `outFile` for the parent to check; every later one must be the
// same text. Run as: node --import tsx tools/bench-scrape/scrapeNode.ts <dir> <repeats> <outFile>

import { closeSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { readEntries } from '../../packages/prom-multiproc/src/format.js';
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
  const [dir, repeatsText, outFile] = process.argv.slice(2);
  if (dir === undefined || outFile === undefined) throw new Error('usage: scrapeNode.ts <dir> <repeats> <outFile>');
  const repeats = Number(repeatsText);
  const { MultiprocessRegistry } = await loadLibrary();
  const registry = new MultiprocessRegistry({ dir });
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  let start = process.hrtime.bigint();
  const first = await registry.metrics();
  const coldMs = elapsedMs(start);
  const collection = registry.lastCollection!;
  if (collection.skipped.length > 0) throw new Error(`files skipped: ${JSON.stringify(collection.skipped.slice(0, 3))}`);
  writeFileSync(outFile, first);

  const warmMs: number[] = [];
  const warmCpuMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const cpuStart = cpuMs();
    start = process.hrtime.bigint();
    const text = await registry.metrics();
    warmMs.push(elapsedMs(start));
    warmCpuMs.push(cpuMs() - cpuStart);
    if (text !== first) throw new Error(`scrape ${i + 2} differs from the first`);
  }
  const changedMs: number[] = [];
  const changedCpuMs: number[] = [];
  const touch = firstTimestampOffsets(dir);
  for (let i = 0; i < repeats; i++) {
    touch(i + 1);
    const cpuStart = cpuMs();
    start = process.hrtime.bigint();
    const text = await registry.metrics();
    changedMs.push(elapsedMs(start));
    changedCpuMs.push(cpuMs() - cpuStart);
    if (text !== first) throw new Error(`changed scrape ${i + 1} differs from the first`);
  }
  const result: NodeScrapeResult = {
    coldMs,
    warmMs,
    warmCpuMs,
    changedMs,
    changedCpuMs,
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
