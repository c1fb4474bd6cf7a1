// The scrape side: list the directory, read our files, merge. A file that cannot be read is
// skipped and reported (once), and the rest is served: one bad file must not take every
// metric down, as it does in the reference client.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError } from './format.js';
import { fileKindOf, parseFileName, type FileKind, type ParsedFileName } from './fileNames.js';
import { decodeEntries, decodeFile, mergeFiles, type FileRecords, type KeyCache, type MetricFamily } from './merge.js';
import { reportOnce } from './report.js';
import type { SeriesStore } from './storage/store.js';

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface Collection {
  families: MetricFamily[];
  /** Files of ours that could not be read this time, and why. */
  skipped: SkippedFile[];
}

/** Reads and merges every metrics file in `dir`. Keys decoded once are reused via `cache`. */
export async function collectDirectory(dir: string, cache: KeyCache = new Map()): Promise<Collection> {
  const names = await fsp.readdir(dir);
  const files: FileRecords[] = [];
  const skipped: SkippedFile[] = [];
  for (const name of names.sort()) {
    const parsed = parseFileName(name);
    if (parsed === undefined) continue;
    const filePath = path.join(dir, name);
    try {
      files.push(decodeFile(parsed, await fsp.readFile(filePath), cache));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Deleted between the listing and the read (a process marked dead): nothing to merge.
      if (code === 'ENOENT') continue;
      const reason = error instanceof FileFormatError ? error.message : `${code ?? 'error'}: ${(error as Error).message}`;
      skipped.push({ file: filePath, reason });
      reportOnce(`scrape\u0000${filePath}\u0000${reason}`, new Error(
        `prom-multiproc skipped ${filePath} while merging metrics: ${reason}. The other files are served; ` +
          'remove the file (or run "prom-multiproc clean" before the service starts) if it is not a metrics file.',
      ));
    }
  }
  return { families: mergeFiles(files), skipped };
}

/** Merges what one process holds in memory (single-process mode), as if read from its files. */
export function collectStore(store: SeriesStore, cache: KeyCache = new Map()): Collection {
  const files: FileRecords[] = [];
  for (const [kind, entries] of store.entries()) {
    // One process: every gauge mode gives its own value, so read them all as plain sums.
    const file = singleProcessFile(kind, store.identity);
    files.push(decodeEntries(file, entries, cache));
  }
  return { families: mergeFiles(files), skipped: [] };
}

function singleProcessFile(kind: FileKind, id: string): ParsedFileName {
  if (!kind.startsWith('gauge_')) return parseFileName(`${kind}_${id}.db`)!;
  return { type: 'gauge', mode: 'sum', kind: fileKindOf('gauge', 'sum'), id };
}
