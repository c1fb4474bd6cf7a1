// Child side of tools/bench-scrape.ts for our collector: a fresh process, a fresh registry, one
// cold scrape, then `repeats` warm ones with the same registry (its key cache filled). The
// first exposition goes to `outFile` for the parent to check; every later one must be the same
// text. Run as: node --import tsx tools/bench-scrape/scrapeNode.ts <dir> <repeats> <outFile>

import { writeFileSync } from 'node:fs';
import { loadLibrary, peakRssMiB } from './library.js';

export interface NodeScrapeResult {
  coldMs: number;
  warmMs: number[];
  /** CPU time (user + system, all threads) of each warm scrape: steadier than wall time on a busy machine. */
  warmCpuMs: number[];
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
  const result: NodeScrapeResult = {
    coldMs,
    warmMs,
    warmCpuMs,
    filesRead: collection.filesRead,
    rssBeforeMiB,
    maxRssMiB: peakRssMiB(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
