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

import { sameWords, type StoredKey, type StoredKeyTable, type StoredWords } from './storedKeyTable.js';

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
 * A file's bytes with 32- and 64-bit views of the same memory, so that entries are read
 * without a call per field. Every entry starts 8-byte aligned in the file, so its fields are
 * whole words of these views, once the bytes sit 8-byte aligned in memory (copied if not).
 */
export interface FileView {
  bytes: Buffer;
  words: Int32Array;
  doubles: Float64Array;
}

// The views read in the machine's order; the format is little-endian.
const NATIVE_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function viewOf(bytes: Uint8Array): FileView {
  let buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.byteOffset % 8 !== 0) {
    const aligned = Buffer.allocUnsafeSlow(buffer.length);
    buffer.copy(aligned);
    buffer = aligned;
  }
  return {
    bytes: buffer,
    words: new Int32Array(buffer.buffer, buffer.byteOffset, buffer.length >> 2),
    doubles: new Float64Array(buffer.buffer, buffer.byteOffset, buffer.length >> 3),
  };
}

const int32At = NATIVE_LITTLE_ENDIAN
  ? (view: FileView, offset: number): number => view.words[offset >> 2]!
  : (view: FileView, offset: number): number => view.bytes.readInt32LE(offset);
const float64At = NATIVE_LITTLE_ENDIAN
  ? (view: FileView, offset: number): number => view.doubles[offset >> 3]!
  : (view: FileView, offset: number): number => view.bytes.readDoubleLE(offset);

/** What a visitor of scanEntries is given for each entry. */
export type EntryVisitor = (view: FileView, keyStart: number, keyLength: number, value: number, timestamp: number) => void;

/**
 * Walks the entries of a file's bytes up to `used`, checking each one's framing, and gives
 * `visit` where its key is and its value and timestamp. Making a string of the key is left to
 * the visitor. Throws FileFormatError with the offset where the bytes stop making sense:
 * truncated files, garbage, and the older formats (0.15 and before, or 0.16/0.17 without
 * timestamps) all end up here.
 */
export function scanEntries(bytes: Uint8Array, visit: EntryVisitor): void {
  const view = viewOf(bytes);
  scanView(view, readUsed(view.bytes), HEADER_SIZE, visit);
}

/** scanEntries over a view whose `used` is known, from the entry at `offset` on. */
export function scanView(view: FileView, used: number, offset: number, visit: EntryVisitor): void {
  scanWindow(view, 0, used, offset, visit);
}

/**
 * Entries that are not in one buffer (a file too large to read whole): `scan` visits them in
 * order, with scanView's checks (see scanWindow).
 */
export interface EntrySource {
  /** Gives each window to `scanWindow` in turn, carrying on from the offset it returns. */
  scan(scanWindow: WindowScanner): void;
}

/** Scans the entries that lie whole in a window of a file (scanWindow's arguments, but the visitor) and returns where it stopped. */
export type WindowScanner = (view: FileView, base: number, used: number, offset: number) => number;

/**
 * scanView over a window of a file: `view` holds the file's bytes from offset `base` on, where
 * an entry starts (so 8-byte aligned, like the entries in it). Visits the entries that lie whole
 * in the window, from the one at `offset` in it, and returns the window offset of the first
 * that does not (the caller reads on from there), or of `used`. Offsets in errors are the file's.
 */
export function scanWindow(view: FileView, base: number, used: number, offset: number, visit: EntryVisitor): number {
  const buffer = view.bytes;
  const end = Math.min(buffer.length, used - base);
  while (offset < end) {
    const valueOffset = framedEntryEnd(view, base, used, offset, end);
    if (valueOffset < 0) return offset;
    const keyLength = int32At(view, offset);
    checkPadding(buffer, base, offset, offset + 4 + keyLength, valueOffset);
    visit(view, offset + 4, keyLength, float64At(view, valueOffset), float64At(view, valueOffset + 8));
    offset = valueOffset + VALUE_PAIR_SIZE;
  }
  return offset;
}

/**
 * The offset of the value of the entry at `offset` in a window (see scanWindow), or -1 when the
 * entry does not lie whole in the window; throws when its length does not fit in `used`.
 */
function framedEntryEnd(view: FileView, base: number, used: number, offset: number, end: number): number {
  if (base + offset + 4 > used) throw new FileFormatError(`entry at offset ${base + offset} is cut short by used=${used}`);
  if (offset + 4 > end) return -1;
  const keyLength = int32At(view, offset);
  const valueOffset = offset + 4 + paddedKeyLength(keyLength);
  if (keyLength <= 0 || base + valueOffset + VALUE_PAIR_SIZE > used) {
    throw new FileFormatError(
      `entry at offset ${base + offset} has key length ${keyLength}, which does not fit in used=${used} ` +
        '(a truncated file, or one written by another format)',
    );
  }
  return valueOffset + VALUE_PAIR_SIZE > end ? -1 : valueOffset;
}

function checkPadding(buffer: Buffer, base: number, offset: number, from: number, to: number): void {
  for (let pad = from; pad < to; pad++) {
    // Python always pads with spaces; anything else means the entries are misaligned.
    if (buffer[pad] !== PAD_BYTE) throw new FileFormatError(`entry at offset ${base + offset} is not padded with spaces`);
  }
}

/**
 * Where scanKeyedWindow looks entries' keys up and gives them: keys found by their stored words
 * (see storedKeyWords), in a table where every key was added by newKey. A class's methods
 * rather than a closure per file: the scan's calls stay monomorphic, and are inlined.
 */
export interface KeyedEntrySink<T> {
  readonly table: StoredKeyTable<T>;
  /** The key of the entry before (its follower is tried first); undefined at the start of a file. */
  last: StoredKey<T> | undefined;
  /** The key of an entry whose stored words are not in the table, its framing and padding checked: adds it. */
  newKey(view: FileView, keyStart: number, keyLength: number): StoredKey<T>;
  /** Every entry in order, with its key. */
  entry(key: StoredKey<T>, value: number, timestamp: number): void;
}

/**
 * scanWindow for a reader that finds keys by their stored words: an entry whose words are
 * those of a key in the table needs no padding check, since they include the padding, which
 * was checked when that key was added. Same errors, at the same offsets, as scanWindow.
 */
export function scanKeyedWindow<T>(view: FileView, base: number, used: number, offset: number, sink: KeyedEntrySink<T>): number {
  const end = Math.min(view.bytes.length, used - base);
  while (offset < end) {
    const valueOffset = framedEntryEnd(view, base, used, offset, end);
    if (valueOffset < 0) return offset;
    giveKeyedEntry(view, base, offset, valueOffset, sink);
    offset = valueOffset + VALUE_PAIR_SIZE;
  }
  return offset;
}

/**
 * One entry of scanKeyedWindow's, in a file's whole bytes (`used` no more than them): the entry
 * at `offset` given to `sink`, with the same checks and errors. Returns the next entry's offset.
 */
export function scanKeyedEntry<T>(view: FileView, used: number, offset: number, sink: KeyedEntrySink<T>): number {
  const valueOffset = framedEntryEnd(view, 0, used, offset, used);
  giveKeyedEntry(view, 0, offset, valueOffset, sink);
  return valueOffset + VALUE_PAIR_SIZE;
}

/** Gives `sink` the framed entry at `offset` (its value at `valueOffset`), its key found by its stored words or added. */
function giveKeyedEntry<T>(view: FileView, base: number, offset: number, valueOffset: number, sink: KeyedEntrySink<T>): void {
  let key = sink.table.find(view.words, offset >> 2, (valueOffset - offset) >> 2, sink.last);
  if (key === undefined) {
    const keyLength = int32At(view, offset);
    checkPadding(view.bytes, base, offset, offset + 4 + keyLength, valueOffset);
    key = sink.newKey(view, offset + 4, keyLength);
  }
  sink.last = key;
  sink.entry(key, float64At(view, valueOffset), float64At(view, valueOffset + 8));
}

/**
 * Reads entries from the first on for as long as each one's length, key and padding are, word
 * for word, the `stored` key (see storedKeyWords) of `known` at the same index: what a file
 * held last time, since a file only ever appends. Writes their values and timestamps, and
 * returns how many matched and the offset of the first entry that did not (scanView reads on
 * from there). A match frames the entry exactly as scanView checks it.
 */
export function readKnownEntries(
  view: FileView,
  used: number,
  known: readonly { readonly stored?: StoredWords | undefined }[],
  values: Float64Array,
  timestamps: Float64Array,
): { count: number; offset: number } {
  const { words } = view;
  let offset = HEADER_SIZE;
  let count = 0;
  for (; count < known.length; count++) {
    const stored = known[count]!.stored;
    if (stored === undefined) break;
    const valueOffset = offset + stored.count * 4;
    if (valueOffset + VALUE_PAIR_SIZE > used) break;
    if (!sameWords(stored, words, offset >> 2, stored.count)) break;
    values[count] = float64At(view, valueOffset);
    timestamps[count] = float64At(view, valueOffset + 8);
    offset = valueOffset + VALUE_PAIR_SIZE;
  }
  return { count, offset };
}

/** Every entry of a file's bytes, up to `used`, its key decoded (see scanEntries for the errors). */
export function readEntries(bytes: Uint8Array): Entry[] {
  const entries: Entry[] = [];
  scanEntries(bytes, ({ bytes: buffer }, keyStart, keyLength, value, timestamp) => {
    const valueOffset = keyStart + paddedKeyLength(keyLength);
    entries.push({ key: buffer.toString('utf8', keyStart, keyStart + keyLength), value, timestamp, valueOffset });
  });
  return entries;
}

/**
 * Brings `copy`, a file's bytes as last read, up to date with `fresh`, the same file's bytes
 * read now, where only values changed: copies each entry's value and timestamp (as words, so
 * every NaN keeps its bits) into `copy` and into `values`/`timestamps`, then compares the two
 * whole. True when they are then the same: every key of `known` (the entries of `copy`, see
 * storedKeyWords) still stands where it stood. False otherwise, and `copy` then holds neither
 * file: the caller drops or overwrites it. One comparison of the whole file costs far less
 * than one per key.
 */
export function refreshValues(
  copy: FileView,
  fresh: FileView,
  known: readonly { readonly stored?: StoredWords | undefined }[],
  values: Float64Array,
  timestamps: Float64Array,
): boolean {
  const end = copy.bytes.length;
  if (fresh.bytes.length !== end) return false;
  let offset = HEADER_SIZE;
  for (let i = 0; i < known.length; i++) {
    const stored = known[i]!.stored;
    if (stored === undefined) return false;
    const valueOffset = offset + stored.count * 4;
    if (valueOffset + VALUE_PAIR_SIZE > end) return false;
    const word = valueOffset >> 2;
    for (let w = word; w < word + VALUE_PAIR_SIZE / 4; w++) copy.words[w] = fresh.words[w]!;
    values[i] = float64At(fresh, valueOffset);
    timestamps[i] = float64At(fresh, valueOffset + 8);
    offset = valueOffset + VALUE_PAIR_SIZE;
  }
  return offset === end && fresh.bytes.compare(copy.bytes, HEADER_SIZE, end, HEADER_SIZE, end) === 0;
}

/** How many 32-bit words an entry's stored key takes (see storedKeyWords); they start 4 bytes before the key. */
export function storedKeyWordCount(keyLength: number): number {
  return (4 + paddedKeyLength(keyLength)) >> 2;
}

/**
 * How many entries to make room for in a file of `used` bytes: as many as there would be if
 * all were the size of the first (a few more, and at least 16). Entries of one file mostly differ
 * by a label value; a reader of one that holds more grows its arrays.
 */
export function expectedEntryCount(view: FileView, used: number): number {
  if (used < HEADER_SIZE + 4) return 16;
  const first = int32At(view, HEADER_SIZE);
  if (first <= 0) return 16;
  return Math.ceil(((used - HEADER_SIZE) / entrySize(first)) * 1.25) + 16;
}

/**
 * An entry's key as it is stored, in 32-bit words: its length, its bytes and the padding after
 * them, which start on an 8-byte boundary and end on one. Comparing words is four times fewer
 * steps than comparing bytes, and the length word tells apart keys whose padding would make
 * their bytes alike.
 */
export function storedKeyWords({ bytes }: FileView, keyStart: number, keyLength: number): Int32Array {
  const stored = new Int32Array((4 + paddedKeyLength(keyLength)) / 4);
  new Uint8Array(stored.buffer).set(bytes.subarray(keyStart - 4, keyStart - 4 + stored.length * 4));
  return stored;
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
