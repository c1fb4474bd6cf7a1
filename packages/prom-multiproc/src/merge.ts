// The merge rules of the multiprocess collector, as pure functions: file bytes in, metric
// families out. No file system here, so every rule is testable without a directory.
//
//   counter, summary      summed per label set
//   histogram             _sum summed; buckets summed per (labels, numeric le), sorted by bound,
//                         made cumulative; _count is the +Inf total
//   gauge                 every sample gets pid=<file identity>; all/liveall keep it (a series
//                         per process); the other modes drop it and take the min, max, sum, or
//                         the value with the newest timestamp (strictly newer than 0)

import { FileFormatError, readEntries } from './format.js';
import type { GaugeMode, MetricType, ParsedFileName } from './fileNames.js';
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
}

export interface RawEntry {
  key: string;
  value: number;
  timestamp: number;
}

export interface FileRecord {
  key: DecodedKey;
  value: number;
  timestamp: number;
}

export interface FileRecords {
  file: ParsedFileName;
  records: FileRecord[];
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
  const decoded: DecodedKey = {
    ...parsed,
    raw: key,
    labelsId: labelsIdOf(parsed.labels),
    labelsWithoutPid,
    labelsWithoutPidId: labelsIdOf(labelsWithoutPid),
    sampleSuffix: parsed.sampleName.slice(parsed.metricName.length),
  };
  if (parsed.labels.le !== undefined) {
    const { le, ...rest } = parsed.labels;
    decoded.labelsWithoutLe = rest;
    decoded.labelsWithoutLeId = labelsIdOf(rest);
    try {
      decoded.bucketBound = parsePythonFloat(le);
    } catch {
      // Only an error in a histogram file, where le must be a bound; decodeFile checks.
    }
  }
  cache.set(key, decoded);
  return decoded;
}

/**
 * Decodes one file's bytes. Throws FileFormatError for anything that is not a well-formed
 * file of the reference format, so the caller can skip the file and name it.
 */
export function decodeFile(file: ParsedFileName, bytes: Uint8Array, cache: KeyCache = new Map()): FileRecords {
  return decodeEntries(file, readEntries(bytes), cache);
}

/** Decodes entries that are already in memory (single-process mode has no file to read). */
export function decodeEntries(file: ParsedFileName, entries: Iterable<RawEntry>, cache: KeyCache = new Map()): FileRecords {
  const records = Array.from(entries, (entry) => {
    const key = decodeKey(entry.key, cache);
    if (!SAMPLE_SUFFIXES[file.type].has(key.sampleSuffix)) {
      throw new FileFormatError(`sample ${key.sampleName} cannot be a sample of the ${file.type} ${key.metricName}`);
    }
    if (file.type === 'histogram' && key.labelsWithoutLe !== undefined && key.bucketBound === undefined) {
      throw new FileFormatError(`bucket bound le="${key.labels.le}" of ${key.sampleName} is not a number`);
    }
    return { key, value: entry.value, timestamp: entry.timestamp };
  });
  return { file, records };
}

interface SeriesAccumulator {
  labels: Labels;
  /** sample name → value, in first-seen order */
  values: Map<string, number>;
  /** sample name → timestamp, for the mostrecent modes */
  timestamps: Map<string, number> | undefined;
  /** histogram bound → non-cumulative count */
  buckets: Map<number, number> | undefined;
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

  add({ file, records }: FileRecords): void {
    for (const record of records) {
      const { key } = record;
      let family = this.families.get(key.metricName);
      if (family === undefined) {
        family = { name: key.metricName, type: file.type, help: key.help, mode: file.mode, series: new Map() };
        this.families.set(family.name, family);
      } else if (file.mode !== undefined && family.mode !== undefined && file.mode !== family.mode) {
        if (!this.conflicts.some((c) => c.family === family!.name && c.alsoWrittenAs === file.mode)) {
          this.conflicts.push({ family: family.name, mode: family.mode, alsoWrittenAs: file.mode });
        }
      }
      if (family.type === 'gauge') addGauge(family, record, file.id);
      else if (family.type === 'histogram' && key.bucketBound !== undefined) addBucket(family, key, record.value);
      else addSum(seriesOf(family.series, key.labelsId, key.labels), key.sampleName, record.value);
    }
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

function seriesOf(series: Map<string, SeriesAccumulator>, id: string, labels: Labels): SeriesAccumulator {
  let found = series.get(id);
  if (found === undefined) {
    found = { labels, values: new Map(), timestamps: undefined, buckets: undefined };
    series.set(id, found);
  }
  return found;
}

function addSum(series: SeriesAccumulator, sampleName: string, value: number): void {
  series.values.set(sampleName, (series.values.get(sampleName) ?? 0) + value);
}

/** Buckets are summed per numeric bound, so `1` and `1.0` (or `1e+07` and `1e+007`) are one bucket. */
function addBucket(family: FamilyAccumulator, key: DecodedKey, value: number): void {
  const series = seriesOf(family.series, key.labelsWithoutLeId!, key.labelsWithoutLe!);
  series.buckets ??= new Map();
  series.buckets.set(key.bucketBound!, (series.buckets.get(key.bucketBound!) ?? 0) + value);
}

function addGauge(family: FamilyAccumulator, { key, value, timestamp }: FileRecord, id: string): void {
  const mode = family.mode ?? 'all';
  if (mode === 'all' || mode === 'liveall') {
    // The pid label is the file's identity, except in an archive, which keeps each process's own.
    const pid = isArchiveIdentity(id) && key.labels.pid !== undefined ? key.labels.pid : id;
    const target = seriesOf(family.series, `${key.labelsWithoutPidId}\u0000${pid}`, { ...key.labelsWithoutPid, pid });
    target.values.set(key.sampleName, value);
    return;
  }
  const target = seriesOf(family.series, key.labelsWithoutPidId, key.labelsWithoutPid);
  const current = target.values.get(key.sampleName);
  switch (mode) {
    case 'min':
    case 'livemin':
      if (current === undefined || value < current) target.values.set(key.sampleName, value);
      break;
    case 'max':
    case 'livemax':
      if (current === undefined || value > current) target.values.set(key.sampleName, value);
      break;
    case 'sum':
    case 'livesum':
      target.values.set(key.sampleName, (current ?? 0) + value);
      break;
    default: {
      // mostrecent: the newest timestamp wins, and only one strictly newer than 0.
      target.timestamps ??= new Map();
      if ((target.timestamps.get(key.sampleName) ?? 0) < timestamp) {
        target.values.set(key.sampleName, value);
        target.timestamps.set(key.sampleName, timestamp);
      }
    }
  }
}

function finish(family: FamilyAccumulator): MetricFamily {
  const samples: Sample[] = [];
  for (const { labels, values, buckets } of family.series.values()) {
    for (const [name, value] of values) samples.push({ name, labels, value });
    if (family.type !== 'histogram' || buckets === undefined || buckets.size === 0) continue;
    let cumulative = 0;
    for (const bound of [...buckets.keys()].sort((a, b) => a - b)) {
      cumulative += buckets.get(bound)!;
      samples.push({ name: `${family.name}_bucket`, labels: { ...labels, le: floatToGoString(bound) }, value: cumulative });
    }
    samples.push({ name: `${family.name}_count`, labels, value: cumulative });
  }
  return { name: family.name, type: family.type, help: family.help, samples };
}
