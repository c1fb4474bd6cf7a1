// The scrape side: list the directory, read our files, merge. A file that cannot be read is
// skipped and reported (once), and the rest is served: one bad file must not take every
// metric down, as it does in the reference client.

import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { FileFormatError } from '../format/format.js';
import { fileKindOf, fileNameOf, parseFileName, type FileKind, type ParsedFileName } from '../format/fileNames.js';
import { Merger, type BucketConflict, type MetricFamily } from './merge.js';
import { decodeEntries, type FileRecords, type KeyCache } from '../format/decode.js';
import { FileLayouts } from '../format/fileLayouts.js';
import { floatToGoString } from '../format/pythonFloat.js';
import { listMetricsFiles } from '../directory/listMetricsFiles.js';
import { EMPTY_MANIFEST, readManifest, sameManifest, visibleUnder, type Manifest } from '../directory/manifest.js';
import { reportOnce } from '../common/report.js';
import { ScrapeCache } from './scrapeCache.js';
import { fileInDirectory } from './fileInDirectory.js';
import type { SeriesStore } from '../storage/store.js';

// Files read and merged between two yields to the event loop: a few milliseconds of work.
const FILES_PER_SLICE = 64;

export interface SkippedFile {
  file: string;
  reason: string;
  /** Whether the file's bytes are what is wrong (rather than reading it: permissions, descriptors). */
  damaged?: boolean;
}

export interface Collection {
  families: MetricFamily[];
  /** Files of ours that could not be read this time, and why. */
  skipped: SkippedFile[];
  /** How many metrics files were merged. */
  filesRead: number;
}

export interface CollectOptions {
  /**
   * What to keep between scrapes (open files, their layout, decoded keys): a collector that
   * scrapes the same directory again passes the same cache. Without one, nothing is kept.
   */
  cache?: ScrapeCache;
  /** Which of the listed files to merge (compaction hides the files it has folded). */
  select?: (file: ParsedFileName, name: string) => boolean;
}

function readOne(cache: ScrapeCache, dir: string, name: string, file: ParsedFileName, layouts: FileLayouts): FileRecords | SkippedFile | undefined {
  try {
    return cache.read(dir, name, file, layouts);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Deleted between the listing and the read (a process marked dead): nothing to merge.
    if (code === 'ENOENT') return undefined;
    const file = fileInDirectory(dir, name);
    if (error instanceof FileFormatError) return { file, reason: error.message, damaged: true };
    return { file, reason: `${(error as Error).message}${READ_ERROR_HINTS[code ?? ''] ?? ''}` };
  }
}

// What to do about the errors a read of a sound file can meet.
const NOT_ALLOWED = ' (this process may not read it: check the file\'s owner and mode, and the directory\'s)';
const READ_ERROR_HINTS: Record<string, string> = {
  EMFILE: ' (this process has too many files open: raise its limit, ulimit -n, or lower maxKeptFiles)',
  ENFILE: ' (the system has too many files open)',
  EACCES: NOT_ALLOWED,
  EPERM: NOT_ALLOWED,
};

// A compaction that commits while a scrape reads makes the scrape start over. When
// compactions keep committing faster than a scrape can read (a large directory under heavy
// worker churn), the scrape takes the compactors' lock instead, and waits for none after it.
const OPTIMISTIC_ATTEMPTS = 3;

/**
 * Reads and merges every metrics file in `dir`: the processes' files and the current archive
 * of compacted ones. Consistent with a compaction running at the same time: the read is
 * repeated when a compaction committed during it (see directory/manifest.ts).
 */
export async function collectDirectory(dir: string, options: CollectOptions = {}): Promise<Collection> {
  for (let attempt = 1; attempt <= OPTIMISTIC_ATTEMPTS; attempt++) {
    const before = manifestOf(dir);
    const collection = await collectOnce(dir, visibleUnder(before), options);
    if (sameManifest(before, manifestOf(dir))) return collection;
  }
  try {
    // Loaded when needed: it brings the lock library, which most scrapes never use.
    const { withDirectoryLock } = await import('../directory/directoryLock.js');
    return await withDirectoryLock(dir, async () => collectOnce(dir, visibleUnder(manifestOf(dir)), options));
  } catch (error) {
    if (error instanceof MultiprocessDirectoryError) throw error;
    // A reader that may not write the directory cannot lock it: the last read will have to do.
    reportOnce(`scrape-lock\u0000${dir}`, new Error(
      `a scrape of ${dir} kept overlapping compactions and could not take their lock (${(error as Error).message}); it may count a compacted process twice or not at all`,
    ));
    return collectOnce(dir, visibleUnder(manifestOf(dir)), options);
  }
}

function manifestOf(dir: string): Manifest {
  try {
    return readManifest(dir);
  } catch (error) {
    // A "directory" that is a file has no manifest: the listing reports it, in its own words.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return EMPTY_MANIFEST;
    reportOnce(`manifest\u0000${dir}`, new Error(
      `the compaction manifest in ${dir} cannot be read (${(error as Error).message}); archives other than the first are left out until a compaction rewrites it`,
    ));
    return EMPTY_MANIFEST;
  }
}

async function collectOnce(dir: string, visible: (file: ParsedFileName) => boolean, options: CollectOptions): Promise<Collection> {
  const cache = options.cache ?? new ScrapeCache({ maxKeptFiles: 0 });
  const listed = (await cache.list(dir, listMetricsFiles)).filter(({ name, file }) => visible(file) && (options.select?.(file, name) ?? true));
  const merger = new Merger();
  // This scrape's only: a long-lived registry keeps each file's own records instead.
  const layouts = new FileLayouts();
  const skipped: SkippedFile[] = [];
  let filesRead = 0;
  for (let index = 0; index < listed.length; index++) {
    // A large directory is read in slices, so a worker serving /metrics keeps answering its
    // own traffic while it scrapes.
    if (index > 0 && index % FILES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const { name, file } = listed[index]!;
    const result = readOne(cache, dir, name, file, layouts);
    if (result === undefined) continue;
    if ('reason' in result) {
      skipped.push(result);
      const advice = result.damaged === true
        ? 'remove the file (or run "prom-multiproc clean" before the service starts) if it is not a metrics file.'
        : 'the next scrape reads it again.';
      reportOnce(`scrape\u0000${result.file}\u0000${result.reason}`, new Error(
        `prom-multiproc skipped ${result.file} while merging metrics: ${result.reason}. The other files are served; ${advice}`,
      ));
      continue;
    }
    merger.add(result);
    filesRead++;
  }
  for (const conflict of merger.conflicts) {
    reportOnce(`mode\u0000${dir}\u0000${conflict.family}\u0000${conflict.alsoWrittenAs}`, new Error(
      `gauge ${conflict.family} is in files of mode ${conflict.mode} and of mode ${conflict.alsoWrittenAs} in ${dir}; ` +
        `all its values are merged as ${conflict.mode}. Give every process the same multiprocessMode, and clean the directory when it changes.`,
    ));
  }
  for (const conflict of merger.bucketConflicts()) reportBucketConflict(dir, conflict);
  return { families: merger.result(), skipped, filesRead };
}

// Layouts named in one warning; a histogram written with more is named with how many.
const LAYOUTS_SHOWN = 3;

function reportBucketConflict(dir: string, { family, layouts }: BucketConflict): void {
  const shown = layouts.slice(0, LAYOUTS_SHOWN).map(({ bounds, file }) =>
    `${path.join(dir, fileNameOf(file.kind, file.id))} has le=${bounds.map(floatToGoString).join(',')}`,
  );
  if (layouts.length > LAYOUTS_SHOWN) shown.push(`and ${layouts.length - LAYOUTS_SHOWN} more layouts`);
  reportOnce(`buckets\u0000${dir}\u0000${family}\u0000${layouts.map(({ bounds }) => bounds.join(' ')).join('\u0000')}`, new Error(
    `histogram ${family} has different bucket bounds in different files of ${dir} (${shown.join('; ')}): ` +
      `its merged buckets at bounds only some files have (le=${unsharedBounds(layouts).map(floatToGoString).join(',')}) leave out the other files' ` +
      'observations below them; _count and _sum stay right. Give every process the same buckets, and clean the directory once they agree.',
  ));
}

/** The bounds that some layouts have and others lack: where the merged buckets undercount. */
function unsharedBounds(layouts: BucketConflict['layouts']): number[] {
  const all = new Set(layouts.flatMap(({ bounds }) => bounds));
  return [...all].filter((bound) => !layouts.every(({ bounds }) => bounds.includes(bound))).sort((a, b) => a - b);
}

/** The collector's own view of a scrape, so a skipped file shows on dashboards, not just in logs. */
export function collectionHealth({ filesRead, skipped }: Collection): MetricFamily[] {
  const filesSkipped = skipped.length;
  return [
    {
      name: 'prom_multiproc_scrape_files',
      type: 'gauge',
      help: 'Metrics files merged by this scrape',
      samples: [{ name: 'prom_multiproc_scrape_files', labels: {}, value: filesRead }],
    },
    {
      name: 'prom_multiproc_scrape_files_skipped',
      type: 'gauge',
      help: 'Metrics files this scrape could not read and left out (see the process warnings for which and why)',
      samples: [{ name: 'prom_multiproc_scrape_files_skipped', labels: {}, value: filesSkipped }],
    },
  ];
}

/** Merges what one process holds in memory (single-process mode), as if read from its files. */
export function collectStore(store: SeriesStore, cache: KeyCache = new Map()): Collection {
  const merger = new Merger();
  let filesRead = 0;
  for (const [kind, entries] of store.entries()) {
    // One process: every gauge mode gives its own value, so read them all as plain sums.
    merger.add(decodeEntries(singleProcessFile(kind, store.identity), entries, cache));
    filesRead++;
  }
  return { families: merger.result(), skipped: [], filesRead };
}

function singleProcessFile(kind: FileKind, id: string): ParsedFileName {
  if (!kind.startsWith('gauge_')) return parseFileName(`${kind}_${id}.db`)!;
  return { type: 'gauge', mode: 'sum', kind: fileKindOf('gauge', 'sum'), id };
}
