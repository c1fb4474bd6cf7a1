import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { checkDirectorySafety } from '../directory/directorySafety.js';
import { MultiprocessDirectoryError } from '../common/errors.js';
import { fileNameOf, writerIdentityProblem, type FileKind } from '../format/fileNames.js';
import { readEntries } from '../format/format.js';
import { defaultIdentity } from '../directory/identity.js';
import { acquireIdentityLock, type IdentityLock } from '../directory/identityLock.js';
import type { RawEntry } from '../format/decode.js';
import { forgetReport, reportOnce } from '../common/report.js';
import { Cell, type CellOwner } from './cell.js';
import { MetricFile } from './metricFile.js';
import { isProcessEnding, markProcessExiting, writeBeforeSignalEnds } from './signalWrites.js';
import { wallClockSeconds, type SeriesStore, type StoreOptions } from './store.js';

// After a failed write, try again this often (a full disk may be freed, a directory recreated).
const RETRY_AFTER_MS = 1000;

// After a write, the next one waits this long: a busy process writes each file at most this
// often, however many turns change it, and a quiet one writes at the end of the turn.
export const WRITE_INTERVAL_MS = 10;

export interface FileStoreOptions extends StoreOptions {
  dir: string;
}

/**
 * The series of one process identity, in per-kind files of the shared directory.
 *
 * Durability (docs/durability.md): in the main thread a change is written at the end of the
 * event-loop turn that made it when the store wrote nothing in the last WRITE_INTERVAL_MS,
 * and otherwise once that interval since the last write is over; so every value is in its
 * file at most WRITE_INTERVAL_MS after it was recorded while the event loop runs, and from
 * then on survives SIGKILL. One write covers every file and series. Pending changes are also
 * written on process 'exit' (after process.exit() and an uncaught exception too) and on
 * SIGTERM, SIGINT and SIGHUP (signalWrites.ts). In a worker thread a change is written when
 * the synchronous run that made it ends (a microtask): a pool that terminate()s a thread as
 * soon as its last result arrives must find that task's values in the file, and terminate()
 * runs no listener, so it loses only a run it interrupts.
 *
 * The store holds the identity's lock (identityLock.ts) while open: a second live writer of
 * the same identity in the directory makes the constructor throw.
 */
export class FileStore implements SeriesStore {
  readonly identity: string;
  readonly dir: string;
  readonly now: () => number;
  private readonly files = new Map<FileKind, MetricFile>();
  private readonly queuedFiles: MetricFile[] = [];
  private flushScheduled = false;
  /** performance.now() of the last write, to space writes WRITE_INTERVAL_MS apart (monotonic: a wall clock stepped back must not hold writes back). */
  private lastFlushAt = -Infinity;
  private readonly stopSignalWrites: () => void;
  /** Files whose last write failed, so that a later success lets the fault be reported again. */
  private readonly failedFiles = new Set<MetricFile>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: FileStoreOptions) {
    this.identity = String(options.identity ?? defaultIdentity());
    const problem = writerIdentityProblem(this.identity);
    if (problem !== undefined) {
      throw new MultiprocessDirectoryError(`process identity "${this.identity}" cannot name a metrics file: ${problem}`, options.dir);
    }
    this.dir = path.resolve(options.dir);
    this.now = options.now ?? wallClockSeconds;
    checkDirectory(this.dir);
    identityLocks.set(this, acquireIdentityLock(this.dir, this.identity));
    openStores.add(this);
    installExitHook();
    this.stopSignalWrites = writeBeforeSignalEnds(() => this.flush());
  }

  /** A file reads its keys back from its bytes, so `source` is not needed here. */
  cell(kind: FileKind, key: string): Cell {
    try {
      return this.fileOf(kind).cell(key);
    } catch (error) {
      // A metrics library must not take the service down: the series still counts in memory,
      // but is missing from the merge until the file can be opened by a later series.
      reportOnce(`open\u0000${path.join(this.dir, fileNameOf(kind, this.identity))}`, new Error(
        `prom-multiproc could not open ${path.join(this.dir, fileNameOf(kind, this.identity))}: ${(error as Error).message}. ` +
          'The series is counted in memory only; check the directory (exists, writable, no symlink in place of the file).',
      ));
      return new Cell(detachedOwner, 0);
    }
  }

  private fileOf(kind: FileKind): MetricFile {
    let file = this.files.get(kind);
    if (file === undefined) {
      if (this.closed) throw new Error(`the metrics store for ${this.dir} is closed`);
      file = new MetricFile(path.join(this.dir, fileNameOf(kind, this.identity)), {
        onQueued: (queued) => this.onQueued(queued),
        onReplacedCorrupt: (filePath, movedTo, error) =>
          reportOnce(`corrupt\u0000${filePath}`, new Error(
            `${filePath} could not be read (${error.message}); it was moved to ${movedTo} and this process starts a new file. ` +
              'Remove stale files with "prom-multiproc clean" when the service starts.',
          )),
      });
      this.files.set(kind, file);
    }
    return file;
  }

  private onQueued(file: MetricFile): void {
    if (this.closed) {
      reportOnce(`closed\u0000${file.path}`, new Error(
        `prom-multiproc: a value was recorded after the metrics store for ${this.dir} was closed; it is counted in memory only and not written to ${file.path}. ` +
          'Record values before closing the store (or do not close it: the process exit writes everything).',
      ));
      return;
    }
    this.queuedFiles.push(file);
    if (isProcessEnding()) {
      // Whatever runs now may end the process before any timer fires.
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (!isMainThread) {
      queueMicrotask(this.flushFromTimer);
      return;
    }
    const wait = this.lastFlushAt + WRITE_INTERVAL_MS - performance.now();
    if (wait <= 0) setImmediate(this.flushFromTimer);
    // Unref'd: pending writes must not keep a process alive; 'exit' writes them.
    else setTimeout(this.flushFromTimer, wait).unref();
  }

  private readonly flushFromTimer = (): void => {
    this.flush();
  };

  flush(): void {
    this.flushScheduled = false;
    if (this.queuedFiles.length === 0) return;
    const files = this.queuedFiles.splice(0);
    const now = performance.now();
    this.lastFlushAt = now;
    let failed = false;
    for (const file of files) {
      try {
        file.flush(now);
        // Only a file that failed before has a report to forget; the usual turn builds no key.
        if (this.failedFiles.delete(file)) forgetReport(`write\u0000${file.path}`);
      } catch (error) {
        failed = true;
        this.failedFiles.add(file);
        reportOnce(`write\u0000${file.path}`, new Error(
          `prom-multiproc could not write ${file.path}: ${(error as Error).message}. ` +
            'Values stay in memory and the write is retried every second; check that the directory exists, is writable and has free space.',
        ));
      }
    }
    if (failed && this.retryTimer === undefined && !this.closed) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        for (const file of this.files.values()) if (file.pending) this.onQueued(file);
      }, RETRY_AFTER_MS);
      this.retryTimer.unref();
    }
  }

  removeEntries(kind: FileKind, match: (key: string) => boolean): number {
    let file = this.files.get(kind);
    const filePath = file?.path ?? path.join(this.dir, fileNameOf(kind, this.identity));
    try {
      // A kind this process has not written yet may still have a file from an earlier run of
      // the identity, whose entries are this process's too; without one there is nothing to do.
      if (file === undefined && !fs.existsSync(filePath)) return 0;
      file ??= this.fileOf(kind);
      return file.removeEntries(match);
    } catch (error) {
      reportOnce(`remove\u0000${filePath}`, new Error(
        `prom-multiproc could not remove series from ${filePath}: ${(error as Error).message}. ` +
          'They stay in the file (and the merge) with their last values; check that the directory is writable.',
      ));
      return 0;
    }
  }

  entries(): Map<FileKind, RawEntry[]> {
    this.flush();
    const result = new Map<FileKind, RawEntry[]>();
    for (const [kind, file] of this.files) {
      result.set(kind, readEntries(fs.readFileSync(file.path)));
    }
    return result;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stopSignalWrites();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    for (const file of this.files.values()) file.close();
    identityLocks.get(this)?.release();
    openStores.delete(this);
  }
}

/** Fails early, with the directory and the fix in the message. */
function checkDirectory(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new MultiprocessDirectoryError(
      `the metrics directory ${dir} does not exist. Create it before the workers start, e.g. with "prom-multiproc clean --dir ${dir}" in the service's start-up.`,
      dir,
    );
  }
  if (!stat.isDirectory()) {
    throw new MultiprocessDirectoryError(`the metrics directory ${dir} is not a directory. Point PROM_MULTIPROC_DIR at a directory.`, dir);
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new MultiprocessDirectoryError(
      `the metrics directory ${dir} is not writable by this process (uid ${process.getuid?.() ?? '?'}). Give the service's user write access to it.`,
      dir,
    );
  }
  checkDirectorySafety(dir);
}

const detachedOwner: CellOwner = {
  onDirty(cell) {
    cell.dirty = true;
  },
};

const openStores = new Set<FileStore>();
const identityLocks = new WeakMap<FileStore, IdentityLock>();
let exitHookInstalled = false;

// One 'exit' listener for every store: 'exit' also follows process.exit() and an uncaught
// exception (in a worker thread too), and its listeners may only do synchronous work, which
// flush and the lock's release are. Files stay open for listeners that run after this one.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    markProcessExiting();
    for (const store of openStores) {
      store.flush();
      identityLocks.get(store)?.release();
    }
  });
}
