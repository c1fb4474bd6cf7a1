// Files as Python prometheus_client 0.16 and 0.17 wrote them: each entry ends after its value,
// with no timestamp. The current reader must refuse them (their entries do not line up).
import { HEADER_SIZE, writeUsed } from '../../packages/prom-multiproc/src/format/format.js';

/** A 4 KiB file of the 0.16/0.17 format holding `keys`, each with `value`. */
export function oldFormatFile(keys: readonly string[], value: number): Buffer {
  const bytes = Buffer.alloc(4096);
  let offset = HEADER_SIZE;
  for (const key of keys) {
    const keyBytes = Buffer.from(key);
    bytes.writeInt32LE(keyBytes.length, offset);
    keyBytes.copy(bytes, offset + 4);
    const padded = keyBytes.length + (8 - ((keyBytes.length + 4) % 8));
    bytes.fill(0x20, offset + 4 + keyBytes.length, offset + 4 + padded);
    bytes.writeDoubleLE(value, offset + 4 + padded);
    offset += 4 + padded + 8;
  }
  writeUsed(bytes, offset);
  return bytes;
}
