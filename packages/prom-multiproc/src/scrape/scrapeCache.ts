// What a long-lived collector keeps from one scrape to the next. A service is scraped every
// few seconds, and between two scrapes most files have not changed at all (dead workers'
// files never do) and the rest only have new values: the same keys at the same places.
//
// - Open descriptors. Reading a kept file is one stat and usually one read, where opening it
//   anew is five system calls. A descriptor outlives its name: the file is deleted, or another
//   is renamed over its name (remove() rewrites, clean, a reused identity), and the old file
//   may keep another name all the while (a hard link in a `cp -al` backup, or the whole
//   directory moved aside: `mv metrics metrics.old && mkdir metrics`). So a link count proves
//   nothing; what is trusted is that the name leads to the descriptor's file now: the device
//   and inode an lstat of the name finds are those of the file when it was opened (an open
//   descriptor keeps its inode from being reused). Otherwise the descriptor is closed and the
//   name opened anew.
// - The directory's listing. When the directory that `dir` leads to has the device, inode,
//   modification and change times it had at the last listing, no name in it was created,
//   removed or replaced since (a directory made anew in its place has another inode, or, if
//   it reuses the inode, later times), so the listing still holds, and so does every kept
//   descriptor shown to be its name's file since that listing looked: neither the listing nor
//   the lstat is repeated. Any other descriptor is checked once under each listing (a scrape
//   may list the directory and not read all of it: `select`). A time is only trusted once it
//   is a second old, as git trusts an index entry only when it is older than the index: a
//   change in the same clock tick as the last look would leave the time as it was.
// - Each file's bytes and records as last read. Bytes that are the same give the same records
//   without decoding; bytes that differ only in values give the same keys after one
//   comparison of the whole file (see refreshValues); otherwise an entry whose bytes are the
//   key that stood there last time is not decoded again (see decodeFile). The bytes are kept
//   from a file's second read on: a registry's first scrape (a process that scrapes once, or
//   the first of a service that may be restarted any time) does not pay for a copy of the whole
//   directory, and the second read still costs no decode, its keys found where they stood.
// - Decoded keys, shared by all files.
//
// All of it is bounded: at most `maxKeptFiles` descriptors (other files are opened for each
// read) and `maxKeptBytes` of bytes and records (files past it are decoded in full), a small
// note per listed file, and decoded keys that grow with the number of distinct keys.

import { closeSync, fstatSync, lstatSync, statSync, type Stats } from 'node:fs';
import type { ParsedFileName } from '../format/fileNames.js';
import { refreshValues, viewOf, type FileView } from '../format/format.js';
import { decodeFile, type FileRecords, type KeyCache } from '../format/decode.js';
import type { FileLayouts } from '../format/fileLayouts.js';
import { fileInDirectory } from './fileInDirectory.js';
import { ReadBuffer, openMetricsFile, readMetricsFile, readOpenMetricsFile } from '../format/readMetricsFile.js';

/** Enough for a thousand workers with a few kinds of files each, well under the usual descriptor limits. */
export const DEFAULT_MAX_KEPT_FILES = 4096;
export const DEFAULT_MAX_KEPT_BYTES = 64 * 1024 * 1024;
const SETTLED_AFTER_MS = 1000;

interface KeptFile {
  fd: number | undefined;
  /** The device and inode of the file `fd` was opened on. */
  dev: number;
  ino: number;
  /** The listing since whose look at the directory the name was last shown to lead to `fd`. */
  shownUnder: Listing | undefined;
  /** Bytes the file held last time. */
  used: number;
  /** The file's bytes and records as last read, while they fit in the memory budget. */
  copy: FileView | undefined;
  records: FileRecords | undefined;
}

// A record's share of memory: a key reference, a value and a timestamp.
const RECORD_COST = 24;

/** What a file's kept bytes and records take, as counted against the budget. */
function costOf({ copy, records }: KeptFile): number {
  return (records?.keys.length ?? 0) * RECORD_COST + (copy?.bytes.length ?? 0);
}

export interface ListedFile {
  name: string;
  file: ParsedFileName;
}

interface Listing {
  stat: Stats;
  files: ListedFile[];
  /** Whether the directory's times were old enough, when listed, to show a later change. */
  settled: boolean;
}

export interface ScrapeCacheOptions {
  /**
   * Files kept open between scrapes (default 4096); the others are opened for each read, their
   * layout still kept. 0 keeps nothing at all: every scrape lists, opens and decodes as the
   * first did. Windows keeps nothing: an open file there holds its name after a deletion.
   */
  maxKeptFiles?: number;
  /** Memory for the files' bytes and records kept between scrapes (64 MiB by default). */
  maxKeptBytes?: number;
  /**
   * How old the directory's times must be before an unchanged time is taken as no change
   * (default 1000 ms; it must exceed the file system's clock tick; tests shorten it).
   */
  settledAfterMs?: number;
}

function checkedCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a whole number, 0 or more (got ${value})`);
  return value;
}

export class ScrapeCache {
  readonly keys: KeyCache = new Map();
  /** How often each shortcut was taken, for tests and for anyone asking why a scrape is slow. */
  readonly counts = { listingsReused: 0, filesUnchanged: 0, filesWithNewValues: 0, filesDecoded: 0, filesReopened: 0 };
  private readonly dirs = new Map<string, Map<string, KeptFile>>();
  /** Each directory's last listing: the one this scrape made, or reused as unchanged. */
  private readonly listings = new Map<string, Listing>();
  private readonly buffer = new ReadBuffer();
  /** Whether anything is kept at all (not after close(), nor with maxKeptFiles 0). */
  private keeping: boolean;
  private maxKeptFiles: number;
  private readonly maxKeptBytes: number;
  private readonly settledAfterMs: number;
  private openFiles = 0;
  private keptBytes = 0;
  /** The part of keptBytes that is copies of files' bytes. */
  private copiedBytes = 0;

  constructor({
    maxKeptFiles = process.platform === 'win32' ? 0 : DEFAULT_MAX_KEPT_FILES,
    maxKeptBytes = DEFAULT_MAX_KEPT_BYTES,
    settledAfterMs = SETTLED_AFTER_MS,
  }: ScrapeCacheOptions = {}) {
    this.maxKeptFiles = checkedCount('maxKeptFiles', maxKeptFiles);
    this.keeping = maxKeptFiles > 0;
    this.maxKeptBytes = checkedCount('maxKeptBytes', maxKeptBytes);
    if (!Number.isFinite(settledAfterMs) || settledAfterMs < 0) throw new TypeError(`settledAfterMs must be a number of milliseconds, 0 or more (got ${settledAfterMs})`);
    this.settledAfterMs = settledAfterMs;
    descriptorsOfDropped.register(this, this.dirs, this);
  }

  /**
   * The metrics files of `dir`, from `list` or, when the directory provably has not changed,
   * from the last listing. Forgets (and closes) kept files that are no longer listed.
   */
  async list(dir: string, list: (dir: string) => Promise<ListedFile[]>): Promise<ListedFile[]> {
    const stat = this.keeping ? statOrUndefined(dir) : undefined;
    const last = this.listings.get(dir);
    if (stat !== undefined && last?.settled === true && sameDirectory(stat, last.stat)) {
      this.counts.listingsReused++;
      return last.files;
    }
    const files = await list(dir);
    if (stat === undefined) {
      this.listings.delete(dir);
    } else {
      const settledBefore = Date.now() - this.settledAfterMs;
      this.listings.set(dir, { stat, files, settled: stat.mtimeMs < settledBefore && stat.ctimeMs < settledBefore });
    }
    this.retain(dir, files);
    return files;
  }

  /**
   * Reads and decodes one file. Throws what readMetricsFile and decodeFile throw. A kept file
   * that fails is forgotten and read again by its name before the error counts: what failed
   * may be an old file that a writer moved aside as corrupt and replaced. `layouts`: the
   * scrape's files read so far, which a file read for the first time may share its keys with.
   */
  read(dir: string, name: string, file: ParsedFileName, layouts?: FileLayouts): FileRecords {
    const kept = this.keptFile(dir, name);
    if (kept !== undefined) {
      try {
        return this.readKept(dir, name, file, kept, layouts);
      } catch (error) {
        this.forget(this.dirs.get(dir)!, name);
        if (isOutOfDescriptors(error)) {
          // The process is short of descriptors: give back every kept one, keep half as many from now on.
          this.maxKeptFiles = this.openFiles >> 1;
          this.closeDescriptors();
        }
      }
    }
    // Into the shared buffer: decodeFile copies out what it keeps.
    const read = readMetricsFile(fileInDirectory(dir, name), this.buffer, layouts?.expectedUsed(file.kind));
    const decoded = layouts !== undefined && read instanceof Buffer ? layouts.decode(file, read, this.keys) : decodeFile(file, read, this.keys);
    this.counts.filesDecoded++;
    return decoded;
  }

  /** Closes every kept descriptor and keeps nothing more; the cache still reads, as if for the first time. */
  close(): void {
    this.keeping = false;
    this.release();
    descriptorsOfDropped.unregister(this);
  }

  private release(): void {
    for (const kept of this.dirs.values()) {
      for (const name of [...kept.keys()]) this.forget(kept, name);
    }
    this.listings.clear();
  }

  private retain(dir: string, listed: readonly ListedFile[]): void {
    const kept = this.dirs.get(dir);
    if (kept === undefined || kept.size === 0) return;
    const names = new Set(listed.map(({ name }) => name));
    for (const name of kept.keys()) {
      if (!names.has(name)) this.forget(kept, name);
    }
  }

  private keptFile(dir: string, name: string): KeptFile | undefined {
    if (!this.keeping) return undefined;
    let kept = this.dirs.get(dir);
    const found = kept?.get(name);
    if (found !== undefined) return found;
    if (kept === undefined) {
      kept = new Map();
      this.dirs.set(dir, kept);
    }
    const file: KeptFile = { fd: undefined, dev: 0, ino: 0, shownUnder: undefined, used: 0, copy: undefined, records: undefined };
    kept.set(name, file);
    return file;
  }

  private forget(kept: Map<string, KeptFile>, name: string): void {
    const file = kept.get(name);
    if (file === undefined) return;
    kept.delete(name);
    this.keptBytes -= costOf(file);
    this.copiedBytes -= file.copy?.bytes.length ?? 0;
    this.closeFile(file);
  }

  /** Closes every kept descriptor and keeps the rest (listings, bytes, records). */
  private closeDescriptors(): void {
    for (const files of this.dirs.values()) {
      for (const file of files.values()) this.closeFile(file);
    }
  }

  private closeFile(file: KeptFile): void {
    if (file.fd === undefined) return;
    closeQuietly(file.fd);
    file.fd = undefined;
    this.openFiles--;
  }

  private readKept(dir: string, name: string, file: ParsedFileName, kept: KeptFile, layouts: FileLayouts | undefined): FileRecords {
    const bytes = this.readBytes(dir, name, kept, kept.used === 0 ? layouts?.expectedUsed(file.kind) : undefined);
    kept.used = bytes.length;
    const { copy, records } = kept;
    if (records !== undefined && copy !== undefined) {
      if (copy.bytes.equals(bytes)) {
        this.counts.filesUnchanged++;
        return records;
      }
      const count = records.keys.length;
      const values = new Float64Array(count);
      const timestamps = new Float64Array(count);
      if (refreshValues(copy, viewOf(bytes), records.keys, values, timestamps)) {
        this.counts.filesWithNewValues++;
        kept.records = { file, keys: records.keys, values, timestamps };
        return kept.records;
      }
      // Not only new values: `copy` is spoilt, and keep() below replaces it.
    }
    const decoded = records === undefined && layouts !== undefined ? layouts.decode(file, bytes, this.keys) : decodeFile(file, bytes, this.keys, records);
    if (records !== undefined && decoded.keys === records.keys) {
      // Read before, without a copy of its bytes kept: every key stood where it stood (decodeFile
      // compared them word by word), so only the values can differ.
      const unchanged = sameBits(decoded.values, records.values) && sameBits(decoded.timestamps, records.timestamps);
      if (unchanged) this.counts.filesUnchanged++;
      else this.counts.filesWithNewValues++;
      const result = unchanged ? records : decoded;
      this.keep(kept, bytes, result, true);
      return result;
    }
    this.counts.filesDecoded++;
    this.keep(kept, bytes, decoded, records !== undefined);
    return decoded;
  }

  /** `likeUsed`: for a file never read, what a file of its kind held (see FileLayouts), to size the first read. */
  private readBytes(dir: string, name: string, kept: KeptFile, likeUsed = 0): Buffer {
    const expected = kept.used || likeUsed;
    // This scrape's listing: made after a look at the directory, or reused as unchanged since.
    const listing = this.listings.get(dir);
    if (kept.fd !== undefined) {
      // The name led to it after the listing's look, and the directory has not changed since.
      if (listing !== undefined && kept.shownUnder === listing) return readOpenMetricsFile(kept.fd, this.buffer, expected, 'regular');
      const stat = lstatOrUndefined(fileInDirectory(dir, name));
      if (stat !== undefined && stat.dev === kept.dev && stat.ino === kept.ino) {
        kept.shownUnder = listing;
        // The same inode's stat: it serves the read as the descriptor's would.
        return readOpenMetricsFile(kept.fd, this.buffer, expected, stat);
      }
      // The name leads to another file, or to none: the kept one may live on under another name.
      this.closeFile(kept);
      this.counts.filesReopened++;
    }
    const fd = openMetricsFile(fileInDirectory(dir, name));
    if (this.openFiles < this.maxKeptFiles) {
      kept.fd = fd;
      this.openFiles++;
      const stat = fstatSync(fd);
      kept.dev = stat.dev;
      kept.ino = stat.ino;
      kept.shownUnder = listing;
      return readOpenMetricsFile(fd, this.buffer, expected, stat);
    }
    // Past the descriptor limit: opened for this read only, the layout is still kept.
    try {
      return readOpenMetricsFile(fd, this.buffer, expected);
    } finally {
      closeQuietly(fd);
    }
  }

  /**
   * Keeps a file's records for the next scrape, and its bytes too (`withBytes`: not on the
   * file's first read), as far as the memory budget allows. The records come first: with them,
   * only changed keys are decoded; the bytes only spare comparing keys one by one when nothing
   * changed, and take several times the memory, so they get at most half of the budget,
   * whatever the order files are read in.
   */
  private keep(kept: KeptFile, bytes: Buffer, records: FileRecords, withBytes: boolean): void {
    this.keptBytes -= costOf(kept);
    this.copiedBytes -= kept.copy?.bytes.length ?? 0;
    const recordsCost = records.keys.length * RECORD_COST;
    if (this.keptBytes + recordsCost > this.maxKeptBytes) {
      kept.copy = undefined;
      kept.records = undefined;
      return;
    }
    kept.records = records;
    const copyFits = withBytes && this.keptBytes + recordsCost + bytes.length <= this.maxKeptBytes && this.copiedBytes + bytes.length <= this.maxKeptBytes / 2;
    if (!copyFits) {
      kept.copy = undefined;
    } else if (kept.copy !== undefined && kept.copy.bytes.length === bytes.length) {
      bytes.copy(kept.copy.bytes);
    } else {
      // Memory of its own, so that it is aligned for refreshValues' word views.
      const copy = Buffer.allocUnsafeSlow(bytes.length);
      bytes.copy(copy);
      kept.copy = viewOf(copy);
    }
    this.keptBytes += costOf(kept);
    this.copiedBytes += kept.copy?.bytes.length ?? 0;
  }
}

/** Whether two arrays hold the same bits (every NaN its own). */
function sameBits(a: Float64Array, b: Float64Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function statOrUndefined(dir: string): Stats | undefined {
  try {
    // Milliseconds as a double keep the time to a fraction of a microsecond, and a change after a
    // settled listing is stamped most of a second after the time that listing saw.
    return statSync(dir);
  } catch {
    return undefined; // the listing reports what is wrong with the directory
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch {
    return undefined; // opening the name reports what is wrong with it
  }
}

function sameDirectory(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing to do about a descriptor that will not close.
  }
}

function isOutOfDescriptors(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EMFILE' || code === 'ENFILE';
}

// A cache dropped without close() (a registry that goes out of use) gives its descriptors back when collected.
const descriptorsOfDropped = new FinalizationRegistry((dirs: Map<string, Map<string, KeptFile>>) => {
  for (const kept of dirs.values()) {
    for (const file of kept.values()) {
      if (file.fd !== undefined) closeQuietly(file.fd);
    }
  }
});
