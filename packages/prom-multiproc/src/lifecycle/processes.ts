import * as fs from 'node:fs';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../common/errors.js';
import type { CompactionResult } from './compaction/compact.js';
import { isGenerationClaim } from './compaction/generationClaim.js';
import { MANIFEST_NAME } from '../directory/manifest.js';
import { GAUGE_MODES, fileNameOf, isLiveMode, parseFileName, writerIdentityProblem } from '../format/fileNames.js';
import { releaseLockOfEnded, sweepDeadLocks } from '../directory/identityLock.js';
import { temporaryFileCreator, whyLive, type KeptFile } from '../directory/liveWriters.js';
import { directoryFromEnvironment } from '../storage/defaultStore.js';
import { whyExemplarFileKept } from './exemplarCleanup.js';
import { isExemplarFileName } from '../format/exemplarFormat.js';
import { isQuantileFileName, whyQuantileFileKept } from './sketchFileCleanup.js';

function requireDirectory(dir: string | undefined, what: string): string {
  const resolved = dir ?? directoryFromEnvironment();
  if (resolved === undefined) {
    throw new MultiprocessDirectoryError(`${what} needs the metrics directory: pass it, or set PROM_MULTIPROC_DIR`, '');
  }
  return resolved;
}

export interface MarkDeadOptions {
  dir?: string;
  /** Also fold the process's remaining files into the archive now (see compactDirectory). */
  compact?: boolean;
}

/**
 * Call when a process that wrote metrics has exited (from the process manager: the cluster
 * primary's 'exit' event, PM2's hooks). Removes its live-mode gauge files, so those series
 * leave the merge; its counters, histograms, summaries and non-live gauges stay, so totals
 * never go backwards. Its summary quantile file (quantiles_<id>.pmq) stays as well: it holds
 * the observations the summary's `_count` keeps counting, and a windowed summary's age out of
 * the scrape by themselves. Returns the files removed; with `{ compact: true }`, a promise of the
 * files removed and of the compaction that folded the rest into the archive.
 */
export function markProcessDead(id: string | number, dir?: string | (MarkDeadOptions & { compact?: false })): string[];
export function markProcessDead(id: string | number, options: MarkDeadOptions & { compact: true }): Promise<{ removed: string[]; compaction: CompactionResult }>;
export function markProcessDead(
  id: string | number,
  dirOrOptions?: string | MarkDeadOptions,
): string[] | Promise<{ removed: string[]; compaction: CompactionResult }> {
  const options = typeof dirOrOptions === 'string' ? { dir: dirOrOptions } : (dirOrOptions ?? {});
  const removed = removeLiveGauges(id, options.dir);
  if (options.compact !== true) return removed;
  const directory = requireDirectory(options.dir, 'markProcessDead');
  // The compaction code is loaded by the first compaction, not by every import of the package.
  return import('./compaction/compact.js')
    .then(({ compactDirectory }) => compactDirectory(directory, { dead: [String(id)], detectDeadPids: false }))
    .then((compaction) => ({ removed, compaction }));
}

function removeLiveGauges(id: string | number, dir: string | undefined): string[] {
  const identity = String(id);
  const problem = writerIdentityProblem(identity);
  if (problem !== undefined) throw new MultiprocessDirectoryError(`cannot mark process "${identity}" dead: ${problem}`, dir ?? '');
  const directory = requireDirectory(dir, 'markProcessDead');
  const removed: string[] = [];
  for (const mode of GAUGE_MODES) {
    if (!isLiveMode(mode)) continue;
    const file = path.join(directory, fileNameOf(`gauge_${mode}`, identity));
    if (removeIfOurs(file)) removed.push(file);
  }
  // The identity has ended: its lock must not make a successor wait, nor keep compaction away.
  releaseLockOfEnded(directory, identity);
  return removed;
}

/** Removes a regular file (never a symlink or directory); false when there was none. */
function removeIfOurs(file: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (!stat.isFile()) return false;
  try {
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Empties the directory of metrics files at service start, so that files of a previous run
 * do not bring back its series. Creates the directory when missing. Removes only regular
 * files named as the library names them (and the temporary files of killed writers and
 * compactions); refuses the root, non-directories and symlinks. Never removes the files of a
 * writer that is still running (liveWriters.ts): a Node writer holding its lock, or a process
 * of this host whose pid names the file and that started before it (a Python writer); those
 * are returned in `kept`, with the reason.
 */
export function cleanDirectory(dir: string): { dir: string; removed: string[]; kept: KeptFile[] } {
  const directory = path.resolve(dir);
  if (directory === path.parse(directory).root) {
    throw new MultiprocessDirectoryError(`refusing to clean ${directory}: it is the file system root`, directory);
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (stat === undefined) {
    fs.mkdirSync(directory, { recursive: true, mode: 0o755 });
    return { dir: directory, removed: [], kept: [] };
  }
  if (stat.isSymbolicLink()) {
    throw new MultiprocessDirectoryError(`refusing to clean ${directory}: it is a symbolic link; pass the real directory`, directory);
  }
  if (!stat.isDirectory()) {
    throw new MultiprocessDirectoryError(`refusing to clean ${directory}: it is not a directory; pass the directory the metrics files are written to`, directory);
  }
  const removed: string[] = [];
  const kept: KeptFile[] = [];
  for (const name of fs.readdirSync(directory).sort()) {
    if (!isCleanable(name)) continue;
    const file = path.join(directory, name);
    const reason = whyKept(directory, name);
    if (reason !== undefined) kept.push({ file, reason });
    else if (removeIfOurs(file)) removed.push(file);
  }
  // Identity locks left by writers that were killed; live writers' locks stay.
  const locks = sweepDeadLocks(directory);
  removed.push(...locks.removed);
  kept.push(...locks.kept);
  return { dir: directory, removed, kept };
}

/** Our files, the compaction manifest that says which of them are current, and our temporary files. */
function isCleanable(name: string): boolean {
  return (
    parseFileName(name) !== undefined || isExemplarFileName(name) || name === MANIFEST_NAME || isGenerationClaim(name) ||
    temporaryFileCreator(name) !== undefined || isQuantileFileName(name)
  );
}

/** Why a running writer still needs the file, or undefined when clean may remove it. */
function whyKept(directory: string, name: string): string | undefined {
  const stat = fs.lstatSync(path.join(directory, name), { throwIfNoEntry: false });
  if (stat === undefined || !stat.isFile()) return undefined; // gone, or not ours: removeIfOurs decides
  if (isExemplarFileName(name)) return whyExemplarFileKept(directory, name);
  if (isQuantileFileName(name)) return whyQuantileFileKept(directory, name);
  return whyLive(directory, name, stat);
}
