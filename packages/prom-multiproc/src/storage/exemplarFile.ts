// Where a process keeps its exemplars: the latest one per sample, in memory, and in
// multiprocess mode also in its side file `exemplars_<identity>.pmx` (exemplarFormat.ts).
//
//   exemplarSink(store).record(entryKey, labels, value, timestampSeconds)
//
// `store` is the metric's SeriesStore (one sink per store); `entryKey` is the pythonJson.ts
// entryKey of the sample the exemplar belongs to: a counter's `<name>_total` entry, or the
// `<name>_bucket` entry (with its `le`) of the bucket the observation was counted in. A later
// record for the same key replaces the earlier one. Labels are copied and their values made
// strings; checking their length is the metric's (exemplarRules.ts).
//
// Durability, as the .db files: the whole file is rewritten (a temporary name, then a rename)
// once per event-loop turn that recorded something (a microtask in a worker thread), and on
// process 'exit'. A failed write is reported once and retried every second. The file is
// this identity's alone: the store holds the identity's lock (identityLock.ts). A restarted
// process of the same identity starts from the exemplars in its file.
//
// Without a directory (single-process mode) the sink only keeps them in memory; the scrape
// reads `exemplarSink(store).exemplars()` there, and readDirectoryExemplars(dir)
// (scrape/readExemplars.ts) in multiprocess mode, after flushing this process's sink.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { forgetReport, reportOnce } from '../common/report.js';
import { decodeExemplarFile, encodeExemplarFile, exemplarFileName, type Exemplar } from '../format/exemplarFormat.js';
import { replaceWhole } from './replaceWhole.js';
import type { SeriesStore } from './store.js';

export type { Exemplar } from '../format/exemplarFormat.js';

export interface ExemplarSink {
  /** Keeps `labels`, `value` and the time as the latest exemplar of the sample `entryKey`. */
  record(entryKey: string, labels: Readonly<Record<string, string | number>>, value: number, timestampSeconds: number): void;
  /** Forgets the exemplars whose entry key matches (for remove() and reset()); returns how many. */
  remove(match: (entryKey: string) => boolean): number;
  /** This process's exemplars, by entry key. */
  exemplars(): ReadonlyMap<string, Exemplar>;
  /** Writes pending changes now (a no-op in memory). */
  flush(): void;
  /** Writes what is pending and stops writing; the store's close() should call it. */
  close(): void;
}

// After a failed write, try again this often (a full disk may be freed, a directory recreated).
const RETRY_AFTER_MS = 1000;
// As FileStore: once per turn in the main thread; in a worker thread at the end of the run
// that recorded, as terminate() runs no 'exit' listener.
const scheduleFlush: (flush: () => void) => void = isMainThread ? setImmediate : queueMicrotask;

// On globalThis, as the default store is: an ESM and a CommonJS copy of the library in one
// process share its store, and must share its sink too, or each would rewrite the file without
// the other's exemplars.
const SINKS_KEY = Symbol.for('prom-multiproc.exemplar-sinks.v1');
const sinks: WeakMap<SeriesStore, ExemplarSink> = ((globalThis as { [SINKS_KEY]?: WeakMap<SeriesStore, ExemplarSink> })[SINKS_KEY] ??= new WeakMap());

/** The exemplar sink of `store`: in its directory's side file, or in memory without one. */
export function exemplarSink(store: SeriesStore): ExemplarSink {
  let sink = sinks.get(store);
  if (sink === undefined) {
    sink = store.dir === undefined ? new MemoryExemplarSink() : new FileExemplarSink(path.join(store.dir, exemplarFileName(store.identity)));
    sinks.set(store, sink);
  }
  return sink;
}

/** Closes the sink of `store` if it has one, so that a new sink for it starts from its file. */
export function closeExemplarSink(store: SeriesStore): void {
  sinks.get(store)?.close();
  sinks.delete(store);
}

function checkRecord(value: number, timestampSeconds: number): void {
  if (typeof value !== 'number') throw new TypeError(`an exemplar's value must be a number, not ${typeof value}`);
  if (typeof timestampSeconds !== 'number' || !Number.isFinite(timestampSeconds)) {
    throw new TypeError(`an exemplar's timestamp must be a finite number of seconds, not ${String(timestampSeconds)}`);
  }
}

function copyLabels(labels: Readonly<Record<string, string | number>>): Record<string, string> {
  // Later changes to the caller's object must not reach the file; fromEntries keeps __proto__ a label.
  return Object.fromEntries(Object.entries(labels).map(([name, value]) => [name, String(value)]));
}

class MemoryExemplarSink implements ExemplarSink {
  protected readonly latest = new Map<string, Exemplar>();

  record(entryKey: string, labels: Readonly<Record<string, string | number>>, value: number, timestampSeconds: number): void {
    checkRecord(value, timestampSeconds);
    this.latest.set(entryKey, { labels: copyLabels(labels), value, timestamp: timestampSeconds });
    this.changed();
  }

  remove(match: (entryKey: string) => boolean): number {
    let removed = 0;
    for (const key of [...this.latest.keys()]) {
      if (!match(key)) continue;
      this.latest.delete(key);
      removed++;
    }
    if (removed > 0) this.changed();
    return removed;
  }

  exemplars(): ReadonlyMap<string, Exemplar> {
    return this.latest;
  }

  protected changed(): void {}

  flush(): void {}

  close(): void {}
}

class FileExemplarSink extends MemoryExemplarSink {
  private dirty = false;
  private scheduled = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(readonly file: string) {
    super();
    for (const [key, exemplar] of readOwnFile(file)) this.latest.set(key, exemplar);
    openSinks.add(this);
    installExitHook();
  }

  protected override changed(): void {
    this.dirty = true;
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    scheduleFlush(this.flushFromTimer);
  }

  private readonly flushFromTimer = (): void => {
    this.flush();
  };

  override flush(): void {
    this.scheduled = false;
    if (!this.dirty) return;
    try {
      replaceWhole(this.file, encodeExemplarFile(this.latest));
      this.dirty = false;
      forgetReport(`exemplar-write\u0000${this.file}`);
    } catch (error) {
      reportOnce(`exemplar-write\u0000${this.file}`, new Error(
        `prom-multiproc could not write ${this.file}: ${(error as Error).message}. ` +
          'Exemplars stay in memory and the write is retried every second; check that the directory exists, is writable and has free space.',
      ));
      this.retryLater();
    }
  }

  private retryLater(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.flush();
    }, RETRY_AFTER_MS);
    this.retryTimer.unref();
  }

  override close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    openSinks.delete(this);
  }
}

/** The exemplars an earlier process of this identity left, or none (reported) when its file is unreadable. */
function readOwnFile(file: string): Map<string, Exemplar> {
  let bytes: Buffer;
  try {
    // Not through a planted symlink, and not blocked by a FIFO.
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new Error('it is not a regular file');
      bytes = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    reportOnce(`exemplar-adopt\u0000${file}`, new Error(
      `prom-multiproc could not read ${file} (${(error as Error).message}); this process's exemplars replace it at its first exemplar.`,
    ));
    return new Map();
  }
  try {
    return decodeExemplarFile(bytes);
  } catch (error) {
    reportOnce(`exemplar-adopt\u0000${file}`, new Error(
      `${file} holds no exemplars this version can read (${(error as Error).message}); this process's exemplars replace it at its first exemplar.`,
    ));
    return new Map();
  }
}


const openSinks = new Set<FileExemplarSink>();
let exitHookInstalled = false;

// 'exit' also follows process.exit() and an uncaught exception; its listeners must be synchronous, as flush is.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const sink of openSinks) sink.flush();
  });
}
