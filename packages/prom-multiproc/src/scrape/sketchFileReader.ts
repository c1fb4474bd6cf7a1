// Lists and reads the quantile side files of a metrics directory and merges them
// (sketch/mergeSketches.ts). A file that cannot be read or decoded is left out, reported once
// (report.ts) with its path and what is wrong, and returned in `skipped`; every other file is
// merged.
import { promises as fsp, constants } from 'node:fs';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { reportOnce } from '../common/report.js';
import { mergeQuantileFiles, type QuantileSource, type SeriesQuantiles } from '../sketch/mergeSketches.js';
import { parseQuantileFileName } from '../sketch/quantileFileName.js';

export interface SkippedQuantileFile {
  file: string;
  reason: string;
  /** Whether the file's bytes are what is wrong (rather than reading it). */
  damaged: boolean;
}

export interface QuantileCollection {
  /** By entry key of each summary series' `_count` sample. */
  series: Map<string, SeriesQuantiles>;
  /** Files left out whole: unreadable, or damaged. */
  skipped: SkippedQuantileFile[];
  /** How many files were merged. */
  filesMerged: number;
}

export interface ReadQuantilesOptions {
  /** The clock that decides which slots are still in their window, ms since the epoch; Date.now by default. */
  now?: () => number;
}

export async function readDirectoryQuantiles(dir: string, options: ReadQuantilesOptions = {}): Promise<QuantileCollection> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    throw new MultiprocessDirectoryError(`cannot list the metrics directory ${dir} for summary quantiles: ${(error as Error).message}`, dir);
  }
  const sources: QuantileSource[] = [];
  const skipped: SkippedQuantileFile[] = [];
  for (const name of names.sort()) {
    if (parseQuantileFileName(name) === undefined) continue;
    const file = path.join(dir, name);
    try {
      sources.push({ file, bytes: await readNoFollow(file) });
    } catch (error) {
      // Removed between the listing and the read (clean, a process's cleanup): nothing to merge.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      skipped.push({ file, reason: (error as Error).message, damaged: false });
    }
  }
  const { series, problems, filesMerged } = mergeQuantileFiles(sources, (options.now ?? Date.now)());
  for (const { file, reason, fileLeftOut } of problems) {
    if (fileLeftOut) skipped.push({ file, reason, damaged: true });
    else reportOnce(`quantiles\u0000${file}\u0000${reason}`, new Error(`prom-multiproc merged ${file} into the summary quantiles in part: ${reason}.`));
  }
  skipped.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const { file, reason } of skipped) {
    reportOnce(`quantiles\u0000${file}\u0000${reason}`, new Error(
      `prom-multiproc left ${file} out of the summary quantiles: ${reason}. The other processes' quantiles are merged; ` +
        'a running process rewrites its file within a second, and "prom-multiproc clean" removes those of processes that are gone.',
    ));
  }
  return { series, skipped, filesMerged };
}

async function readNoFollow(file: string): Promise<Buffer> {
  const handle = await fsp.open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
