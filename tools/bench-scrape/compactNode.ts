// Child side of tools/bench-scrape.ts: folds every worker of the directory into the archive,
// in a fresh process, and times it. Run as:
//   node --import tsx tools/bench-scrape/compactNode.ts <dir> <identities> [<per call>]
// for identities w0 .. w<n-1>, told dead `per call` at a time (default: all in one call).

import { loadLibrary } from './library.js';

export interface CompactResult {
  ms: number;
  calls: number;
  folded: number;
  filesRemoved: number;
}

async function main(): Promise<void> {
  const [dir, countText, perCallText] = process.argv.slice(2);
  const count = Number(countText);
  const perCall = perCallText === undefined ? count : Number(perCallText);
  if (dir === undefined || !(count > 0) || !(perCall > 0)) throw new Error('usage: compactNode.ts <dir> <identities> [<per call>]');
  const { compactDirectory } = await loadLibrary();
  const dead = Array.from({ length: count }, (_, i) => `w${i}`);
  let folded = 0;
  let filesRemoved = 0;
  let calls = 0;
  const start = process.hrtime.bigint();
  for (let from = 0; from < count; from += perCall) {
    const result = await compactDirectory(dir, { dead: dead.slice(from, from + perCall), detectDeadPids: false });
    folded += result.folded.length;
    filesRemoved += result.filesRemoved;
    calls++;
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (folded !== count) throw new Error(`folded ${folded} identities of ${count}`);
  const result: CompactResult = { ms, calls, folded, filesRemoved };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
