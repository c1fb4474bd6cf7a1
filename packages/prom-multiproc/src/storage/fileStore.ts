import * as fs from 'node:fs';
import * as path from 'node:path';
import { MultiprocessDirectoryError } from '../errors.js';
import { fileNameOf, writerIdentityProblem, type FileKind } from '../fileNames.js';
import { readEntries } from '../format.js';
import type { RawEntry } from '../merge.js';
import { forgetReport, reportOnce } from '../report.js';
import { Cell, type CellOwner } from './cell.js';
import { MetricFile } from './metricFile.js';
import { wallClockSeconds, type SeriesStore, type StoreOptions } from './store.js';

// After a failed write, try again this often (a full disk may be freed, a directory recreated).
const RETRY_AFTER_MS = 1000;

export interface FileStoreOptions extends StoreOptions {
  dir: string;
}

/**
 * The series of one process identity, in per-kind files of the shared directory.
 *
 * Durability: a change is written at the end of the event-loop turn that made it (one
 * setImmediate per turn, for every file and series together), and on process 'exit', which
 * also runs after process.exit() and an uncaught exception. From then on it survives SIGKILL.
 * A process killed in the middle of a turn loses that turn's changes only.
 */
export class FileStore implements SeriesStore {
  readonly identity: string;
  readonly dir: string;
  readonly now: () => number;
  private readonly files = new Map<FileKind, MetricFile>();
  private readonly queuedFiles: MetricFile[] = [];
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: FileStoreOptions) {
    this.identity = String(options.identity ?? process.pid);
    const problem = writerIdentityProblem(this.identity);
    if (problem !== undefined) {
      throw new MultiprocessDirectoryError(`process identity "${this.identity}" cannot name a metrics file: ${problem}`, options.dir);
    }
    this.dir = path.resolve(options.dir);
    this.now = options.now ?? wallClockSeconds;
    checkDirectory(this.dir);
    openStores.add(this);
    installExitHook();
  }

  cell(kind: FileKind, key: string): Cell {
    try {
      return this.fileOf(kind).cell(key);
    } catch (error) {
      // A metrics library must not take the service down: the series still counts in memory,
      // but is missing from the merge until the file can be opened by a later series.
      reportOnce(`open\u0000${kind}`, new Error(
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
    this.queuedFiles.push(file);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushFromTimer);
  }

  private readonly flushFromTimer = (): void => {
    this.flush();
  };

  flush(): void {
    this.flushScheduled = false;
    const files = this.queuedFiles.splice(0);
    let failed = false;
    for (const file of files) {
      const key = `write\u0000${file.path}`;
      try {
        file.flush();
        forgetReport(key);
      } catch (error) {
        failed = true;
        reportOnce(key, new Error(
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
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    for (const file of this.files.values()) file.close();
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
}

const detachedOwner: CellOwner = {
  onDirty(cell) {
    cell.dirty = true;
  },
};

const openStores = new Set<FileStore>();
let exitHookInstalled = false;

// One 'exit' listener for every store: 'exit' also follows process.exit() and an uncaught
// exception, and its listeners may only do synchronous work, which flush is.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const store of openStores) store.flush();
  });
}
