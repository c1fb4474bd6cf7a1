// How the collector reads one file of the shared directory, which anyone who can write the
// directory may have put there. Whatever is found, a scrape must neither hang nor allocate
// without bound, and a file that a live writer is growing must be read whole, not skipped.
//
// - O_NOFOLLOW: a symlink is reported, not followed (to /dev/zero, a FIFO, or a secret whose
//   first bytes would end up in a warning).
// - O_NONBLOCK, then a regular-file check: opening a FIFO would otherwise block the scrape
//   (and a libuv thread) until something writes to it.
// - A page (or what the file held last time, and a little more) first, then only the bytes in
//   use: a sparse file of a gigabyte holding a few entries costs what the entries take, and a
//   header claiming more than MAX_FILE_BYTES is rejected before anything more is allocated.
// - A writer grows its file (ftruncate), writes the entries, then the new `used`. A reader
//   that took the size before the growth and the header after it sees `used` beyond that size;
//   the size is taken again rather than the file reported as damaged.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { FileFormatError, HEADER_SIZE, readUsed } from './format.js';

/** Larger than any real metrics file: a million series take about 150 MB. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
const GROWTH_RETRIES = 3;

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function readFully(fd: number, buffer: Buffer, from: number, to: number): number {
  let offset = from;
  while (offset < to) {
    const bytesRead = readSync(fd, buffer, offset, to - offset, offset);
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
const firstReadSize = (expectedUsed: number): number => (expectedUsed > 0 ? expectedUsed + GROWTH_ROOM : FIRST_READ);

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
      const grown = Buffer.allocUnsafeSlow(Math.max(size, Math.min(this.bytes.length * 2, MAX_FILE_BYTES)));
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
 * whole file. Throws FileFormatError for what is not a readable metrics file.
 */
export function readOpenMetricsFile(fd: number, into: ReadBuffer, expectedUsed = 0, stat?: Stats | 'regular'): Buffer {
  if (stat === 'regular') {
    const firstRead = firstReadSize(expectedUsed);
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
    const firstRead = Math.max(HEADER_SIZE, Math.min(current.size, firstReadSize(expectedUsed)));
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
    if (used > size && attempt < GROWTH_RETRIES) continue; // grown since the stat: look again
    if (used <= size && used > MAX_FILE_BYTES) {
      throw new FileFormatError(`header says ${used} bytes are used, more than the ${MAX_FILE_BYTES} a metrics file is read up to`);
    }
    const wanted = Math.min(used, size);
    if (wanted <= firstBytes) return into.bytes.subarray(0, wanted);
    const read = readFully(fd, into.reserve(wanted, firstBytes), firstBytes, wanted);
    // Shorter than `used` (truncated meanwhile, or still damaged): the decoder says so.
    return into.bytes.subarray(0, read);
  }
}

/**
 * The bytes of one metrics file, up to its `used` header, in a buffer of their own. Throws
 * FileFormatError for what is not a readable metrics file, and the system's error (ENOENT,
 * EACCES) when it cannot be opened. Synchronous: a file is a handful of syscalls, and the
 * collector yields to the event loop between batches of files (five thread-pool round trips
 * per file cost 4x the CPU, as tools/bench-scrape.ts measured).
 */
export function readMetricsFile(file: string): Buffer {
  const fd = openMetricsFile(file);
  try {
    return readOpenMetricsFile(fd, new ReadBuffer());
  } finally {
    closeSync(fd);
  }
}
