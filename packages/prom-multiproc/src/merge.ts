// The merge rules of the multiprocess collector, as pure functions: file bytes in, metric
// families out. No file system here, so every rule is testable without a directory.
//
//   counter, summary      summed per label set
//   histogram             _sum summed; buckets summed per (labels, numeric le), sorted by bound,
//                         made cumulative; _count is the +Inf total
//   gauge                 every sample gets pid=<file identity>; all/liveall keep it (a series
//                         per process); the other modes drop it and take the min, max, sum, or
//                         the value with the newest timestamp (strictly newer than 0)

import {
  FileFormatError, HEADER_SIZE, readKnownEntries, readUsed, scanView, storedKeyWords, viewOf, type EntrySource, type EntryVisitor,
} from './format.js';
import type { FileKind, GaugeMode, MetricType, ParsedFileName } from './fileNames.js';
import { floatToGoString } from './pythonFloat.js';
import { parseEntryKey, type ParsedKey } from './pythonJson.js';

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export interface MetricFamily {
  /** The reference client's metric name: a counter's has no `_total`. */
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

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
  stored?: Int32Array;
  /** The file type this key was found valid in, so the next file of that type need not check again. */
  validIn?: MetricType;
  /** Scratch space of the merge in progress (see Merger). */
  merging?: MergeTarget;
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
}

/** Decoded keys, shared across files and scrapes: most keys repeat in every worker's file. */
export type KeyCache = Map<string, DecodedKey>;

function labelsIdOf(labels: Labels): string {
  return JSON.stringify(Object.keys(labels).sort().map((name) => [name, labels[name]]));
}

/** Python's float(): also accepts inf, +Inf, -inf, nan in any case. */
export function parsePythonFloat(text: string): number {
  const trimmed = text.trim();
  const lower = trimmed.toLowerCase();
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (trimmed === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) {
    throw new FileFormatError(`"${text}" is not a number`);
  }
  return Number(trimmed);
}

// The exposition formats' name rules. A name in a file is written into the exposition as it
// is, so one that breaks them (a space, a quote, a newline) could end a line and add series.
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

// The samples a family of each type may have in the exposition formats; a sample name that
// only starts with the metric name (`c0total`) would be a series outside its family.
const SAMPLE_SUFFIXES: Record<MetricType, ReadonlySet<string>> = {
  counter: new Set(['_total', '_created']),
  gauge: new Set(['']),
  histogram: new Set(['_bucket', '_sum', '_count', '_created']),
  summary: new Set(['_sum', '_count', '_created']),
};

function checkKeyNames({ metricName, sampleName, labels }: ParsedKey): void {
  if (!METRIC_NAME.test(metricName)) throw new TypeError(`metric name ${JSON.stringify(metricName)} is not a valid name`);
  if (!METRIC_NAME.test(sampleName) || !sampleName.startsWith(metricName)) {
    throw new TypeError(`sample name ${JSON.stringify(sampleName)} is not a valid name of metric ${metricName}`);
  }
  for (const name of Object.keys(labels)) {
    if (!LABEL_NAME.test(name)) throw new TypeError(`label name ${JSON.stringify(name)} is not a valid name`);
  }
}

function decodeKey(key: string, cache: KeyCache): DecodedKey {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  let parsed: ParsedKey;
  try {
    parsed = parseEntryKey(key);
    checkKeyNames(parsed);
  } catch (error) {
    throw new FileFormatError(`key ${JSON.stringify(key.slice(0, 80))} is not valid: ${(error as Error).message}`);
  }
  const { pid: _pid, ...labelsWithoutPid } = parsed.labels;
  let labelsWithoutLe: Labels | undefined;
  let bucketBound: number | undefined;
  if (parsed.labels.le !== undefined) {
    const { le, ...rest } = parsed.labels;
    labelsWithoutLe = rest;
    try {
      bucketBound = parsePythonFloat(le);
    } catch {
      // Only an error in a histogram file, where le must be a bound; checkedKey checks.
    }
  }
  // Every field set here, in one order: the scrape reads these objects in its hottest loop,
  // where one shape for all of them keeps property reads fast.
  const decoded: DecodedKey = {
    metricName: parsed.metricName,
    sampleName: parsed.sampleName,
    labels: parsed.labels,
    help: parsed.help,
    raw: key,
    labelsId: labelsIdOf(parsed.labels),
    labelsWithoutPid,
    labelsWithoutPidId: labelsIdOf(labelsWithoutPid),
    sampleSuffix: parsed.sampleName.slice(parsed.metricName.length),
    bucketBound,
    labelsWithoutLe,
    labelsWithoutLeId: labelsWithoutLe === undefined ? undefined : labelsIdOf(labelsWithoutLe),
    stored: undefined,
    validIn: undefined,
    merging: undefined,
  };
  cache.set(key, decoded);
  return decoded;
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
    // No `previous` for a large file, and no stored words for its keys: the scrape cache keeps
    // neither its bytes nor its records, so they would never be compared, and would take the
    // file's size again.
    const collector = new RecordsCollector(file, cache, [], new Float64Array(16), new Float64Array(16), false);
    bytes.scan(collector.visit);
    return collector.records();
  }
  const view = viewOf(bytes);
  const used = readUsed(view.bytes);
  const known = previous !== undefined && previous.file.type === file.type ? previous.keys : [];
  // Room for what the file held and a little more; an entry takes at least 24 bytes.
  const capacity = Math.min(known.length + 16, (used - HEADER_SIZE) >> 3);
  const values = new Float64Array(capacity);
  const timestamps = new Float64Array(capacity);
  const { count, offset } = readKnownEntries(view, used, known, values, timestamps);
  if (offset >= used && count === known.length) return { file, keys: known, values: values.subarray(0, count), timestamps: timestamps.subarray(0, count) };

  const collector = new RecordsCollector(file, cache, known.slice(0, count), values, timestamps, true);
  scanView(view, used, offset, collector.visit);
  return collector.records();
}

/** Decodes the entries a scan visits into a file's records, appended to `keys` and the arrays after them. */
class RecordsCollector {
  constructor(
    private readonly file: ParsedFileName,
    private readonly cache: KeyCache,
    private readonly keys: DecodedKey[],
    private values: Float64Array,
    private timestamps: Float64Array,
    /** Whether to give each key its stored words (see readKnownEntries), for the next read of the file. */
    private readonly storeKeys: boolean,
  ) {}

  readonly visit: EntryVisitor = (view, keyStart, keyLength, value, timestamp) => {
    const key = checkedKey(this.file, decodeKey(view.bytes.toString('utf8', keyStart, keyStart + keyLength), this.cache));
    if (this.storeKeys) key.stored ??= storedKeyWords(view, keyStart, keyLength);
    const count = this.keys.length;
    if (count === this.values.length) {
      const capacity = Math.max(count * 2, 16);
      this.values = grown(this.values, capacity);
      this.timestamps = grown(this.timestamps, capacity);
    }
    this.values[count] = value;
    this.timestamps[count] = timestamp;
    this.keys.push(key);
  };

  records(): FileRecords {
    const count = this.keys.length;
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

/** One merged value: a sample of a series, or a histogram bucket before it is made cumulative. */
interface Cell {
  value: number;
  /** For the mostrecent modes: the timestamp of `value`. */
  timestamp: number;
  /** Whether any value has been merged in (a mostrecent gauge whose timestamps are all 0 has none). */
  filled: boolean;
}

/**
 * How a value is merged into its cell. An `all` gauge's series belongs to one identity: its
 * live file's value ('last') wins over an archived value of an earlier process of that
 * identity ('archived', kept only while no live file gave one), in whichever order the files come.
 */
type Rule = 'sum' | 'min' | 'max' | 'mostrecent' | 'last' | 'archived';

/**
 * Where a key's values went in the merge in progress, kept on the key: the next file of the
 * same kind holding that key (most files hold the same keys) merges without a lookup.
 */
interface MergeTarget {
  merger: Merger;
  kind: FileKind;
  cell: Cell;
  rule: Rule;
}

interface SeriesAccumulator {
  labels: Labels;
  /** sample name → value, in first-seen order */
  values: Map<string, Cell>;
  /** histogram bound → non-cumulative count */
  buckets: Map<number, Cell> | undefined;
}

interface FamilyAccumulator {
  name: string;
  type: MetricType;
  help: string;
  /** A gauge family's mode: that of the first file it is read from (files are read in name order). */
  mode: GaugeMode | undefined;
  series: Map<string, SeriesAccumulator>;
}

/** A gauge family found in files of two modes: its samples are all merged by the first. */
export interface ModeConflict {
  family: string;
  mode: GaugeMode;
  alsoWrittenAs: GaugeMode;
}

/**
 * A histogram whose files have different bucket bounds (a Node service's and a Python
 * worker's defaults): its merged buckets each count only the files that have that bound, so
 * the cumulative counts are wrong. One layout per distinct set of bounds, with the first file
 * (in merge order) that has it.
 */
export interface BucketConflict {
  family: string;
  layouts: { bounds: number[]; file: ParsedFileName }[];
}

/** One histogram's bucket bounds in one file, sorted, and as one string to compare. */
interface BucketLayout {
  bounds: number[];
  id: string;
}

// A file's layouts, by its keys: a file that has not changed gives the same keys array scrape
// after scrape (decodeFile), so its bounds are collected once, not on every scrape.
const layoutsByKeys = new WeakMap<readonly DecodedKey[], Map<string, BucketLayout>>();

/** The bucket layout of every histogram in a file's keys (the bounds of all its label sets together). */
function bucketLayoutsOf(keys: readonly DecodedKey[]): Map<string, BucketLayout> {
  let layouts = layoutsByKeys.get(keys);
  if (layouts !== undefined) return layouts;
  const bounds = new Map<string, Set<number>>();
  for (const key of keys) {
    if (key.bucketBound === undefined) continue;
    let found = bounds.get(key.metricName);
    if (found === undefined) bounds.set(key.metricName, (found = new Set()));
    found.add(key.bucketBound);
  }
  layouts = new Map();
  for (const [family, set] of bounds) {
    const sorted = [...set].sort((a, b) => a - b);
    layouts.set(family, { bounds: sorted, id: sorted.join(' ') });
  }
  layoutsByKeys.set(keys, layouts);
  return layouts;
}

/**
 * Identities of archive files, which hold the folded values of processes that are gone
 * (see compaction.ts). An `all`-mode gauge archive keeps each process's id in a `pid` label.
 */
export function isArchiveIdentity(id: string): boolean {
  return /^archive\d*$/.test(id);
}

/**
 * Accumulates files one at a time, so memory grows with the number of distinct series, not
 * with the number of files or entries read.
 */
export class Merger {
  private readonly families = new Map<string, FamilyAccumulator>();
  readonly conflicts: ModeConflict[] = [];
  /** Per histogram family: each layout seen, by its id, with the first file that has it. */
  private readonly bucketLayouts = new Map<string, Map<string, { bounds: number[]; file: ParsedFileName }>>();

  add({ file, keys, values, timestamps }: FileRecords): void {
    if (file.type === 'histogram') this.noteBucketLayouts(file, keys);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const target = key.merging;
      if (target !== undefined && target.merger === this && target.kind === file.kind) {
        mergeInto(target.cell, target.rule, values[i]!, timestamps[i]!);
      } else {
        this.addFirst(file, key, values[i]!, timestamps[i]!);
      }
    }
  }

  /** A key's first record of this kind in this merge: find (or make) its family, series and cell. */
  private addFirst(file: ParsedFileName, key: DecodedKey, value: number, timestamp: number): void {
    let family = this.families.get(key.metricName);
    if (family === undefined) {
      family = { name: key.metricName, type: file.type, help: key.help, mode: file.mode, series: new Map() };
      this.families.set(family.name, family);
    } else if (file.mode !== undefined && family.mode !== undefined && file.mode !== family.mode) {
      if (!this.conflicts.some((c) => c.family === family!.name && c.alsoWrittenAs === file.mode)) {
        this.conflicts.push({ family: family.name, mode: family.mode, alsoWrittenAs: file.mode });
      }
    }
    const { cell, rule } = targetOf(family, key, file.id);
    mergeInto(cell, rule, value, timestamp);
    // An all-mode gauge's series is the file's identity: the next file's is another one.
    if (rule !== 'last' && rule !== 'archived') key.merging = { merger: this, kind: file.kind, cell, rule };
  }

  /** Once per (family, file): a lookup and a string comparison, never per entry. */
  private noteBucketLayouts(file: ParsedFileName, keys: readonly DecodedKey[]): void {
    for (const [family, layout] of bucketLayoutsOf(keys)) {
      let seen = this.bucketLayouts.get(family);
      if (seen === undefined) this.bucketLayouts.set(family, (seen = new Map()));
      if (!seen.has(layout.id)) seen.set(layout.id, { bounds: layout.bounds, file });
    }
  }

  /** The histograms merged from files of more than one bucket layout. */
  bucketConflicts(): BucketConflict[] {
    const conflicts: BucketConflict[] = [];
    for (const [family, layouts] of this.bucketLayouts) {
      if (layouts.size > 1) conflicts.push({ family, layouts: [...layouts.values()] });
    }
    return conflicts;
  }

  result(): MetricFamily[] {
    return [...this.families.values()].map(finish);
  }
}

export function mergeFiles(files: Iterable<FileRecords>): MetricFamily[] {
  const merger = new Merger();
  for (const file of files) merger.add(file);
  return merger.result();
}

function mergeInto(cell: Cell, rule: Rule, value: number, timestamp: number): void {
  switch (rule) {
    case 'sum':
      cell.value += value;
      break;
    case 'min':
      if (!cell.filled || value < cell.value) cell.value = value;
      break;
    case 'max':
      if (!cell.filled || value > cell.value) cell.value = value;
      break;
    case 'last':
      cell.value = value;
      cell.timestamp = LIVE;
      break;
    case 'archived':
      if (cell.timestamp === LIVE) return;
      cell.value = value;
      break;
    case 'mostrecent':
      // The newest timestamp wins, and only one strictly newer than 0.
      if (!(cell.timestamp < timestamp)) return;
      cell.value = value;
      cell.timestamp = timestamp;
  }
  cell.filled = true;
}

/** Marks an `all` gauge's cell whose value came from a live file (all-mode timestamps are unused). */
const LIVE = -1;

const newCell = (): Cell => ({ value: 0, timestamp: 0, filled: false });

function seriesOf(series: Map<string, SeriesAccumulator>, id: string, labels: Labels): SeriesAccumulator {
  let found = series.get(id);
  if (found === undefined) {
    found = { labels, values: new Map(), buckets: undefined };
    series.set(id, found);
  }
  return found;
}

function cellOf<K>(cells: Map<K, Cell>, key: K): Cell {
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = newCell();
    cells.set(key, cell);
  }
  return cell;
}

const GAUGE_RULES: Record<GaugeMode, Rule> = {
  all: 'last', liveall: 'last',
  min: 'min', livemin: 'min',
  max: 'max', livemax: 'max',
  sum: 'sum', livesum: 'sum',
  mostrecent: 'mostrecent', livemostrecent: 'mostrecent',
};

function targetOf(family: FamilyAccumulator, key: DecodedKey, fileId: string): { cell: Cell; rule: Rule } {
  if (family.type === 'histogram' && key.bucketBound !== undefined) {
    // Buckets are summed per numeric bound, so `1` and `1.0` (or `1e+07` and `1e+007`) are one bucket.
    const series = seriesOf(family.series, key.labelsWithoutLeId!, key.labelsWithoutLe!);
    series.buckets ??= new Map();
    return { cell: cellOf(series.buckets, key.bucketBound), rule: 'sum' };
  }
  if (family.type !== 'gauge') return { cell: cellOf(seriesOf(family.series, key.labelsId, key.labels).values, key.sampleName), rule: 'sum' };
  const rule = GAUGE_RULES[family.mode ?? 'all'];
  if (rule === 'last') {
    // The pid label is the file's identity, except in an archive, which keeps each process's own.
    const archived = isArchiveIdentity(fileId) && key.labels.pid !== undefined;
    const pid = archived ? key.labels.pid! : fileId;
    const series = seriesOf(family.series, `${key.labelsWithoutPidId}\u0000${pid}`, { ...key.labelsWithoutPid, pid });
    return { cell: cellOf(series.values, key.sampleName), rule: archived ? 'archived' : 'last' };
  }
  return { cell: cellOf(seriesOf(family.series, key.labelsWithoutPidId, key.labelsWithoutPid).values, key.sampleName), rule };
}

// Bucket bounds as `le` text, kept across scrapes: most histograms share a few bounds, and
// formatting a float the Go way is the costliest step of finishing a merge. Bounded, since a
// file may hold any bounds at all.
const boundTexts = new Map<number, string>();
const MAX_BOUND_TEXTS = 10_000;

function boundText(bound: number): string {
  let text = boundTexts.get(bound);
  if (text === undefined) {
    if (boundTexts.size >= MAX_BOUND_TEXTS) boundTexts.clear();
    text = floatToGoString(bound);
    boundTexts.set(bound, text);
  }
  return text;
}

function finish(family: FamilyAccumulator): MetricFamily {
  const samples: Sample[] = [];
  for (const { labels, values, buckets } of family.series.values()) {
    for (const [name, cell] of values) {
      if (cell.filled) samples.push({ name, labels, value: cell.value });
    }
    if (family.type !== 'histogram' || buckets === undefined || buckets.size === 0) continue;
    let cumulative = 0;
    for (const bound of [...buckets.keys()].sort((a, b) => a - b)) {
      cumulative += buckets.get(bound)!.value;
      samples.push({ name: `${family.name}_bucket`, labels: { ...labels, le: boundText(bound) }, value: cumulative });
    }
    samples.push({ name: `${family.name}_count`, labels, value: cumulative });
  }
  return { name: family.name, type: family.type, help: family.help, samples };
}
