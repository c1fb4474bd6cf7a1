// Files of one kind in a directory mostly hold the same keys (every worker runs the same code),
// in runs of the same order (each worker meets its label sets in its own order, so one file is
// another's runs rotated or interleaved). Once a file of a kind is decoded, the next ones are
// read along it: after each entry found the usual way, the entries that followed that key in
// the decoded file are compared with the bytes that follow here, all at once: value slots set
// aside and zeroed, one memcmp against the decoded file's bytes with its value slots zeroed.
// A match takes those keys as they are, without looking each up; a mismatch tries a shorter
// run, and a file that keeps differing is decoded entry by entry, as without a layout.

import { HEADER_SIZE, readUsed, scanKeyedEntry, viewOf, type FileView } from './format.js';
import { RecordsCollector, decodeFile, type DecodedKey, type FileRecords, type KeyCache } from './decode.js';
import type { FileKind, MetricType, ParsedFileName } from './fileNames.js';

/** A decoded file: its keys, its bytes with every value and timestamp zeroed, and where each entry starts. */
interface Layout {
  type: MetricType;
  keys: readonly DecodedKey[];
  masked: Buffer;
  /** starts[i] is entry i's offset, starts[keys.length] the bytes in use; an entry's value and timestamp are its last 16 bytes. */
  starts: Int32Array;
  /** Each key's entry number (its first). */
  positions: Map<DecodedKey, number>;
  /** Per entry, the file that last met it (its number), to tell a file that holds exactly these keys. */
  metBy: Int32Array;
  files: number;
}

// A layout is a copy of a file: only files up to this size get one (a worker's files are a few
// hundred KiB; one of hundreds of thousands of series costs its first decode anyway), up to
// the total below for the scrape.
const MAX_LAYOUT_BYTES = 1024 * 1024;
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;
/** Runs shorter than this are not compared: a memcmp call costs about as much as a few entries found one by one. */
const MIN_RUN = 4;
/** memcmp calls per file, so that a file that differs from its layout costs little more than its decode. */
const MAX_COMPARES = 48;
/** A value and a timestamp: four 32-bit words. */
const SLOT_WORDS = 4;

// A run's value slots as read, put back after the comparison (shared: decoding is synchronous).
let savedWords = new Int32Array(4096);
let savedDoubles = new Float64Array(savedWords.buffer);

/** One scrape's layouts, a file of each kind; and what files of each kind held, to size the first read of the next. */
export class FileLayouts {
  private readonly layouts = new Map<FileKind, Layout>();
  private readonly lastUsed = new Map<FileKind, number>();
  private totalBytes = 0;

  /** How many bytes the last file of this kind held (0 when none was read): the next is likely the same. */
  expectedUsed(kind: FileKind): number {
    return this.lastUsed.get(kind) ?? 0;
  }

  /** decodeFile(file, bytes, cache), reading along the layout of the kind where the bytes are the same. */
  decode(file: ParsedFileName, bytes: Buffer, cache: KeyCache): FileRecords {
    const view = viewOf(bytes);
    const used = readUsed(view.bytes);
    this.lastUsed.set(file.kind, used);
    const layout = this.layouts.get(file.kind);
    if (layout === undefined || layout.type !== file.type) {
      const records = decodeFile(file, view.bytes, cache);
      this.remember(file, view, used, records.keys);
      return records;
    }
    const { records, fromRuns } = decodeAlong(file, view, used, cache, layout);
    // Mostly unlike the layout: this file is the likelier model of the next.
    if (fromRuns * 2 < records.keys.length) this.remember(file, view, used, records.keys);
    return records;
  }

  private remember(file: ParsedFileName, view: FileView, used: number, keys: readonly DecodedKey[]): void {
    if (used > MAX_LAYOUT_BYTES || keys.length === 0) return;
    const replaced = this.layouts.get(file.kind)?.masked.length ?? 0;
    if (this.totalBytes - replaced + used > MAX_TOTAL_BYTES) return;
    this.layouts.set(file.kind, layoutOf(file.type, view, used, keys));
    this.totalBytes += used - replaced;
  }
}

function decodeAlong(file: ParsedFileName, view: FileView, used: number, cache: KeyCache, layout: Layout): { records: FileRecords; fromRuns: number } {
  const { keys, starts, positions, metBy } = layout;
  const count = keys.length;
  // Room for the layout's entries and a few more: one allocation of the values and timestamps, keys without regrowth.
  const capacity = count + 16;
  const pairs = new Float64Array(2 * capacity);
  const collector = new RecordsCollector(file, cache, new Array<DecodedKey>(capacity), pairs.subarray(0, capacity), pairs.subarray(capacity), 0);
  let offset = HEADER_SIZE;
  let fromRuns = 0;
  const budget = { compares: MAX_COMPARES };
  // Whether every entry so far is one of the layout's not met before in this file.
  const thisFile = ++layout.files;
  let sameKeys = true;
  while (offset < used) {
    offset = scanKeyedEntry(view, used, offset, collector);
    const at = positions.get(collector.lastKey()!);
    if (at === undefined || metBy[at] === thisFile) {
      sameKeys = false;
      continue;
    }
    metBy[at] = thisFile;
    if (budget.compares <= 0 || offset >= used) continue;
    const first = at + 1;
    // The layout's entries after that key that fit in what is left of this file.
    const end = lastStartWithin(starts, first, count, starts[first]! + (used - offset));
    if (end - first < MIN_RUN) continue;
    const matched = matchRun(view, offset, layout, first, end, budget);
    if (matched === 0) continue;
    for (let at = first; at < first + matched; at++) {
      if (metBy[at] === thisFile) sameKeys = false;
      metBy[at] = thisFile;
    }
    collector.checkedEntries(keys, first, matched, savedDoubles);
    offset += starts[first + matched]! - starts[first]!;
    collector.last = undefined;
    fromRuns += matched;
  }
  const records = collector.records();
  // As many entries as the layout's, each a distinct one of them: the same keys, in another order.
  if (sameKeys && records.keys.length === count) records.sameKeysAs = keys;
  return { records, fromRuns };
}

/** The largest e in [first, count] whose starts[e] is at most `limit` (starts is increasing). */
function lastStartWithin(starts: Int32Array, first: number, count: number, limit: number): number {
  let low = first;
  let high = count;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle]! <= limit) low = middle;
    else high = middle - 1;
  }
  return low;
}

/**
 * How many of the layout's entries first..end-1 the bytes at `offset` hold, byte for byte but
 * their values: all of them, or the longest prefix of half, a quarter, ... of them that matches
 * (0 when none does). Their values and timestamps are left in savedDoubles; `view` as it was.
 */
function matchRun(view: FileView, offset: number, layout: Layout, first: number, end: number, budget: { compares: number }): number {
  const { starts, masked } = layout;
  const words = view.words;
  const runs = end - first;
  if (savedWords.length < runs * SLOT_WORDS) {
    savedWords = new Int32Array(runs * SLOT_WORDS * 2);
    savedDoubles = new Float64Array(savedWords.buffer);
  }
  const base = starts[first]!;
  // The word of this file where the layout's entry k's value slot is: both are 8-byte aligned.
  const shift = (offset - base) >> 2;
  for (let i = 0; i < runs; i++) {
    const word = (starts[first + i + 1]! >> 2) - SLOT_WORDS + shift;
    const at = i * SLOT_WORDS;
    savedWords[at] = words[word]!;
    savedWords[at + 1] = words[word + 1]!;
    savedWords[at + 2] = words[word + 2]!;
    savedWords[at + 3] = words[word + 3]!;
    words[word] = 0;
    words[word + 1] = 0;
    words[word + 2] = 0;
    words[word + 3] = 0;
  }
  let matched = 0;
  for (let length = runs; length >= MIN_RUN && budget.compares > 0; length >>= 1) {
    budget.compares--;
    const bytes = starts[first + length]! - base;
    if (view.bytes.compare(masked, base, base + bytes, offset, offset + bytes) === 0) {
      matched = length;
      break;
    }
  }
  for (let i = 0; i < runs; i++) {
    const word = (starts[first + i + 1]! >> 2) - SLOT_WORDS + shift;
    const at = i * SLOT_WORDS;
    words[word] = savedWords[at]!;
    words[word + 1] = savedWords[at + 1]!;
    words[word + 2] = savedWords[at + 2]!;
    words[word + 3] = savedWords[at + 3]!;
  }
  return matched;
}

/** The layout of a file whose entries were decoded, in order, as `keys`: its framing is sound, one entry per key. */
function layoutOf(type: MetricType, view: FileView, used: number, keys: readonly DecodedKey[]): Layout {
  const masked = Buffer.allocUnsafeSlow(used);
  view.bytes.copy(masked, 0, 0, used);
  const maskedWords = new Int32Array(masked.buffer, masked.byteOffset, used >> 2);
  const starts = new Int32Array(keys.length + 1);
  const positions = new Map<DecodedKey, number>();
  let offset = HEADER_SIZE;
  for (let i = 0; i < keys.length; i++) {
    starts[i] = offset;
    if (!positions.has(keys[i]!)) positions.set(keys[i]!, i);
    const keyLength = view.words[offset >> 2]!;
    const next = offset + 4 + keyLength + (8 - ((keyLength + 4) % 8)) + SLOT_WORDS * 4;
    maskedWords.fill(0, (next >> 2) - SLOT_WORDS, next >> 2);
    offset = next;
  }
  starts[keys.length] = offset;
  return { type, keys, masked, starts, positions, metBy: new Int32Array(keys.length), files: 0 };
}
