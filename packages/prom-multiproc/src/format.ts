// The byte layout of one metrics file, as Python prometheus_client (0.16+) writes it.
// This is the only module that knows an offset.
//
//   offset 0   int32    used: bytes in use from the start of the file, header included
//   offset 4   4 bytes  zero padding
//   offset 8   entries, back to back up to `used`, each starting 8-byte aligned:
//
//     int32    key length in bytes (UTF-8)
//     bytes    key
//     bytes    padding with 0x20 to the next multiple of 8 (1 to 8 bytes, never 0)
//     float64  value
//     float64  timestamp (Unix seconds; 0 except for the mostrecent gauge modes)
//
// Little-endian (the native order on every supported target). A new file is 64 KiB, sparse;
// when an entry would pass the end the size doubles, as many times as needed, before the append.

export const HEADER_SIZE = 8;
export const INITIAL_FILE_SIZE = 1 << 16;
const VALUE_PAIR_SIZE = 16;
const PAD_BYTE = 0x20;

/** Whatever is wrong with a file's bytes; the reader skips the file and names it. */
export class FileFormatError extends Error {
  override name = 'FileFormatError';
}

export interface Entry {
  key: string;
  value: number;
  timestamp: number;
  /** Offset of the value; the timestamp follows it. */
  valueOffset: number;
}

function paddedKeyLength(keyLength: number): number {
  return keyLength + (8 - ((keyLength + 4) % 8));
}

/** Total bytes one entry takes for a key of `keyLength` UTF-8 bytes. */
export function entrySize(keyLength: number): number {
  return 4 + paddedKeyLength(keyLength) + VALUE_PAIR_SIZE;
}

/** The file size after growing `capacity` until `needed` bytes fit. */
export function grownCapacity(capacity: number, needed: number): number {
  let grown = Math.max(capacity, INITIAL_FILE_SIZE);
  while (grown < needed) grown *= 2;
  return grown;
}

/**
 * Writes one entry at `offset` and returns the offset of its value. The caller makes sure it
 * fits and stores the new `used` only after this, so a lock-free reader never sees a
 * half-written entry.
 */
export function writeEntry(buffer: Buffer, offset: number, key: Buffer, value: number, timestamp: number): number {
  buffer.writeInt32LE(key.length, offset);
  key.copy(buffer, offset + 4);
  const valueOffset = offset + 4 + paddedKeyLength(key.length);
  buffer.fill(PAD_BYTE, offset + 4 + key.length, valueOffset);
  writeValue(buffer, valueOffset, value, timestamp);
  return valueOffset;
}

export function writeValue(buffer: Buffer, valueOffset: number, value: number, timestamp: number): void {
  buffer.writeDoubleLE(value, valueOffset);
  buffer.writeDoubleLE(timestamp, valueOffset + 8);
}

export function writeUsed(buffer: Buffer, used: number): void {
  buffer.writeInt32LE(used, 0);
}

/** The `used` header field, checked against what a file of `size` bytes can hold. */
export function readUsed(bytes: Uint8Array, size = bytes.length): number {
  if (size < HEADER_SIZE) {
    throw new FileFormatError(size === 0 ? 'file is empty (0 bytes)' : `file is ${size} bytes, shorter than its 8-byte header`);
  }
  const used = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readInt32LE(0);
  if (used === 0) return HEADER_SIZE; // created but never written: Python treats it as empty
  if (used < HEADER_SIZE || used > size) {
    throw new FileFormatError(`header says ${used} bytes are used, but the file has ${size}`);
  }
  return used;
}

/**
 * Every entry of a file's bytes, up to `used`. Throws FileFormatError with the offset where
 * the bytes stop making sense: truncated files, garbage, and the older formats (0.15 and
 * before, or 0.16/0.17 without timestamps) all end up here.
 */
export function readEntries(bytes: Uint8Array): Entry[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const used = readUsed(buffer);
  const entries: Entry[] = [];
  let offset = HEADER_SIZE;
  while (offset < used) {
    if (offset + 4 > used) throw new FileFormatError(`entry at offset ${offset} is cut short by used=${used}`);
    const keyLength = buffer.readInt32LE(offset);
    const valueOffset = offset + 4 + paddedKeyLength(keyLength);
    if (keyLength <= 0 || valueOffset + VALUE_PAIR_SIZE > used) {
      throw new FileFormatError(
        `entry at offset ${offset} has key length ${keyLength}, which does not fit in used=${used} ` +
          '(a truncated file, or one written by another format)',
      );
    }
    for (let pad = offset + 4 + keyLength; pad < valueOffset; pad++) {
      // Python always pads with spaces; anything else means the entries are misaligned.
      if (buffer[pad] !== PAD_BYTE) throw new FileFormatError(`entry at offset ${offset} is not padded with spaces`);
    }
    const key = buffer.toString('utf8', offset + 4, offset + 4 + keyLength);
    entries.push({
      key,
      value: buffer.readDoubleLE(valueOffset),
      timestamp: buffer.readDoubleLE(valueOffset + 8),
      valueOffset,
    });
    offset = valueOffset + VALUE_PAIR_SIZE;
  }
  return entries;
}

/** A whole file holding `entries` in order, sized as the reference client would have grown it. */
export function encodeFile(entries: readonly { key: string; value: number; timestamp: number }[]): Buffer {
  const keys = entries.map((entry) => Buffer.from(entry.key, 'utf8'));
  const used = keys.reduce((total, key) => total + entrySize(key.length), HEADER_SIZE);
  const buffer = Buffer.alloc(grownCapacity(INITIAL_FILE_SIZE, used));
  let offset = HEADER_SIZE;
  entries.forEach((entry, i) => {
    const key = keys[i]!;
    writeEntry(buffer, offset, key, entry.value, entry.timestamp);
    offset += entrySize(key.length);
  });
  writeUsed(buffer, used);
  return buffer;
}
