// How the collector reads one file of the shared directory, which anyone who can write the
// directory may have put there. Whatever is found, a scrape must neither hang nor allocate
// without bound, and a file that a live writer is growing must be read whole, not skipped.
//
// - O_NOFOLLOW: a symlink is reported, not followed (to /dev/zero, a FIFO, or a secret whose
//   first bytes would end up in a warning).
// - O_NONBLOCK, then a regular-file check: opening a FIFO would otherwise block the scrape
//   (and a libuv thread) until something writes to it.
// - The header first, then only the bytes in use: a sparse file of a gigabyte holding a few
//   entries costs what the entries take, and a header claiming more than MAX_FILE_BYTES is
//   rejected before anything is allocated.
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

function readFully(fd: number, buffer: Buffer, from: number, position: number): number {
  let offset = from;
  while (offset < buffer.length) {
    const bytesRead = readSync(fd, buffer, offset, buffer.length - offset, position + (offset - from));
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return offset;
}

/**
 * The bytes of one metrics file, up to its `used` header. Throws FileFormatError for what is
 * not a readable metrics file, and the system's error (ENOENT, EACCES) when it cannot be
 * opened. Synchronous: a file is a handful of syscalls, and the collector yields to the event
 * loop between batches of files (five thread-pool round trips per file cost 4x the CPU, as
 * tools/bench-scrape.ts measured).
 */
export function readMetricsFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new FileFormatError('it is a symbolic link; only regular files are read');
    throw error;
  }
  try {
    const header = Buffer.alloc(HEADER_SIZE);
    for (let attempt = 0; ; attempt++) {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw new FileFormatError(`it is ${kindOf(stat)}, not a metrics file`);
      const headerBytes = readFully(fd, header, 0, 0);
      // The size the header is checked against is the larger of the stat and what was read.
      const size = Math.max(stat.size, headerBytes);
      if (size < HEADER_SIZE) return header.subarray(0, headerBytes); // the decoder names it
      let used: number;
      try {
        used = readUsed(header, Number.MAX_SAFE_INTEGER);
      } catch {
        used = readUsed(header, size); // throws again, with the file's size in the message
      }
      if (used > size && attempt < GROWTH_RETRIES) continue; // grown since the stat: look again
      if (used <= size && used > MAX_FILE_BYTES) {
        throw new FileFormatError(`header says ${used} bytes are used, more than the ${MAX_FILE_BYTES} a metrics file is read up to`);
      }
      const bytes = Buffer.allocUnsafe(Math.min(used, size));
      header.copy(bytes, 0, 0, Math.min(HEADER_SIZE, bytes.length));
      const read = readFully(fd, bytes, HEADER_SIZE, HEADER_SIZE);
      // Shorter than `used` (truncated meanwhile, or still damaged): the decoder says so.
      return read < bytes.length ? bytes.subarray(0, read) : bytes;
    }
  } finally {
    closeSync(fd);
  }
}
