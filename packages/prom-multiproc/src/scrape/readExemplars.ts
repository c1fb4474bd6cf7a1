// The exemplars of a multiprocess directory, for a scrape:
//
//   readDirectoryExemplars(dir): Map<entryKey, Exemplar>
//
// reads every `exemplars_<identity>.pmx` in `dir` and keeps, per sample (entry key), the
// latest exemplar by timestamp among the processes (mergeExemplars.ts). Flush this process's
// own sink first (exemplarSink(store).flush()), as a scrape flushes its store. Exemplars are
// an extra: a file or directory that cannot be read is reported and left out, never thrown.
// The files are a few kilobytes, and read synchronously.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { reportOnce } from '../common/report.js';
import { parseExemplarFileName, type Exemplar } from '../format/exemplarFormat.js';
import { mergeExemplars, reportExemplarFile, type ExemplarFileBytes } from './mergeExemplars.js';

/** The exemplar files of `dir`, in name order (so that ties between processes go the same way every scrape). */
export function listExemplarFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => parseExemplarFileName(name) !== undefined).sort();
}

export function readDirectoryExemplars(dir: string): Map<string, Exemplar> {
  let names: string[];
  try {
    names = listExemplarFiles(dir);
  } catch (error) {
    reportOnce(`exemplar-list\u0000${dir}`, new Error(
      `prom-multiproc could not list ${dir} for exemplars (${(error as Error).message}); the scrape has none.`,
    ));
    return new Map();
  }
  const files: ExemplarFileBytes[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const bytes = readExemplarFile(file);
    if (bytes !== undefined) files.push({ file, bytes });
  }
  return mergeExemplars(files);
}

/** The file's bytes, or undefined when it went (removed by clean) or cannot be read (reported). */
function readExemplarFile(file: string): Buffer | undefined {
  try {
    // No following a symlink planted in a shared directory.
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) {
        reportExemplarFile(file, 'it is not a regular file');
        return undefined;
      }
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    reportExemplarFile(file, `it cannot be read (${(error as Error).message})`);
    return undefined;
  }
}
