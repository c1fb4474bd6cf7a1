// A metrics file of `size` bytes, all but its header a hole, whose header claims `used`: a large
// or damaged file that costs no disk.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { HEADER_SIZE } from '../../packages/prom-multiproc/src/format/format.js';

export function writeSparseFile(file: string, size: number, used: number): void {
  const fd = openSync(file, 'w', 0o644);
  try {
    ftruncateSync(fd, size);
    const header = Buffer.alloc(HEADER_SIZE);
    header.writeInt32LE(used, 0);
    writeSync(fd, header, 0, HEADER_SIZE, 0);
  } finally {
    closeSync(fd);
  }
}
