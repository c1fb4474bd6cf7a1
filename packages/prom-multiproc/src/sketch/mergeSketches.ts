// The scrape side of summary quantiles, without a disk: the bytes of every process's quantile
// file in, the merged quantiles of each series out. Each series' slots still in its window at
// `nowMs` are merged across all files (merging sketches is exact: the result is the sketch of
// every process's observations together), and read at the series' percentiles. A file that
// cannot be decoded is left out whole and named in `problems`; the others still merge.
import { SketchFormatError } from './bytes.js';
import { decodeQuantileFile, type QuantileRecord } from './quantileFile.js';
import { QuantileSketch } from './quantileSketch.js';
import { mergeWindowSlots } from './slidingWindow.js';

export interface SeriesQuantiles {
  /**
   * The percentiles to show: those of the first file that has the series, then any other
   * that other processes ask for (a rolling deploy that changed them shows both for a while).
   */
  percentiles: number[];
  /** One value per percentile; 0 when the window is empty, as prom-client shows it. */
  values: number[];
  /** How many observations of all processes are in the window (prom-client's pruneAgedBuckets drops a series at 0). */
  count: number;
}

export interface QuantileSource {
  /** The file's path, for problem reports. */
  file: string;
  bytes: Uint8Array;
}

export interface QuantileProblem {
  file: string;
  reason: string;
  /** True when the whole file was left out (its bytes are damaged); false when only one series of it was. */
  fileLeftOut: boolean;
}

export interface MergedQuantiles {
  /** By entry key of the series' `_count` sample. */
  series: Map<string, SeriesQuantiles>;
  problems: QuantileProblem[];
  /** How many files were decoded and merged. */
  filesMerged: number;
}

/** The values prom-client shows for `percentiles` of `sketch`: 0 for every one when it is empty. */
export function quantileValues(sketch: QuantileSketch, percentiles: readonly number[]): number[] {
  return percentiles.map((q) => (sketch.count === 0 ? 0 : sketch.quantile(q)));
}

interface Accumulator {
  percentiles: number[];
  sketch: QuantileSketch;
  /** Whether a record with slots set the accuracy (a record without any says nothing of it). */
  accuracyKnown: boolean;
}

export function mergeQuantileFiles(sources: readonly QuantileSource[], nowMs: number): MergedQuantiles {
  const merging = new Map<string, Accumulator>();
  const problems: QuantileProblem[] = [];
  let filesMerged = 0;
  for (const { file, bytes } of sources) {
    let records: QuantileRecord[];
    try {
      records = decodeQuantileFile(bytes).records;
    } catch (error) {
      if (!(error instanceof SketchFormatError)) throw error;
      problems.push({ file, reason: error.message, fileLeftOut: true });
      continue;
    }
    filesMerged++;
    for (const record of records) {
      const accuracy = record.slots[0]?.sketch.relativeAccuracy;
      let series = merging.get(record.key);
      if (series === undefined) {
        series = { percentiles: [...record.percentiles], sketch: new QuantileSketch({ relativeAccuracy: accuracy }), accuracyKnown: false };
        merging.set(record.key, series);
      }
      if (accuracy !== undefined && !series.accuracyKnown) {
        if (accuracy !== series.sketch.relativeAccuracy) series.sketch = new QuantileSketch({ relativeAccuracy: accuracy });
        series.accuracyKnown = true;
      } else if (accuracy !== undefined && accuracy !== series.sketch.relativeAccuracy) {
        // Only a process configured differently writes another accuracy; its buckets do not line up.
        problems.push({
          file,
          reason: `series ${record.key} has relative accuracy ${accuracy} there and ${series.sketch.relativeAccuracy} in other files; that file's quantiles of it are left out`,
          fileLeftOut: false,
        });
        continue;
      }
      for (const q of record.percentiles) if (!series.percentiles.includes(q)) series.percentiles.push(q);
      mergeWindowSlots(record.slots, record.maxAgeMs, nowMs, series.sketch);
    }
  }
  const series = new Map<string, SeriesQuantiles>();
  for (const [key, { percentiles, sketch }] of merging) {
    series.set(key, { percentiles, values: quantileValues(sketch, percentiles), count: sketch.count });
  }
  return { series, problems, filesMerged };
}
