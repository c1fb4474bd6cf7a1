// The merge rules of the multiprocess collector, as pure functions: decoded files in
// (format/decode.ts), metric families out. No file system here, so every rule is testable
// without a directory.
//
//   counter, summary      summed per label set
//   histogram             _sum summed; buckets summed per (labels, numeric le), sorted by bound,
//                         made cumulative; _count is the +Inf total
//   gauge                 every sample gets pid=<file identity>; all/liveall keep it (a series
//                         per process); the other modes drop it and take the min, max, sum, or
//                         the value with the newest timestamp (strictly newer than 0)

import type { FileKind, GaugeMode, MetricType, ParsedFileName } from '../format/fileNames.js';
import { floatToGoString } from '../format/pythonFloat.js';
import type { DecodedKey, FileRecords, Labels } from '../format/decode.js';
import { isArchiveIdentity } from '../directory/manifest.js';

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
  /** The merge's number (not the Merger: a key kept between scrapes would keep its whole merge alive). */
  merge: number;
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
// after scrape (decodeFile), so its bounds are collected once, not on every scrape; and files
// known to hold another's keys in another order (FileRecords.sameKeysAs) share that file's.
const layoutsByKeys = new WeakMap<readonly DecodedKey[], Map<string, BucketLayout>>();

/**
 * One histogram family's bucket bounds, as met in any file, each with a number: a file's set of
 * bounds is then gathered with an array store per bucket entry, not a set of doubles.
 */
interface FamilyBounds {
  bounds: number[];
  numberOf: Map<number, number>;
  /** Per bound number: the pass (see `pass`) that last met it. */
  metIn: number[];
  /** The pass that last met the family, and the bound numbers it met. */
  pass: number;
  met: number[];
}

interface BoundNumber {
  family: FamilyBounds;
  number: number;
}

// Bounded by the distinct (histogram, bound) pairs of the keys decoded, like the keys themselves.
const familyBounds = new Map<string, FamilyBounds>();
let pass = 0;

function boundNumberOf(key: DecodedKey): BoundNumber {
  if (key.boundNumber !== undefined) return key.boundNumber as BoundNumber;
  let family = familyBounds.get(key.metricName);
  if (family === undefined) familyBounds.set(key.metricName, (family = { bounds: [], numberOf: new Map(), metIn: [], pass: 0, met: [] }));
  let number = family.numberOf.get(key.bucketBound!);
  if (number === undefined) {
    number = family.bounds.length;
    family.bounds.push(key.bucketBound!);
    family.numberOf.set(key.bucketBound!, number);
    family.metIn.push(0);
  }
  const found: BoundNumber = { family, number };
  key.boundNumber = found;
  return found;
}

/** The bucket layout of every histogram in a file's keys (the bounds of all its label sets together). */
function bucketLayoutsOf(keys: readonly DecodedKey[], sameKeysAs: readonly DecodedKey[] | undefined): Map<string, BucketLayout> {
  let layouts = layoutsByKeys.get(keys);
  if (layouts !== undefined) return layouts;
  if (sameKeysAs !== undefined) return bucketLayoutsOf(sameKeysAs, undefined);
  const thisPass = ++pass;
  const families: [string, FamilyBounds][] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key.bucketBound === undefined) continue;
    const { family, number } = boundNumberOf(key);
    if (family.pass !== thisPass) {
      family.pass = thisPass;
      family.met = [];
      families.push([key.metricName, family]);
    }
    if (family.metIn[number] !== thisPass) {
      family.metIn[number] = thisPass;
      family.met.push(number);
    }
  }
  layouts = new Map();
  for (const [name, family] of families) {
    const sorted = family.met.map((number) => family.bounds[number]!).sort((a, b) => a - b);
    layouts.set(name, { bounds: sorted, id: sorted.join(' ') });
  }
  layoutsByKeys.set(keys, layouts);
  return layouts;
}

/**
 * Accumulates files one at a time, so memory grows with the number of distinct series, not
 * with the number of files or entries read.
 */
let mergesStarted = 0;

export class Merger {
  private readonly number = ++mergesStarted;
  private readonly families = new Map<string, FamilyAccumulator>();
  readonly conflicts: ModeConflict[] = [];
  /** Per histogram family: each layout seen, by its id, with the first file that has it. */
  private readonly bucketLayouts = new Map<string, Map<string, { bounds: number[]; file: ParsedFileName }>>();

  add({ file, keys, values, timestamps, sameKeysAs }: FileRecords): void {
    if (file.type === 'histogram') this.noteBucketLayouts(file, keys, sameKeysAs);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const target = key.merging as MergeTarget | undefined;
      if (target !== undefined && target.merge === this.number && target.kind === file.kind) {
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
    if (rule !== 'last' && rule !== 'archived') key.merging = { merge: this.number, kind: file.kind, cell, rule };
  }

  /** Once per (family, file): a lookup and a string comparison, never per entry. */
  private noteBucketLayouts(file: ParsedFileName, keys: readonly DecodedKey[], sameKeysAs: readonly DecodedKey[] | undefined): void {
    for (const [family, layout] of bucketLayoutsOf(keys, sameKeysAs)) {
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
