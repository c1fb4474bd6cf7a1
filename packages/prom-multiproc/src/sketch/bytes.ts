// Little-endian byte writing and checked reading for the sketch encodings. Every read names
// the field it wanted, so a truncated or damaged encoding fails with an error that says what
// was missing where, instead of handing back numbers read from the wrong bytes.

/** Whatever is wrong with encoded sketch or quantile-file bytes. */
export class SketchFormatError extends Error {
  override name = 'SketchFormatError';
}

/** Integers up to this are exact in a double; counts and lengths never go past it. */
const MAX_VARINT = Number.MAX_SAFE_INTEGER;

export class ByteWriter {
  private buffer = Buffer.allocUnsafe(256);
  private length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.reserve(2);
    this.length = this.buffer.writeUInt16LE(value, this.length);
  }

  u32(value: number): void {
    this.reserve(4);
    this.length = this.buffer.writeUInt32LE(value, this.length);
  }

  f64(value: number): void {
    this.reserve(8);
    this.length = this.buffer.writeDoubleLE(value, this.length);
  }

  /** Unsigned LEB128, for counts: most take one or two bytes. */
  varint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > MAX_VARINT) {
      throw new RangeError(`cannot encode ${value}: a varint holds an integer from 0 to 2^53-1`);
    }
    this.reserve(8);
    // Division rather than shifts: shifts would cut the value to 32 bits.
    while (value >= 0x80) {
      this.buffer[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.length++] = value;
  }

  /** Signed integers as zig-zag varints (small magnitudes of either sign stay short). */
  zigzag(value: number): void {
    this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** Where the next byte goes, to checksum from. */
  mark(): number {
    return this.length;
  }

  /** Appends the CRC-32 of the bytes written since `from`. */
  checksum(from = 0): void {
    const crc = crc32(this.buffer.subarray(from, this.length));
    this.u32(crc);
  }

  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length));
  }
}

export class ByteReader {
  private offset = 0;

  /** `what` names the encoding in errors ("quantile sketch", "quantile file"). */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  fail(problem: string): never {
    throw new SketchFormatError(`${this.what}: ${problem}`);
  }

  private need(size: number, field: string): number {
    if (this.remaining < size) {
      this.fail(`truncated: ${field} needs ${size} bytes at offset ${this.offset}, ${this.remaining} left of ${this.bytes.length}`);
    }
    const at = this.offset;
    this.offset += size;
    return at;
  }

  private view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  u8(field: string): number {
    return this.bytes[this.need(1, field)]!;
  }

  u16(field: string): number {
    return this.view().getUint16(this.need(2, field), true);
  }

  u32(field: string): number {
    return this.view().getUint32(this.need(4, field), true);
  }

  f64(field: string): number {
    return this.view().getFloat64(this.need(8, field), true);
  }

  varint(field: string): number {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i === 8) this.fail(`${field} at offset ${start} is a varint longer than 8 bytes`);
      const byte = this.u8(field);
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) break;
      scale *= 0x80;
    }
    if (value > MAX_VARINT) this.fail(`${field} at offset ${start} is ${value}, past 2^53-1`);
    return value;
  }

  zigzag(field: string): number {
    const encoded = this.varint(field);
    return encoded % 2 === 0 ? encoded / 2 : -(encoded + 1) / 2;
  }

  bytesOf(size: number, field: string): Uint8Array {
    const at = this.need(size, field);
    return this.bytes.subarray(at, at + size);
  }

  /** Reads the CRC-32 that closes an encoding begun at `from` and checks it against those bytes. */
  checksum(from = 0): void {
    const covered = this.offset;
    const stored = this.u32('checksum');
    const actual = crc32(this.bytes.subarray(from, covered));
    if (stored !== actual) {
      this.fail(`checksum mismatch at offset ${covered} (stored ${hex(stored)}, computed ${hex(actual)} over bytes ${from}..${covered}): the bytes were damaged`);
    }
  }

  /** Nothing may follow the end: trailing bytes mean a length field lied. */
  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} unexpected bytes after the end at offset ${this.offset}`);
  }
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

// CRC-32 (IEEE 802.3, as zlib and gzip compute it). zlib.crc32 is missing before Node 20.15.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
