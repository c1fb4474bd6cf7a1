// Which copy of the library a child process measures: the repository's by default, or the
// source directory given with --library=<dir> (passed on as PROM_MULTIPROC_BENCH_LIBRARY), so
// that a change can be compared with the code it replaces by the same harness.

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export const LIBRARY_VARIABLE = 'PROM_MULTIPROC_BENCH_LIBRARY';

export type Library = typeof import('../../packages/prom-multiproc/src/index.js');

export async function loadLibrary(): Promise<Library> {
  const dir = process.env[LIBRARY_VARIABLE];
  if (dir === undefined || dir === '') return import('../../packages/prom-multiproc/src/index.js');
  return (await import(pathToFileURL(path.join(path.resolve(dir), 'index.ts')).href)) as Library;
}

/**
 * The peak resident set of this process since it started, in MiB. On Linux from VmHWM: the
 * kernel's ru_maxrss is carried across exec, so a child would report its parent's peak.
 */
export function peakRssMiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match !== null) return Number(match[1]) / 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS / 1024;
}
