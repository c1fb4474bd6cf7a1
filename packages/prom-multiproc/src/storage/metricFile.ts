import * as fs from 'node:fs';
import {
  FileFormatError, HEADER_SIZE, INITIAL_FILE_SIZE, entrySize, grownCapacity, readEntries, writeEntry, writeUsed, writeValue,
  type Entry,
} from '../format.js';
import { Cell, type CellOwner } from './cell.js';

// Ranges closer than this are written as one: a syscall costs more than a few KiB of copying.
const COALESCE_GAP = 4096;
// O_NOFOLLOW: a symlink planted in a shared directory must not redirect our writes.
const OPEN_FLAGS = fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;
const FILE_MODE = 0o644;

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

  constructor(
    readonly path: string,
    private readonly hooks: MetricFileHooks,
  ) {
    this.fd = fs.openSync(path, OPEN_FLAGS, FILE_MODE);
    try {
      const size = fs.fstatSync(this.fd).size;
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
    this.fd = fs.openSync(this.path, OPEN_FLAGS, FILE_MODE);
    this.image = Buffer.alloc(INITIAL_FILE_SIZE);
    this.used = HEADER_SIZE;
    this.usedOnDisk = 0;
    this.sizeOnDisk = 0;
    this.queue();
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

  /** Writes what changed. On an I/O error nothing is forgotten: the next flush tries again. */
  flush(): void {
    this.queued = false;
    if (this.fd < 0) return;
    const ranges = this.retryRanges;
    this.retryRanges = [];
    for (const cell of this.dirtyCells) {
      writeValue(this.image, cell.valueOffset, cell.value, cell.timestamp);
      cell.dirty = false;
      ranges.push(cell.valueOffset, cell.valueOffset + 16);
    }
    this.dirtyCells.length = 0;
    if (this.appendFrom >= 0) {
      ranges.push(this.appendFrom, this.used);
      this.appendFrom = -1;
    }
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

  close(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
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
