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
interface DecodedKey extends ParsedKey {
  /** Identifies the label set (label order does not matter). */
  labelsId: string;
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

function decodeKey(key: string, cache: KeyCache): DecodedKey {
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  let parsed: ParsedKey;
  try {
    parsed = parseEntryKey(key);
  } catch (error) {
    throw new FileFormatError(`key ${JSON.stringify(key.slice(0, 80))} is not valid: ${(error as Error).message}`);
  }
  const decoded: DecodedKey = { ...parsed, labelsId: labelsIdOf(parsed.labels) };
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
  timestamps: Map<string, number>;
  /** histogram bound → non-cumulative count */
  buckets: Map<number, number>;
}

interface FamilyAccumulator {
  name: string;
  type: MetricType;
  help: string;
  /** As in the reference, the last gauge file read decides the mode of the family. */
  mode: GaugeMode | undefined;
  raw: { key: DecodedKey; value: number; timestamp: number; id: string }[];
}

export function mergeFiles(files: Iterable<FileRecords>): MetricFamily[] {
  const families = new Map<string, FamilyAccumulator>();
  for (const { file, records } of files) {
    for (const record of records) {
      let family = families.get(record.key.metricName);
      if (family === undefined) {
        family = { name: record.key.metricName, type: file.type, help: record.key.help, mode: undefined, raw: [] };
        families.set(family.name, family);
      }
      if (file.mode !== undefined) family.mode = file.mode;
      family.raw.push({ key: record.key, value: record.value, timestamp: record.timestamp, id: file.id });
    }
  }
  return [...families.values()].map(accumulate);
}

function seriesOf(series: Map<string, SeriesAccumulator>, id: string, labels: Labels): SeriesAccumulator {
  let found = series.get(id);
  if (found === undefined) {
    found = { labels, values: new Map(), timestamps: new Map(), buckets: new Map() };
    series.set(id, found);
  }
  return found;
}

function accumulate(family: FamilyAccumulator): MetricFamily {
  const series = new Map<string, SeriesAccumulator>();
  const mode = family.type === 'gauge' ? (family.mode ?? 'all') : undefined;
  const keepsPid = mode === 'all' || mode === 'liveall';

  for (const { key, value, timestamp, id } of family.raw) {
    if (family.type === 'histogram' && key.bucketBound !== undefined) {
      const target = seriesOf(series, key.labelsWithoutLeId!, key.labelsWithoutLe!);
      target.buckets.set(key.bucketBound, (target.buckets.get(key.bucketBound) ?? 0) + value);
      continue;
    }
    if (mode === undefined) {
      const target = seriesOf(series, key.labelsId, key.labels);
      target.values.set(key.sampleName, (target.values.get(key.sampleName) ?? 0) + value);
      continue;
    }
    // Gauges: the pid label is the file's identity; the aggregating modes drop it again.
    const { pid: _ignored, ...userLabels } = key.labels;
    const labels = keepsPid ? { ...userLabels, pid: id } : userLabels;
    const target = seriesOf(series, keepsPid ? `${labelsIdOf(userLabels)}\u0000${id}` : labelsIdOf(userLabels), labels);
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
      case 'mostrecent':
      case 'livemostrecent':
        if ((target.timestamps.get(key.sampleName) ?? 0) < timestamp) {
          target.values.set(key.sampleName, value);
          target.timestamps.set(key.sampleName, timestamp);
        }
        break;
      default:
        target.values.set(key.sampleName, value);
    }
  }

  const samples: Sample[] = [];
  for (const { labels, values, buckets } of series.values()) {
    for (const [name, value] of values) samples.push({ name, labels, value });
    if (family.type !== 'histogram' || buckets.size === 0) continue;
    let cumulative = 0;
    for (const bound of [...buckets.keys()].sort((a, b) => a - b)) {
      cumulative += buckets.get(bound)!;
      samples.push({ name: `${family.name}_bucket`, labels: { ...labels, le: floatToGoString(bound) }, value: cumulative });
    }
    samples.push({ name: `${family.name}_count`, labels, value: cumulative });
  }
  return { name: family.name, type: family.type, help: family.help, samples };
}
