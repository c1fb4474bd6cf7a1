// How the collector reads one file of the shared directory, which anyone who can write the
// directory may have put there. Whatever is found, a scrape must neither hang nor allocate
// without bound, and a file that a live writer is growing must be read whole, not skipped.
//
// - O_NOFOLLOW: a symlink is reported, not followed (to /dev/zero, a FIFO, or a secret whose
//   first bytes would end up in a warning).
// - O_NONBLOCK, then a regular-file check: opening a FIFO would otherwise block the scrape
//   (and a libuv thread) until something writes to it. A non-blocking read never waits either,
//   so when the scrape knows what a file of the same kind held, one read of that size comes
//   first, and the stat is only taken when those bytes are not a whole file (nothing else is).
// - A page (or what the file held last time, or a file of its kind, and a little more) first,
//   then only the bytes in use: a sparse file of a gigabyte holding a few entries costs what
//   the entries take, and a header claiming more than the file holds is damage, rejected
//   before anything more is read.
// - A writer grows its file (ftruncate), writes the entries, then the new `used`. A reader
//   that took the size before the growth and the header after it sees `used` beyond that size;
//   the size is taken again rather than the file reported as damaged.
// - Any size the format allows is read (up to 2 GiB, the int32 `used`; Python's collector reads
//   them all): a file of more than WHOLE_READ_MAX_BYTES in use is read and decoded a window at
//   a time (LargeMetricsFile), so a scrape's memory follows the file's series, not its size.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { FileFormatError, HEADER_SIZE, readUsed, viewOf, type EntrySource, type WindowScanner } from './format.js';

/**
 * Files with up to this many bytes in use are read whole, into one buffer; larger ones a window
 * at a time. Hundreds of thousands of series: the writer warns past it (storage/largeFileWarning.ts).
 */
export const WHOLE_READ_MAX_BYTES = 64 * 1024 * 1024;
/** What a large file is read in: few enough reads, little memory (grown for an entry larger than it). */
const WINDOW_BYTES = 4 * 1024 * 1024;
// Reused by every scan (a scan is synchronous): a process that reads a large file once reads
// it at every scrape, and a window a scrape does not garbage-collect in time doubles its cost.
let sharedWindow: Buffer | undefined;
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const GROWTH_RETRIES = 3;

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Reads into buffer[from, to) the file's bytes from `at + from` on; returns where the reading stopped. */
function readFully(fd: number, buffer: Buffer, from: number, to: number, at = 0): number {
  let offset = from;
  while (offset < to) {
    const bytesRead = readSync(fd, buffer, offset, to - offset, at + offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset;
}

// What the first read of a file takes: a page for a file never read (the header and, for most
// files, every entry; Python reads a page too), else what it held last time and room for a
// few new entries.
const FIRST_READ = 4096;
const GROWTH_ROOM = 512;
// The room is only taken where the buffer has it: growing a buffer that holds a file of
// megabytes by a few entries' room would double it (see reserve), and a file that did grow is
// read on from the header anyway.
function firstReadSize(expectedUsed: number, into: ReadBuffer): number {
  if (expectedUsed <= 0) return FIRST_READ;
  const length = into.bytes.length;
  return length >= expectedUsed ? Math.min(expectedUsed + GROWTH_ROOM, length) : expectedUsed + GROWTH_ROOM;
}

/**
 * A buffer that reads go into, grown when a file needs more and reused after: a collector
 * that keeps one reads a thousand files without allocating a thousand buffers. Its memory
 * is its own (not a slice of Node's pool), so it is aligned for the word-wise key comparison.
 */
export class ReadBuffer {
  bytes = Buffer.allocUnsafeSlow(FIRST_READ);

  /** Makes room for `size` bytes, keeping the first `keep`. */
  reserve(size: number, keep: number): Buffer {
    if (this.bytes.length < size) {
      const grown = Buffer.allocUnsafeSlow(Math.max(size, Math.min(this.bytes.length * 2, WHOLE_READ_MAX_BYTES)));
      this.bytes.copy(grown, 0, 0, keep);
      this.bytes = grown;
    }
    return this.bytes;
  }
}

/** Opens a metrics file for reading (see the notes at the top for the flags). */
export function openMetricsFile(file: string): number {
  try {
    return openSync(file, OPEN_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new FileFormatError('it is a symbolic link; only regular files are read');
    throw error;
  }
}

/**
 * The bytes of an open metrics file, up to its `used` header, read into `into` (the result is
 * a view of it, valid until its next read). `expectedUsed` is how much the file held last
 * time: the first read takes that and room to grow, so a file usually costs one read. `stat`
 * is the file's, if the caller just took it, or 'regular' when the caller knows the
 * descriptor is a regular file: then no stat is taken unless the first read does not find a
 * whole file. Throws FileFormatError for what is not a readable metrics file, and
 * TooLargeToReadWhole for a file that readMetricsFile reads a window at a time.
 */
export function readOpenMetricsFile(fd: number, into: ReadBuffer, expectedUsed = 0, stat?: Stats | 'regular'): Buffer {
  const read = readInUse(fd, into, expectedUsed, stat);
  if (typeof read === 'number') throw new TooLargeToReadWhole(read);
  return read;
}

/** A file with more than WHOLE_READ_MAX_BYTES in use, given to readOpenMetricsFile: read it by name with readMetricsFile. */
export class TooLargeToReadWhole extends Error {
  override name = 'TooLargeToReadWhole';

  constructor(readonly used: number) {
    super(`${used} bytes are in use, more than the ${WHOLE_READ_MAX_BYTES} read whole; readMetricsFile reads it a window at a time`);
  }
}

/** readOpenMetricsFile's work: the bytes in use, or, for a file too large to read whole, how many there are. */
function readInUse(fd: number, into: ReadBuffer, expectedUsed: number, stat: Stats | 'regular' | undefined): Buffer | number {
  if (stat === 'regular') {
    const firstRead = firstReadSize(expectedUsed, into);
    const firstBytes = readFully(fd, into.reserve(firstRead, 0), 0, firstRead);
    const read = into.bytes.subarray(0, firstBytes);
    try {
      return read.subarray(0, readUsed(read)); // throws when `used` is beyond what was read
    } catch {
      // Grown beyond the room left for it, or anything odd: the careful way, with a stat.
    }
    stat = undefined;
  }
  for (let attempt = 0; ; attempt++) {
    const current = attempt === 0 && stat !== undefined ? stat : fstatSync(fd);
    if (!current.isFile()) throw new FileFormatError(`it is ${kindOf(current)}, not a metrics file`);
    const firstRead = Math.max(HEADER_SIZE, Math.min(current.size, firstReadSize(expectedUsed, into)));
    const firstBytes = readFully(fd, into.reserve(firstRead, 0), 0, firstRead);
    if (firstBytes < HEADER_SIZE) return into.bytes.subarray(0, firstBytes); // the decoder names it
    // The size the header is checked against is the larger of the stat and what was read.
    const size = Math.max(current.size, firstBytes);
    let used: number;
    try {
      used = readUsed(into.bytes, Number.MAX_SAFE_INTEGER);
    } catch {
      used = readUsed(into.bytes, size); // throws again, with the file's size in the message
    }
    if (used > size) {
      if (attempt < GROWTH_RETRIES) continue; // grown since the stat: look again
      readUsed(into.bytes, size); // throws: a header claiming more than the file holds is damage
    }
    if (used > WHOLE_READ_MAX_BYTES) return used;
    if (used <= firstBytes) return into.bytes.subarray(0, used);
    const read = readFully(fd, into.reserve(used, firstBytes), firstBytes, used);
    // Shorter than `used` (truncated meanwhile): the decoder says so.
    return into.bytes.subarray(0, read);
  }
}

/**
 * A file of unknown kind read with one read and no stat, when that is enough to be sure of it:
 * its header names a size in use, not 0, that the bytes read hold. Otherwise (a larger file, an
 * empty one, a FIFO, a directory, a device that gives zeros) undefined: the careful way, whose
 * stat says what it is. `expectedUsed` is what a like file held: the read takes that and room.
 */
function readWholeAtOnce(fd: number, into: ReadBuffer, expectedUsed: number): Buffer | undefined {
  if (expectedUsed <= 0) return undefined;
  const size = firstReadSize(expectedUsed, into);
  let bytesRead: number;
  try {
    bytesRead = readSync(fd, into.reserve(size, 0), 0, size, 0);
  } catch {
    return undefined; // EISDIR, EAGAIN: the stat tells what the file is
  }
  if (bytesRead < HEADER_SIZE) return undefined;
  const used = into.bytes.readInt32LE(0);
  return used >= HEADER_SIZE && used <= bytesRead ? into.bytes.subarray(0, used) : undefined;
}

/**
 * An open metrics file with more than WHOLE_READ_MAX_BYTES in use (its header and size already
 * checked), which decodeFile reads a window at a time: the entries that lie whole in a window
 * are decoded, and the one cut by its end is carried to the start of the next. Scanned once:
 * the descriptor is closed when the scan ends.
 */
export class LargeMetricsFile implements EntrySource {
  /** `windowBytes`: what is read at a time (tests shorten it). */
  constructor(
    private fd: number,
    readonly used: number,
    private readonly windowBytes = WINDOW_BYTES,
  ) {}

  scan(scanWindow: WindowScanner): void {
    const { fd, used } = this;
    if (fd < 0) throw new Error('a large metrics file is scanned once; read it again with readMetricsFile');
    this.fd = -1;
    try {
      let window = this.windowBytes === WINDOW_BYTES ? (sharedWindow ??= Buffer.allocUnsafeSlow(WINDOW_BYTES)) : Buffer.allocUnsafeSlow(this.windowBytes);
      let start = HEADER_SIZE; // the file offset of the window's first byte, where an entry starts
      let filled = 0;
      while (start < used) {
        const end = Math.min(window.length, used - start);
        filled = readFully(fd, window, filled, end, start);
        if (filled < end) throw new FileFormatError(`header says ${used} bytes are used, but the file ends at ${start + filled}`);
        const next = scanWindow(viewOf(window.subarray(0, filled)), start, used, 0);
        if (next === 0) {
          // One entry larger than the window: a window that holds it (scanWindow has checked it ends by `used`).
          const larger = Buffer.allocUnsafeSlow(Math.min(window.length * 2, used - start));
          window.copy(larger, 0, 0, filled);
          window = larger;
          continue;
        }
        window.copy(window, 0, next, filled);
        filled -= next;
        start += next;
      }
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The bytes of one metrics file, up to its `used` header (in `into`, valid until its next read),
 * or, for a file of more than WHOLE_READ_MAX_BYTES, a LargeMetricsFile to pass to decodeFile at once.
 * `expectedUsed`, what a like file held (0 when unknown), lets a file that holds no more be read
 * with one read and no stat.
 * Throws FileFormatError for what is not a readable metrics file, and the system's error
 * (ENOENT, EACCES) when it cannot be opened. Synchronous: a file is a handful of syscalls, and
 * the collector yields to the event loop between batches of files (five thread-pool round
 * trips per file cost 4x the CPU, as tools/bench-scrape.ts measured).
 */
export function readMetricsFile(file: string, into: ReadBuffer = new ReadBuffer(), expectedUsed = 0): Buffer | LargeMetricsFile {
  const fd = openMetricsFile(file);
  let read: Buffer | number | undefined;
  try {
    read = readWholeAtOnce(fd, into, expectedUsed) ?? readInUse(fd, into, expectedUsed, undefined);
  } finally {
    if (typeof read !== 'number') closeSync(fd);
  }
  return typeof read === 'number' ? new LargeMetricsFile(fd, read) : read;
}
