import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseTemporaryName, temporaryNameOf } from '../format/fileNames.js';
import {
  FileFormatError, HEADER_SIZE, INITIAL_FILE_SIZE, encodeFile, entrySize, grownCapacity, readEntries, readUsed, scanEntries, storedKeyWordCount,
  writeUsed, writeValue,
} from '../format/format.js';
import { hashWords } from '../format/storedKeyTable.js';
import { forgetReport, reportOnce } from '../common/report.js';
import { Cell, type CellOwner } from './cell.js';
import { SlotTable, grownLength } from './slotTable.js';
import { LARGE_FILE_BYTES, warnIfLargeFile } from './largeFileWarning.js';

// Appended entries wait in a buffer of at most this many bytes: past it, they are written
// ahead of the flush, so a turn that creates thousands of series holds no copy of them all.
const PENDING_WRITE_AT = 64 * 1024;
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
 * One per-process metrics file. The file's bytes are not kept in memory: a key is found by a
 * hash of its stored words (its length, bytes and padding, as in the file) and, on a match,
 * a comparison with the entry's words as written (see findSlot), so a worker keeps no string
 * and no copy of a key per series. New entries wait in a small buffer until `flush` writes
 * them, then the changed values (16 bytes each), then the `used` header, so that a reader that
 * trusts `used` never sees a half-written entry. What each slot last wrote is kept, so a value
 * that came back to it (a gauge up and down again) is not written.
 */
export class MetricFile implements CellOwner {
  private fd: number;
  /** Bytes in use, header included, appended entries counted. */
  private used = HEADER_SIZE;
  private usedOnDisk: number;
  /** The size the file is to have (grown as the reference client grows it). */
  private capacity = INITIAL_FILE_SIZE;
  private sizeOnDisk: number;
  /** Entries appended and not yet written: the file's bytes [pendingFrom, used). */
  private pendingBytes: Buffer | undefined;
  private pendingFrom = HEADER_SIZE;
  /**
   * Per slot (an entry, in file order): its cell, where its value starts, what was last written.
   * Entries lie end to end, so an entry starts where the previous slot's value ends.
   */
  private cells: Cell[] = [];
  private valueOffsets: Int32Array = new Int32Array(16);
  private writtenValues: Float64Array = new Float64Array(16);
  /** Made by the first timestamp other than 0 (only mostrecent gauges keep one): until then every slot's is 0. */
  private writtenTimestamps: Float64Array | undefined;
  /** Finds slots by the hash of their stored key. */
  private readonly slots = new SlotTable();
  private readonly dirtyCells: Cell[] = [];
  private queued = false;
  /** The inode the path named when it was opened; another one there means the file was replaced. */
  private inode = 0;
  private checkedAt = performance.now();

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
        this.usedOnDisk = 0;
        this.sizeOnDisk = 0;
        this.queue();
      } else {
        // Read once, to adopt the entries; not kept.
        const image = Buffer.alloc(size);
        readAll(this.fd, image, size);
        this.capacity = size;
        this.sizeOnDisk = size;
        this.usedOnDisk = image.readInt32LE(0);
        this.adoptExistingEntries(image);
      }
    } catch (error) {
      fs.closeSync(this.fd);
      throw error;
    }
  }

  /** A restarted process with the same identity continues from the values in its file. */
  private adoptExistingEntries(image: Buffer): void {
    try {
      this.indexEntries(image, (value, timestamp, slot) => {
        const cell = new Cell(this, slot);
        cell.value = value;
        cell.timestamp = timestamp;
        return cell;
      });
    } catch (error) {
      if (!(error instanceof FileFormatError)) throw error;
      this.clearSlots();
      this.replaceCorruptFile(error);
    }
  }

  /**
   * Makes a slot of every entry of `image` (a whole file), in order, with the cell `cellOf`
   * gives it, and sets `used` and what was written from the image. Throws FileFormatError.
   */
  private indexEntries(image: Buffer, cellOf: (value: number, timestamp: number, slot: number) => Cell): void {
    this.clearSlots();
    let end = HEADER_SIZE;
    scanEntries(image, (view, keyStart, keyLength, value, timestamp) => {
      const start = keyStart - 4;
      const words = storedKeyWordCount(keyLength);
      const slot = this.cells.length;
      this.addSlot(cellOf(value, timestamp, slot), start + words * 4, hashWords(view.words, start >> 2, words));
      this.writtenValues[slot] = value;
      this.writeTimestamp(slot, timestamp);
      end = start + words * 4 + 16;
    });
    this.used = end;
    this.pendingFrom = end;
  }

  private clearSlots(): void {
    this.cells = [];
    this.slots.clear();
  }

  /** Keeps the unreadable bytes for inspection under a name no collector reads, and starts anew. */
  private replaceCorruptFile(error: FileFormatError): void {
    const movedTo = `${this.path}.corrupt-${Date.now()}`;
    fs.closeSync(this.fd);
    fs.renameSync(this.path, movedTo);
    this.fd = openOrCreate(this.path);
    this.inode = fs.fstatSync(this.fd).ino;
    this.used = HEADER_SIZE;
    this.pendingFrom = HEADER_SIZE;
    this.usedOnDisk = HEADER_SIZE;
    this.capacity = INITIAL_FILE_SIZE;
    this.sizeOnDisk = INITIAL_FILE_SIZE;
    this.hooks.onReplacedCorrupt(this.path, movedTo, error);
  }

  cell(key: string): Cell {
    // A closed file has nothing to read keys back from, and writes nothing: a cell that only counts.
    if (this.fd < 0) return new Cell(this, -1);
    const length = encodeStoredKey(key);
    const hash = hashWords(keyWords, 0, length >> 2);
    const slot = this.findSlot(hash, length);
    return slot >= 0 ? this.cells[slot]! : this.append(key, length, hash);
  }

  /** The slot whose stored key is keyBytes[0, length), or -1. */
  private findSlot(hash: number, length: number): number {
    return this.slots.find(hash, (slot) => this.valueOffsets[slot]! - this.entryStart(slot) === length && this.storedKeyIs(slot, length));
  }

  private entryStart(slot: number): number {
    return slot === 0 ? HEADER_SIZE : this.valueOffsets[slot - 1]! + 16;
  }

  /** Keeps what was written of a slot's timestamp; the array is made by the first that is not 0. */
  private writeTimestamp(slot: number, timestamp: number): void {
    if (this.writtenTimestamps === undefined) {
      if (Object.is(timestamp, 0)) return;
      this.writtenTimestamps = new Float64Array(this.valueOffsets.length);
    }
    this.writtenTimestamps[slot] = timestamp;
  }

  /** Whether the entry of `slot`, of a stored key as long, holds keyBytes[0, length): read back from the file, or the pending buffer. */
  private storedKeyIs(slot: number, length: number): boolean {
    const start = this.entryStart(slot);
    if (start >= this.pendingFrom) return this.pendingBytes!.compare(keyBytes, 0, length, start - this.pendingFrom, start - this.pendingFrom + length) === 0;
    const stored = scratch(length);
    let read = 0;
    while (read < length) {
      const got = fs.readSync(this.fd, stored, read, length - read, start + read);
      if (got === 0) return false;
      read += got;
    }
    return stored.compare(keyBytes, 0, length, 0, length) === 0;
  }

  private append(key: string, length: number, hash: number): Cell {
    const start = this.used;
    const end = start + length + 16;
    if (end > this.capacity) {
      this.capacity = grownCapacity(this.capacity, end);
      if (end > LARGE_FILE_BYTES) warnIfLargeFile(this.path, end, [this.keys(), [key]]);
    }
    const pendingEnd = end - this.pendingFrom;
    let pending = this.pendingBytes;
    if (pending === undefined || pending.length < pendingEnd) {
      // Doubling, up to PENDING_WRITE_AT unless writes fail and entries pile up.
      const doubled = 2 * (pending?.length ?? 0);
      const grown = Buffer.allocUnsafe(Math.max(pendingEnd, 4096, pendingEnd > PENDING_WRITE_AT ? doubled : Math.min(doubled, PENDING_WRITE_AT)));
      pending?.copy(grown, 0, 0, start - this.pendingFrom);
      this.pendingBytes = pending = grown;
    }
    // The entry as encodeStoredKey wrote it: the stored key, then a zero value and timestamp.
    keyBytes.copy(pending, start - this.pendingFrom, 0, length + 16);
    const cell = new Cell(this, this.cells.length);
    this.addSlot(cell, start + length, hash);
    this.used = end;
    this.queue();
    // A turn that creates many series writes them as it goes (past `used`, unseen until the
    // header moves), so the buffer stays small; a failure waits for the flush, which reports it.
    if (pendingEnd >= PENDING_WRITE_AT) {
      try {
        // The buffer is kept for the entries that follow: a new one per 64 KB of entries
        // would leave a trail of garbage outside the heap.
        this.writePending(false);
      } catch {
        // kept in the buffer
      }
    }
    return cell;
  }

  private addSlot(cell: Cell, valueOffset: number, hash: number): void {
    const slot = this.cells.length;
    if (slot === this.valueOffsets.length) {
      const size = grownLength(slot);
      this.valueOffsets = grownInts(this.valueOffsets, size);
      this.writtenValues = grownDoubles(this.writtenValues, size);
      if (this.writtenTimestamps !== undefined) this.writtenTimestamps = grownDoubles(this.writtenTimestamps, size);
    }
    this.cells.push(cell);
    this.valueOffsets[slot] = valueOffset;
    this.writtenValues[slot] = 0;
    if (this.writtenTimestamps !== undefined) this.writtenTimestamps[slot] = 0;
    this.slots.add(hash);
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
   * Writes what changed; `now` is the caller's performance.now(), one clock read for all files. A
   * value that came back to what the file holds (a gauge up and down again) is not written.
   * On an I/O error nothing is forgotten: the next flush tries again.
   */
  flush(now = performance.now()): void {
    this.queued = false;
    if (this.fd < 0) return;
    if (now - this.checkedAt >= REPLACED_CHECK_MS) {
      this.checkedAt = now;
      this.reopenIfReplaced();
    }
    const dirty = this.dirtyCells;
    let done = 0;
    try {
      for (; done < dirty.length; done++) {
        const cell = dirty[done]!;
        const slot = cell.slot;
        const value = cell.value;
        const timestamp = cell.timestamp;
        const writtenTimestamp = this.writtenTimestamps === undefined ? 0 : this.writtenTimestamps[slot]!;
        if (!Object.is(this.writtenValues[slot], value) || !Object.is(writtenTimestamp, timestamp)) {
          const at = this.valueOffsets[slot]!;
          // A value of an entry still pending goes out with it.
          if (at >= this.pendingFrom) {
            writeValue(this.pendingBytes!, at - this.pendingFrom, value, timestamp);
          } else {
            writeValue(valueBytes, 0, value, timestamp);
            writeAt(this.fd, valueBytes, 0, 16, at);
          }
          this.writtenValues[slot] = value;
          this.writeTimestamp(slot, timestamp);
        }
        cell.dirty = false;
      }
      dirty.length = 0;
      this.writePending(true);
      if (this.used !== this.usedOnDisk) {
        writeUsed(usedBytes, this.used);
        writeAt(this.fd, usedBytes, 0, 4, 0);
        this.usedOnDisk = this.used;
      }
    } catch (error) {
      // The cell that failed and those after it stay dirty and listed, for the next flush.
      dirty.splice(0, done);
      throw error;
    }
  }

  /**
   * Writes the pending entries (past `used` on disk: no reader looks there before the header
   * moves). `release` lets go of the buffer (a flush: a quiet file holds none).
   */
  private writePending(release: boolean): void {
    if (this.capacity > this.sizeOnDisk) {
      fs.ftruncateSync(this.fd, this.capacity);
      this.sizeOnDisk = this.capacity;
    }
    if (this.used !== this.pendingFrom) {
      writeAt(this.fd, this.pendingBytes!, 0, this.used - this.pendingFrom, this.pendingFrom);
      this.pendingFrom = this.used;
    }
    if (release) this.pendingBytes = undefined;
  }

  /** True while something waits to be written (a failed write included). */
  get pending(): boolean {
    return this.queued || this.dirtyCells.length > 0 || this.used !== this.pendingFrom || this.used !== this.usedOnDisk;
  }

  /** The file's bytes [0, used) as this process has them: read back from the open file, and the pending entries. */
  private wholeImage(): Buffer {
    const image = Buffer.alloc(this.used);
    readAll(this.fd, image, this.pendingFrom);
    this.pendingBytes?.copy(image, this.pendingFrom, 0, this.used - this.pendingFrom);
    writeUsed(image, this.used);
    return image;
  }

  /** Every key of the file (for the large-file warning): read back, rarely. */
  private keys(): string[] {
    return readEntries(this.wholeImage()).map((entry) => entry.key);
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
      // The open descriptor still reads this process's own file, unlinked or not.
      const image = this.wholeImage();
      const fd = createComplete(this.path, image, this.used, this.capacity, true)!;
      fs.closeSync(this.fd);
      this.fd = fd;
      this.inode = fs.fstatSync(fd).ino;
      this.usedOnDisk = this.used;
      this.sizeOnDisk = this.capacity;
      this.pendingFrom = this.used;
      this.pendingBytes = undefined;
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
    const entries = readEntries(this.wholeImage());
    if (entries.length !== this.cells.length) throw new Error(`${this.path} holds ${entries.length} entries where this process wrote ${this.cells.length}`);
    const kept: { key: string; value: number; timestamp: number; cell: Cell }[] = [];
    const removed: Cell[] = [];
    entries.forEach(({ key }, slot) => {
      const cell = this.cells[slot]!;
      if (match(key)) removed.push(cell);
      // In-memory values, pending ones included: the new file is complete as of now.
      else kept.push({ key, value: cell.value, timestamp: cell.timestamp, cell });
    });
    if (removed.length === 0) return 0;
    // File order is kept, so the new file is what a writer creating the survivors would write.
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
    this.indexEntries(image, (_value, _timestamp, slot) => {
      const cell = kept[slot]!.cell;
      cell.slot = slot;
      cell.dirty = false;
      return cell;
    });
    this.usedOnDisk = used;
    this.capacity = image.length;
    this.sizeOnDisk = image.length;
    this.pendingBytes = undefined;
    this.dirtyCells.length = 0;
    for (const cell of removed) cell.dirty = true;
    return removed.length;
  }

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

// One key at a time is encoded, as a new entry of the file, into these (the words for the hash).
let keyBytes = Buffer.allocUnsafeSlow(1024);
let keyWords: Int32Array = new Int32Array(keyBytes.buffer, 0, keyBytes.length >> 2);

/**
 * Puts a new entry of `key` (value and timestamp 0) at the start of keyBytes; returns the
 * length of its stored key (length word, UTF-8 bytes and padding), where the value starts.
 * Encoded in place, as writeEntry lays it out: a Buffer per new series would be garbage
 * (pooled slabs outside the heap) that a process creating thousands of series keeps paying for.
 */
function encodeStoredKey(key: string): number {
  // Room for any key of this many UTF-16 units (3 UTF-8 bytes each at most).
  const room = entrySize(key.length * 3);
  if (room > keyBytes.length) {
    keyBytes = Buffer.allocUnsafeSlow(Math.max(room, keyBytes.length * 2));
    keyWords = new Int32Array(keyBytes.buffer, 0, keyBytes.length >> 2);
  }
  const length = keyBytes.write(key, 4, 'utf8');
  keyBytes.writeInt32LE(length, 0);
  const valueOffset = entrySize(length) - 16;
  keyBytes.fill(PAD_BYTE, 4 + length, valueOffset);
  keyBytes.fill(0, valueOffset, valueOffset + 16);
  return valueOffset;
}

// Python pads a stored key with spaces to the 8-byte alignment of its value.
const PAD_BYTE = 0x20;

let scratchBytes = Buffer.allocUnsafeSlow(1024);

/** A buffer of at least `size` bytes for reading a stored key back. */
function scratch(size: number): Buffer {
  if (scratchBytes.length < size) scratchBytes = Buffer.allocUnsafeSlow(Math.max(size, scratchBytes.length * 2));
  return scratchBytes;
}

const valueBytes = Buffer.alloc(16);
const usedBytes = Buffer.alloc(4);

function grownInts(array: Int32Array, size: number): Int32Array {
  const grown = new Int32Array(size);
  grown.set(array);
  return grown;
}

function grownDoubles(array: Float64Array, size: number): Float64Array {
  const grown = new Float64Array(size);
  grown.set(array);
  return grown;
}

function writeAt(fd: number, buffer: Buffer, start: number, end: number, position: number): void {
  let offset = start;
  while (offset < end) offset += fs.writeSync(fd, buffer, offset, end - offset, position + offset - start);
}

/** Reads the file's first `length` bytes into `buffer`; a shorter file leaves the rest zero. */
function readAll(fd: number, buffer: Buffer, length: number): void {
  let offset = 0;
  while (offset < length) {
    const got = fs.readSync(fd, buffer, offset, length - offset, offset);
    if (got === 0) break;
    offset += got;
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
