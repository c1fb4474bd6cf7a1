import type { FileKind } from '../format/fileNames.js';
import type { RawEntry } from '../format/decode.js';
import type { Cell } from './cell.js';

/**
 * Where one process keeps its series. Metrics ask for a cell per (file kind, entry key) and
 * never see files; a FileStore writes them to the shared directory, a MemoryStore keeps them
 * for single-process use. Both hand their contents to the same merge.
 */
export interface SeriesStore {
  /** The process identity that names this store's files (and the `pid` label of gauges). */
  readonly identity: string;
  /** The shared directory, or undefined in single-process mode. */
  readonly dir: string | undefined;
  /**
   * The cell of one series, created (value 0) on first use. Same key, same cell. With a
   * `source`, `source.keyOf(arg)` makes the key again whenever it is wanted, so a store that
   * has no file to read keys back from need not keep their text (`arg` must not change).
   */
  cell<A>(kind: FileKind, key: string, source?: EntryKeySource<A>, arg?: A): Cell;
  /** Seconds since the epoch, for the timestamps of the mostrecent gauge modes. */
  now(): number;
  /** Writes every pending change now (a no-op in memory). */
  flush(): void;
  /** The entries of each kind, as they would be read back from the files. */
  entries(): Map<FileKind, RawEntry[]>;
  /**
   * Takes every series whose entry key matches out of the store, and out of its file (for
   * remove() and reset()). Slow, a file is written anew; never on the hot path. The cells of
   * removed series are detached: they still count in memory but are never written again.
   * Returns how many entries went.
   */
  removeEntries(kind: FileKind, match: (key: string) => boolean): number;
  /** Writes what is pending and lets go of files and hooks. */
  close(): void;
}

/** Makes an entry key from what the metric keeps anyway (its label values). */
export interface EntryKeySource<A> {
  keyOf(arg: A): string;
}

export interface StoreOptions {
  /** The process identity; process.pid by default. */
  identity?: string | number;
  /** The clock for mostrecent gauges, in seconds. */
  now?: () => number;
}

export function wallClockSeconds(): number {
  return Date.now() / 1000;
}
