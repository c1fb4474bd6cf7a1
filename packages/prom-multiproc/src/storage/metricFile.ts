import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseTemporaryName, temporaryNameOf } from '../format/fileNames.js';
import {
  FileFormatError, HEADER_SIZE, INITIAL_FILE_SIZE, encodeFile, entrySize, grownCapacity, readEntries, readUsed, writeEntry, writeUsed,
  writeValue, type Entry,
} from '../format/format.js';
import { forgetReport, reportOnce } from '../common/report.js';
import { Cell, type CellOwner } from './cell.js';
import { warnIfLargeFile } from './largeFileWarning.js';

// Ranges closer than this are written as one: a syscall costs more than a few KiB of copying.
const COALESCE_GAP = 4096;
// O_NOFOLLOW: a symlink planted in a shared directory must not redirect our writes.
const OPEN_EXISTING = fs.constants.O_RDWR | fs.constants.O_NOFOLLOW;
const CREATE_NEW = OPEN_EXISTING | fs.constants.O_CREAT | fs.constants.O_EXCL;
// Owner writes, the group reads (a scraper running as another user of the service's group),
// others nothing: metrics can tell a lot about a service.
const FILE_MODE = 0o640;
// How often a writing process checks that its path still names its file (a directory removed
// and recreated, another file renamed over it): one lstat a second per file.
const REPLACED_CHECK_MS = 1000;
// Test hook: the creator stops itself right after linking a new file into place, before it
// unlinks the temporary name, so that a test can SIGKILL it there. Read once, at import.
const STOP_AFTER_LINK = process.env.PROM_MULTIPROC_TEST_STOP_AFTER_LINK === '1';

export interface MetricFileHooks {
  /** Called once when the file first has something to write since its last flush. */
  onQueued(file: MetricFile): void;
  /** A file that held bytes of another format was moved aside to this path. */
  onReplacedCorrupt(path: string, movedTo: string, error: FileFormatError): void;
}

/**
 * One per-process metrics file. `image` mirrors the file's bytes: new entries and changed
 * values are written into it, and `flush` copies the changed ranges to the file in as few
 * writes as possible, entries before the `used` header, so that a reader that trusts `used`
 * never sees a half-written entry.
 */
export class MetricFile implements CellOwner {
  private fd: number;
  private image: Buffer;
  private used: number;
  private usedOnDisk: number;
  private sizeOnDisk: number;
  private readonly cells = new Map<string, Cell>();
  /** Entries found in the file when it was opened, not yet asked for. */
  private readonly found = new Map<string, Entry>();
  private readonly dirtyCells: Cell[] = [];
  /** Start of the appended entries not yet written, or -1. */
  private appendFrom = -1;
  /** [start, end) pairs that failed to write and wait for the next flush. */
  private retryRanges: number[] = [];
  private queued = false;
  /** The inode the path named when it was opened; another one there means the file was replaced. */
  private inode = 0;
  private checkedAt = Date.now();

  constructor(
    readonly path: string,
    private readonly hooks: MetricFileHooks,
  ) {
    this.fd = openOrCreate(path);
    try {
      const stat = withoutLeftoverTemporaryName(path, fs.fstatSync(this.fd), this.fd);
      checkOpenedFile(path, stat);
      this.inode = stat.ino;
      const size = stat.size;
      if (size === 0) {
        this.image = Buffer.alloc(INITIAL_FILE_SIZE);
        this.used = HEADER_SIZE;
        this.usedOnDisk = 0;
        this.sizeOnDisk = 0;
        this.queue();
      } else {
        this.image = Buffer.alloc(size);
        fs.readSync(this.fd, this.image, 0, size, 0);
        this.used = HEADER_SIZE;
        this.sizeOnDisk = size;
        this.usedOnDisk = this.image.readInt32LE(0);
        this.adoptExistingEntries();
      }
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  /** A restarted process with the same identity continues from the values in its file. */
  private adoptExistingEntries(): void {
    let entries: Entry[];
    try {
      entries = readEntries(this.image);
    } catch (error) {
      if (!(error instanceof FileFormatError)) throw error;
      this.replaceCorruptFile(error);
      return;
    }
    for (const entry of entries) this.found.set(entry.key, entry);
    const last = entries.at(-1);
    this.used = last === undefined ? HEADER_SIZE : last.valueOffset + 16;
  }

  /** Keeps the unreadable bytes for inspection under a name no collector reads, and starts anew. */
  private replaceCorruptFile(error: FileFormatError): void {
    const movedTo = `${this.path}.corrupt-${Date.now()}`;
    fs.closeSync(this.fd);
    fs.renameSync(this.path, movedTo);
    this.fd = openOrCreate(this.path);
    this.inode = fs.fstatSync(this.fd).ino;
    this.image = Buffer.alloc(INITIAL_FILE_SIZE);
    this.used = HEADER_SIZE;
    this.usedOnDisk = HEADER_SIZE;
    this.sizeOnDisk = INITIAL_FILE_SIZE;
    this.hooks.onReplacedCorrupt(this.path, movedTo, error);
  }

  cell(key: string): Cell {
    const existing = this.cells.get(key);
    if (existing !== undefined) return existing;
    const found = this.found.get(key);
    let cell: Cell;
    if (found !== undefined) {
      cell = new Cell(this, found.valueOffset);
      cell.value = found.value;
      cell.timestamp = found.timestamp;
      this.found.delete(key);
    } else {
      cell = new Cell(this, this.append(key));
    }
    this.cells.set(key, cell);
    return cell;
  }

  private append(key: string): number {
    const keyBytes = Buffer.from(key, 'utf8');
    const size = entrySize(keyBytes.length);
    if (this.used + size > this.image.length) {
      const grown = Buffer.alloc(grownCapacity(this.image.length, this.used + size));
      this.image.copy(grown, 0, 0, this.used);
      this.image = grown;
      warnIfLargeFile(this.path, this.used + size, [this.cells.keys(), this.found.keys(), [key]]);
    }
    const valueOffset = writeEntry(this.image, this.used, keyBytes, 0, 0);
    if (this.appendFrom < 0) this.appendFrom = this.used;
    this.used += size;
    this.queue();
    return valueOffset;
  }

  onDirty(cell: Cell): void {
    cell.dirty = true;
    this.dirtyCells.push(cell);
    this.queue();
  }

  private queue(): void {
    if (this.queued) return;
    this.queued = true;
    this.hooks.onQueued(this);
  }

  /**
   * Writes what changed; `now` is the caller's Date.now(), one clock read for all files. A
   * value that came back to what the file holds (a gauge up and down again) is not written.
   * On an I/O error nothing is forgotten: the next flush tries again.
   */
  flush(now = Date.now()): void {
    this.queued = false;
    if (this.fd < 0) return;
    if (now - this.checkedAt >= REPLACED_CHECK_MS) {
      this.checkedAt = now;
      this.reopenIfReplaced();
    }
    const ranges = this.retryRanges;
    this.retryRanges = [];
    const image = this.image;
    for (const cell of this.dirtyCells) {
      cell.dirty = false;
      const at = cell.valueOffset;
      if (Object.is(image.readDoubleLE(at), cell.value) && Object.is(image.readDoubleLE(at + 8), cell.timestamp)) continue;
      writeValue(image, at, cell.value, cell.timestamp);
      ranges.push(at, at + 16);
    }
    this.dirtyCells.length = 0;
    if (this.appendFrom >= 0) {
      ranges.push(this.appendFrom, this.used);
      this.appendFrom = -1;
    }
    if (ranges.length === 0 && this.used === this.usedOnDisk && this.image.length <= this.sizeOnDisk) return;
    try {
      this.writeRanges(ranges);
    } catch (error) {
      this.retryRanges = ranges;
      throw error;
    }
  }

  private writeRanges(ranges: number[]): void {
    if (this.image.length > this.sizeOnDisk) {
      fs.ftruncateSync(this.fd, this.image.length);
      this.sizeOnDisk = this.image.length;
    }
    for (const [start, end] of coalesce(ranges)) {
      writeAll(this.fd, this.image, start, end);
    }
    if (this.used !== this.usedOnDisk) {
      writeUsed(this.image, this.used);
      writeAll(this.fd, this.image, 0, 4);
      this.usedOnDisk = this.used;
    }
  }

  /** True while something waits to be written (a failed write included). */
  get pending(): boolean {
    return this.queued || this.retryRanges.length > 0;
  }

  /**
   * Writes to an unlinked or replaced file reach no scrape, so when the path no longer names
   * the open file (the directory was removed and recreated, the file was deleted or another
   * moved over it), the file is written anew, complete, from this process's values, and
   * writing continues there. Reports once per fault; never throws (a failure is retried at
   * the next check). Returns whether the file was written anew.
   */
  reopenIfReplaced(): boolean {
    if (this.fd < 0) return false;
    let current: fs.Stats | undefined;
    try {
      current = fs.lstatSync(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    if (current !== undefined && current.ino === this.inode) return false;
    const failureKey = `recreate\u0000${this.path}`;
    try {
      writeUsed(this.image, this.used);
      const fd = createComplete(this.path, this.image, this.used, this.image.length, true)!;
      fs.closeSync(this.fd);
      this.fd = fd;
      this.inode = fs.fstatSync(fd).ino;
      this.usedOnDisk = this.used;
      this.sizeOnDisk = this.image.length;
      forgetReport(failureKey);
      reportOnce(`recreated\u0000${this.path}\u0000${this.inode}`, new Error(
        `${this.path} was ${current === undefined ? 'removed' : 'replaced by another file'} while this process was writing it; ` +
          'it has been written anew with this process\'s values. Run "prom-multiproc clean" only before the workers start.',
      ));
      return true;
    } catch (error) {
      reportOnce(failureKey, new Error(
        `${this.path} was removed or replaced while this process was writing it, and cannot be written anew yet: ${(error as Error).message}. ` +
          'Values stay in memory; the file is recreated once the directory is back (checked every second while values change).',
      ));
      return false;
    }
  }

  /**
   * Takes the entries whose key matches out of the file. Entries cannot be deleted in place
   * (every reader, Python's included, reads all entries up to `used`), so the file is written
   * anew without them under a temporary name and renamed over the old one: a reader finds the
   * old file or the complete new one, never a gap. Only this process writes its identity's
   * files (the identity lock), so no one else's write is lost in between. All or nothing: if
   * the new file cannot be written this throws and nothing changed. Removed cells are left
   * dirty for good, so a child still held by the caller never asks to be written again.
   * Returns how many entries went.
   */
  removeEntries(match: (key: string) => boolean): number {
    if (this.fd < 0) throw new Error(`${this.path} is closed`);
    const current: { key: string; value: number; timestamp: number; offset: number; cell: Cell | undefined }[] = [];
    for (const [key, cell] of this.cells) current.push({ key, value: cell.value, timestamp: cell.timestamp, offset: cell.valueOffset, cell });
    for (const [key, entry] of this.found) current.push({ key, value: entry.value, timestamp: entry.timestamp, offset: entry.valueOffset, cell: undefined });
    const removed = new Set(current.filter((entry) => match(entry.key)).map((entry) => entry.key));
    if (removed.size === 0) return 0;
    // File order is kept, so the new file is what a writer creating the survivors would write.
    const kept = current.filter((entry) => !removed.has(entry.key)).sort((a, b) => a.offset - b.offset);
    // In-memory values, pending ones included: the new file is complete as of now.
    const image = encodeFile(kept);
    const used = readUsed(image);
    const fd = createComplete(this.path, image, used, image.length, true)!;
    const oldFd = this.fd;
    this.fd = fd;
    try {
      this.inode = fs.fstatSync(fd).ino;
      fs.closeSync(oldFd);
    } catch {
      // The new file is in place either way; a wrong inode only makes the next check rewrite it.
    }
    this.image = image;
    this.used = used;
    this.usedOnDisk = used;
    this.sizeOnDisk = image.length;
    this.appendFrom = -1;
    this.retryRanges = [];
    this.dirtyCells.length = 0;
    const written = readEntries(image);
    kept.forEach((entry, i) => {
      const at = written[i]!;
      if (entry.cell === undefined) {
        this.found.set(entry.key, at);
      } else {
        entry.cell.valueOffset = at.valueOffset;
        entry.cell.dirty = false;
      }
    });
    for (const key of removed) {
      const cell = this.cells.get(key);
      if (cell !== undefined) cell.dirty = true;
      this.cells.delete(key);
      this.found.delete(key);
    }
    return removed.size;
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** Opens the file at `file`, or creates it complete; a reader never meets it empty. */
function openOrCreate(file: string): number {
  for (;;) {
    try {
      return fs.openSync(file, OPEN_EXISTING);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    // A fresh file holds the header (used = 8), as the reference client's does, so no scrape
    // ever sees the 0-byte file that it reports as damaged.
    const header = Buffer.alloc(HEADER_SIZE);
    writeUsed(header, HEADER_SIZE);
    let fd: number | undefined;
    try {
      fd = createComplete(file, header, HEADER_SIZE, INITIAL_FILE_SIZE, false);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error;
      // A full disk has room for a name but not for the header: an empty file, whose writes
      // fail and are retried until there is space, beats values that never reach a file.
      return fs.openSync(file, OPEN_EXISTING | fs.constants.O_CREAT, FILE_MODE);
    }
    if (fd !== undefined) return fd;
    // Another opener created it first: open theirs.
  }
}

/**
 * Writes bytes [0, length) of `image` into a new file of `size` bytes under a temporary name
 * that no collector reads, then gives it the name `file`: by a hard link, which fails if a
 * file appeared there meanwhile (undefined is returned), or, with `replace`, by a rename over
 * whatever is there. Either way a reader finds the old file or the complete new one.
 */
function createComplete(file: string, image: Buffer, length: number, size: number, replace: boolean): number | undefined {
  const temporary = temporaryNameOf(file, process.pid, randomBytes(4).toString('hex'));
  const fd = fs.openSync(temporary, CREATE_NEW, FILE_MODE);
  let named = false;
  try {
    fs.ftruncateSync(fd, size);
    writeAll(fd, image, 0, length);
    if (replace) {
      fs.renameSync(temporary, file);
    } else {
      try {
        fs.linkSync(temporary, file);
        if (STOP_AFTER_LINK) process.kill(process.pid, 'SIGSTOP');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return undefined;
        // No hard links on this file system (some FUSE and network mounts): a rename will do,
        // the process identity being unique among the writers of the directory.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw error;
        fs.renameSync(temporary, file);
      }
    }
    named = true;
    return fd;
  } finally {
    if (!named) fs.closeSync(fd);
    try {
      fs.unlinkSync(temporary);
    } catch {
      // already renamed into place
    }
  }
}

/**
 * A creator killed between linking a new file into place and unlinking its temporary name
 * leaves that name as a second link to the file. Such a twin is ours and no collector reads
 * it: it is unlinked, so that the file has the one name checkOpenedFile asks for. Any other
 * second link stays, and is refused. Returns the file's stat as it is now.
 */
function withoutLeftoverTemporaryName(file: string, stat: fs.Stats, fd: number): fs.Stats {
  if (!stat.isFile() || stat.nlink !== 2) return stat;
  const dir = dirname(file);
  const name = basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return stat;
  }
  for (const candidate of names) {
    if (parseTemporaryName(candidate)?.target !== name) continue;
    const twin = join(dir, candidate);
    const twinStat = fs.lstatSync(twin, { throwIfNoEntry: false });
    if (twinStat === undefined || twinStat.ino !== stat.ino || twinStat.dev !== stat.dev) continue;
    try {
      fs.unlinkSync(twin);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return stat;
    }
    return fs.fstatSync(fd);
  }
  return stat;
}

/**
 * Only a regular file with one name is written: in a directory others can write to, a FIFO or
 * a hard link to someone else's file planted under our name must not receive our writes.
 */
function checkOpenedFile(file: string, stat: fs.Stats): void {
  if (!stat.isFile()) throw new Error(`${file} is not a regular file`);
  if (stat.nlink > 1) throw new Error(`${file} has ${stat.nlink} hard links; a metrics file has one (was it linked to another file?)`);
}

function writeAll(fd: number, buffer: Buffer, start: number, end: number): void {
  let offset = start;
  while (offset < end) offset += fs.writeSync(fd, buffer, offset, end - offset, offset);
}

/** Sorted, merged [start, end) ranges from a flat list of pairs. */
function coalesce(flat: number[]): [number, number][] {
  if (flat.length === 0) return [];
  const pairs: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  if (pairs.length > 1) pairs.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [pairs[0]!];
  for (let i = 1; i < pairs.length; i++) {
    const last = merged[merged.length - 1]!;
    const next = pairs[i]!;
    if (next[0] <= last[1] + COALESCE_GAP) last[1] = Math.max(last[1], next[1]);
    else merged.push(next);
  }
  return merged;
}
