// Decoding a metrics file: its bytes (or entries already in memory) into records whose keys
// are parsed, checked against the file's type and cached across files. The merge rules that
// combine records of many files are in scrape/merge.ts.

import {
  FileFormatError, expectedEntryCount, readKnownEntries, readUsed, scanKeyedWindow, storedKeyWordCount, viewOf, type EntrySource, type FileView,
  type KeyedEntrySink,
} from './format.js';
import { StoredKeyTable, type StoredKey, type StoredWords } from './storedKeyTable.js';
import type { MetricType, ParsedFileName } from './fileNames.js';
import { parsePythonFloat } from './pythonFloat.js';
import { parseEntryKey, type ParsedKey } from './pythonJson.js';

export type Labels = Record<string, string>;

/** One decoded key, with what the merge needs precomputed once per distinct key. */
export interface DecodedKey extends ParsedKey {
  /** The key as it is stored. */
  raw: string;
  /** Identifies the label set (label order does not matter). */
  labelsId: string;
  /** The labels without `pid`, which a gauge's file identity replaces. */
  labelsWithoutPid: Labels;
  labelsWithoutPidId: string;
  /** What the sample name adds to the metric name (`_total`, `_bucket`, ... or ''). */
  sampleSuffix: string;
  /** For a histogram bucket: the bound, and the label set without `le`. */
  bucketBound?: number;
  labelsWithoutLe?: Labels;
  labelsWithoutLeId?: string;
  /** The key as a file stores it (see storedKeyWords), once it has been read from one. */
  stored?: StoredWords;
  /** The file type this key was found valid in, so the next file of that type need not check again. */
  validIn?: MetricType;
  /** Scratch space of the merge in progress (scrape/merge.ts's Merger), which only the merge reads. */
  merging?: object;
  /** For a histogram bucket: its bound's number among its family's (scrape/merge.ts's bucket layouts), which only the merge reads. */
  boundNumber?: object;
}

export interface RawEntry {
  key: string;
  value: number;
  timestamp: number;
}

/** One file's entries, decoded: entry i is keys[i], values[i], timestamps[i]. */
export interface FileRecords {
  file: ParsedFileName;
  keys: readonly DecodedKey[];
  values: Float64Array;
  timestamps: Float64Array;
  /**
   * Another file's keys that these are an order of (the same keys, as many times each), when
   * the reader knows: what depends on the set of keys only (the merge's bucket layouts) is then the same.
   */
  sameKeysAs?: readonly DecodedKey[];
}

/** Decoded keys, shared across files and scrapes: most keys repeat in every worker's file. */
export type KeyCache = Map<string, DecodedKey>;

// Each cache's keys by their stored bytes, beside it: an entry whose bytes were met before is
// found without a string (see storedKeyTable.ts); the string map finds a key met in another
// encoding (an invalid UTF-8 byte decodes as U+FFFD whatever it was) and serves decodeEntries.
const tables = new WeakMap<KeyCache, StoredKeyTable<DecodedKey>>();

function tableOf(cache: KeyCache): StoredKeyTable<DecodedKey> {
  let table = tables.get(cache);
  if (table === undefined) tables.set(cache, (table = new StoredKeyTable()));
  return table;
}

/** For tests: the table a cache's keys are found in by their bytes, made with another hash (collisions). */
export function useStoredKeyTable(cache: KeyCache, table: StoredKeyTable<DecodedKey>): void {
  tables.set(cache, table);
}

/**
 * Adds the key of the entry whose key bytes start at `keyStart`, whose stored words the table
 * did not find: decoded, or found by its text (once per distinct bytes). `after`: the key of the entry before it in the file.
 */
function addKey(
  table: StoredKeyTable<DecodedKey>, cache: KeyCache, view: FileView, keyStart: number, keyLength: number, after: StoredKey<DecodedKey> | undefined,
): StoredKey<DecodedKey> {
  const key = decodeKey(view.bytes.toString('utf8', keyStart, keyStart + keyLength), cache);
  const stored = table.add(view.words, (keyStart - 4) >> 2, storedKeyWordCount(keyLength), key, after);
  key.stored ??= stored;
  return stored;
}

/**
 * One text per label set, whatever the order of its labels: the names sorted, each pair as its
 * two JSON strings (self-delimiting, so no two sets share a text). Written out rather than as
 * JSON of an array of pairs: a first scrape makes two or three for each of tens of thousands of keys.
 */
function labelsIdOf(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length > 1) names.sort();
  let id = '';
  for (const name of names) id += `${JSON.stringify(name)}:${JSON.stringify(labels[name])},`;
  return id;
}


// The exposition formats' name rules. A name in a file is written into the exposition as it
// is, so one that breaks them (a space, a quote, a newline) could end a line and add series.
// Python's client (0.26) accepts any UTF-8 name and writes it to the file as it is; its
// exposition then escapes it: every character outside the rules, and a leading digit, becomes
// '_'. The same here, so such a worker's series are served as Python serves them, and the rest of
// its file with them.
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const METRIC_NAME_CHARACTER = /^[a-zA-Z0-9_:]$/;
const LABEL_NAME_CHARACTER = /^[a-zA-Z0-9_]$/;

// The samples a family of each type may have in the exposition formats; a sample name that
// only starts with the metric name (`c0total`) would be a series outside its family.
const SAMPLE_SUFFIXES: Record<MetricType, ReadonlySet<string>> = {
  counter: new Set(['_total', '_created']),
  gauge: new Set(['']),
  histogram: new Set(['_bucket', '_sum', '_count', '_created']),
  summary: new Set(['_sum', '_count', '_created']),
};

function escapedName(name: string, rule: RegExp, character: RegExp): string {
  if (rule.test(name)) return name;
  if (name.length === 0) throw new TypeError('a name is empty');
  let escaped = '';
  let index = 0;
  for (const codePoint of name) {
    const isLeadingDigit = index === 0 && codePoint >= '0' && codePoint <= '9';
    escaped += character.test(codePoint) && !isLeadingDigit ? codePoint : '_';
    index++;
  }
  return escaped;
}

/** The key's names as the exposition may carry them (see escapedName). */
function withExpositionNames(parsed: ParsedKey): ParsedKey {
  const metricName = escapedName(parsed.metricName, METRIC_NAME, METRIC_NAME_CHARACTER);
  const sampleName = escapedName(parsed.sampleName, METRIC_NAME, METRIC_NAME_CHARACTER);
  if (!sampleName.startsWith(metricName)) {
    throw new TypeError(`sample name ${JSON.stringify(parsed.sampleName)} is not a valid name of metric ${parsed.metricName}`);
  }
  let labels = parsed.labels;
  for (const name of Object.keys(labels)) {
    if (LABEL_NAME.test(name)) continue;
    const renamed = Object.create(null) as Labels;
    for (const [label, value] of Object.entries(parsed.labels)) renamed[escapedName(label, LABEL_NAME, LABEL_NAME_CHARACTER)] = value;
    labels = renamed;
    break;
  }
  if (metricName === parsed.metricName && sampleName === parsed.sampleName && labels === parsed.labels) return parsed;
  return { ...parsed, metricName, sampleName, labels };
}

/**
 * What every key with one label set shares, whatever its metric: the labels and their ids
 * without `pid` and without `le`, and the bucket bound. A wide directory's tens of thousands
 * of keys (a hundred metrics over the same routes and bounds) have a few thousand label sets:
 * one set of objects and ids each, where one per key took most of a first scrape's memory.
 */
interface LabelSet {
  labels: Labels;
  labelsId: string;
  labelsWithoutPid: Labels;
  labelsWithoutPidId: string;
  bucketBound: number | undefined;
  labelsWithoutLe: Labels | undefined;
  labelsWithoutLeId: string | undefined;
}

/** Per key cache: its label sets by id, and one copy of each name and help text its keys repeat. */
interface SharedParts {
  labelSets: Map<string, LabelSet>;
  texts: Map<string, string>;
}

const sharedParts = new WeakMap<KeyCache, SharedParts>();

function sharedPartsOf(cache: KeyCache): SharedParts {
  let parts = sharedParts.get(cache);
  if (parts === undefined) sharedParts.set(cache, (parts = { labelSets: new Map(), texts: new Map() }));
  return parts;
}

/** One string per distinct text: JSON.parse makes a new one for every key. */
function sharedText(texts: Map<string, string>, text: string): string {
  const found = texts.get(text);
  if (found !== undefined) return found;
  texts.set(text, text);
  return text;
}

function labelSetOf(labelSets: Map<string, LabelSet>, labels: Labels): LabelSet {
  const labelsId = labelsIdOf(labels);
  const found = labelSets.get(labelsId);
  if (found !== undefined) return found;
  // Only an archive's keys (and a few writers' gauges) have a pid label: the others share their labels and id.
  const hasPid = labels.pid !== undefined;
  const labelsWithoutPid = hasPid ? withoutLabel(labels, 'pid') : labels;
  let labelsWithoutLe: Labels | undefined;
  let bucketBound: number | undefined;
  if (labels.le !== undefined) {
    labelsWithoutLe = withoutLabel(labels, 'le');
    try {
      bucketBound = parsePythonFloat(labels.le);
    } catch {
      // Only an error in a histogram file, where le must be a bound; checkedKey checks.
    }
  }
  const set: LabelSet = {
    labels,
    labelsId,
    labelsWithoutPid,
    labelsWithoutPidId: hasPid ? labelsIdOf(labelsWithoutPid) : labelsId,
    bucketBound,
    labelsWithoutLe,
    labelsWithoutLeId: labelsWithoutLe === undefined ? undefined : labelsIdOf(labelsWithoutLe),
  };
  labelSets.set(labelsId, set);
  return set;
}

function decodeKey(key: string, cache: KeyCache): DecodedKey {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  let parsed: ParsedKey;
  try {
    parsed = withExpositionNames(parseEntryKey(key));
  } catch (error) {
    throw new FileFormatError(`key ${JSON.stringify(key.slice(0, 80))} is not valid: ${(error as Error).message}`);
  }
  const { labelSets, texts } = sharedPartsOf(cache);
  const set = labelSetOf(labelSets, parsed.labels);
  const metricName = sharedText(texts, parsed.metricName);
  // Every field set here, in one order: the scrape reads these objects in its hottest loop,
  // where one shape for all of them keeps property reads fast.
  const decoded: DecodedKey = {
    metricName,
    sampleName: sharedText(texts, parsed.sampleName),
    labels: set.labels,
    help: sharedText(texts, parsed.help),
    raw: key,
    labelsId: set.labelsId,
    labelsWithoutPid: set.labelsWithoutPid,
    labelsWithoutPidId: set.labelsWithoutPidId,
    sampleSuffix: sharedText(texts, parsed.sampleName.slice(metricName.length)),
    bucketBound: set.bucketBound,
    labelsWithoutLe: set.labelsWithoutLe,
    labelsWithoutLeId: set.labelsWithoutLeId,
    stored: undefined,
    validIn: undefined,
    merging: undefined,
    boundNumber: undefined,
  };
  cache.set(key, decoded);
  return decoded;
}

function withoutLabel(labels: Labels, left: string): Labels {
  const rest: Labels = Object.create(null) as Labels;
  for (const name in labels) {
    if (name !== left) rest[name] = labels[name]!;
  }
  return rest;
}

function checkedKey(file: ParsedFileName, key: DecodedKey): DecodedKey {
  if (key.validIn === file.type) return key;
  if (!SAMPLE_SUFFIXES[file.type].has(key.sampleSuffix)) {
    throw new FileFormatError(`sample ${key.sampleName} cannot be a sample of the ${file.type} ${key.metricName}`);
  }
  if (file.type === 'histogram' && key.labelsWithoutLe !== undefined && key.bucketBound === undefined) {
    throw new FileFormatError(`bucket bound le="${key.labels.le}" of ${key.sampleName} is not a number`);
  }
  key.validIn = file.type;
  return key;
}

/**
 * Decodes one file's bytes. Throws FileFormatError for anything that is not a well-formed
 * file of the reference format, so the caller can skip the file and name it.
 *
 * `previous` is what the same file gave last time: a file only ever appends, so the entries
 * whose stored bytes are those of the key that stood there are taken without decoding
 * anything (and when all are, the result shares `previous`'s keys). Any other bytes are
 * decoded afresh, so a file that was replaced or rewritten is read right, only slower.
 *
 * `bytes` may also be an EntrySource, for a file too large to read whole: its entries are
 * decoded as they are read, so memory follows the distinct keys (`cache`), not the file's size.
 */
export function decodeFile(
  file: ParsedFileName,
  bytes: Uint8Array | EntrySource,
  cache: KeyCache = new Map(),
  previous?: FileRecords,
): FileRecords {
  if (!(bytes instanceof Uint8Array)) {
    // No `previous` for a large file: the scrape cache keeps neither its bytes nor its records,
    // which would take the file's size again.
    const collector = new RecordsCollector(file, cache, [], new Float64Array(16), new Float64Array(16));
    bytes.scan((view, base, used, offset) => scanKeyedWindow(view, base, used, offset, collector));
    return collector.records();
  }
  const view = viewOf(bytes);
  const used = readUsed(view.bytes);
  const known = previous !== undefined && previous.file.type === file.type ? previous.keys : [];
  // Room for what the file held and a little more, or for what its first entry's size says it holds.
  const capacity = known.length > 0 ? known.length + 16 : expectedEntryCount(view, used);
  const values = new Float64Array(capacity);
  const timestamps = new Float64Array(capacity);
  const { count, offset } = readKnownEntries(view, used, known, values, timestamps);
  if (offset >= used && count === known.length) return { file, keys: known, values: values.subarray(0, count), timestamps: timestamps.subarray(0, count) };

  const collector = new RecordsCollector(file, cache, known.slice(0, count), values, timestamps);
  scanKeyedWindow(view, 0, used, offset, collector);
  return collector.records();
}

/** Decodes the entries a scan visits into a file's records, appended to `keys` and the arrays after them. */
export class RecordsCollector implements KeyedEntrySink<DecodedKey> {
  readonly table: StoredKeyTable<DecodedKey>;
  last: StoredKey<DecodedKey> | undefined = undefined;
  /** Entries given so far: `keys` may be made with room for more (holes past the count). */
  private count: number;

  constructor(
    private readonly file: ParsedFileName,
    private readonly cache: KeyCache,
    private readonly keys: DecodedKey[],
    private values: Float64Array,
    private timestamps: Float64Array,
    count = keys.length,
  ) {
    this.table = tableOf(cache);
    this.count = count;
  }

  newKey(view: FileView, keyStart: number, keyLength: number): StoredKey<DecodedKey> {
    return addKey(this.table, this.cache, view, keyStart, keyLength, this.last);
  }

  entry(stored: StoredKey<DecodedKey>, value: number, timestamp: number): void {
    this.checkedEntry(checkedKey(this.file, stored.value), value, timestamp);
  }

  /** The key of the entry given last. */
  lastKey(): DecodedKey | undefined {
    return this.keys[this.count - 1];
  }

  /** An entry whose key is known valid in files of this one's type. */
  checkedEntry(key: DecodedKey, value: number, timestamp: number): void {
    const count = this.count;
    if (count === this.values.length) this.grow(count + 1);
    this.values[count] = value;
    this.timestamps[count] = timestamp;
    this.keys[count] = key;
    this.count = count + 1;
  }

  /**
   * `length` entries whose keys, known valid in files of this one's type, are keys[from...],
   * and whose values and timestamps alternate in `pairs`.
   */
  checkedEntries(keys: readonly DecodedKey[], from: number, length: number, pairs: Float64Array): void {
    const count = this.count;
    if (count + length > this.values.length) this.grow(count + length);
    const { values, timestamps } = this;
    for (let i = 0; i < length; i++) {
      this.keys[count + i] = keys[from + i]!;
      values[count + i] = pairs[2 * i]!;
      timestamps[count + i] = pairs[2 * i + 1]!;
    }
    this.count = count + length;
  }

  private grow(needed: number): void {
    const capacity = Math.max(this.count * 2, needed, 16); // a file whose first entry is larger than most
    this.values = grown(this.values, capacity);
    this.timestamps = grown(this.timestamps, capacity);
  }

  records(): FileRecords {
    const count = this.count;
    if (this.keys.length !== count) this.keys.length = count;
    return { file: this.file, keys: this.keys, values: this.values.subarray(0, count), timestamps: this.timestamps.subarray(0, count) };
  }
}

function grown(array: Float64Array, capacity: number): Float64Array {
  const larger = new Float64Array(capacity);
  larger.set(array);
  return larger;
}

/** Decodes entries that are already in memory (single-process mode has no file to read). */
export function decodeEntries(file: ParsedFileName, entries: Iterable<RawEntry>, cache: KeyCache = new Map()): FileRecords {
  const list = [...entries];
  return {
    file,
    keys: list.map((entry) => checkedKey(file, decodeKey(entry.key, cache))),
    values: Float64Array.from(list, (entry) => entry.value),
    timestamps: Float64Array.from(list, (entry) => entry.timestamp),
  };
}
