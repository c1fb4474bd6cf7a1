// What a Summary calls to give its series prom-client's quantiles across processes.
//
// Writing side, one per summary series (label set):
//   const quantiles = new SummaryQuantiles(
//     store.dir === undefined ? undefined : { dir: store.dir, identity: store.identity },
//     quantileKey(name, labelNames, labelValues, help),
//     { percentiles, maxAgeSeconds, ageBuckets },
//   );
//   quantiles.observe(value);   // after the value passed the Summary's checks
//   quantiles.values();         // this process's own quantiles (single-process mode's answer)
//   quantiles.reset(); quantiles.remove();
// With a directory, the series goes to the process's side file (storage/sketchFile.ts), at
// most once a second; without one, it stays in memory.
//
// Scrape side: (await readDirectoryQuantiles(dir)).series (scrape/sketchFileReader.ts) maps
// each series key to its percentiles, their values merged over every process, and how many
// observations the window holds; damaged files are left out and reported.
//
// Single-process mode uses the same sketch (target undefined), so both modes give the same
// answers within the same bound, in bounded memory.
//
// Accuracy: each value is within 1% (relativeAccuracy) of the exact quantile of all the
// observations in the window of every process, by the definition and bound stated in
// quantileSketch.ts; the window is prom-client's (slidingWindow.ts).
import { entryKey } from '../format/pythonJson.js';
import { quantileFileWriter, type QuantileFileWriter } from './sketchFile.js';
import { quantileValues } from '../sketch/mergeSketches.js';
import type { QuantileRecord } from '../sketch/quantileFile.js';
import { SlidingWindow } from '../sketch/slidingWindow.js';

/** prom-client's default percentiles. */
export const DEFAULT_PERCENTILES: readonly number[] = Object.freeze([0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999]);

/** Where a process writes its quantiles: the metrics directory and the process identity of its metrics files. */
export interface QuantileTarget {
  dir: string;
  identity: string;
  /** The shortest time between two writes of the side file; 1000 ms by default. */
  writeIntervalMs?: number;
}

export interface SummaryQuantileOptions {
  /** Which quantiles to show; prom-client's defaults otherwise. Each from 0 to 1. */
  percentiles?: readonly number[];
  /** prom-client's window: with ageBuckets, only the last maxAgeSeconds count. */
  maxAgeSeconds?: number;
  ageBuckets?: number;
  /** The sketch's relative error bound; 0.01 by default. Every process must use the same. */
  relativeAccuracy?: number;
  /** The clock, ms since the epoch (tests); Date.now by default. */
  now?: () => number;
}

/** The key a summary series' quantiles are filed under: the entry key of its `_count` sample. */
export function quantileKey(metricName: string, labelNames: readonly string[], labelValues: readonly string[], help: string): string {
  return entryKey(metricName, `${metricName}_count`, labelNames, labelValues, help);
}

/** The percentiles, checked: each a number from 0 to 1 (prom-client takes others and answers nonsense). */
export function checkPercentiles(percentiles: readonly number[]): readonly number[] {
  if (!Array.isArray(percentiles)) throw new TypeError('percentiles must be an array of numbers from 0 to 1');
  for (const q of percentiles) {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) throw new RangeError(`a percentile is a number from 0 to 1, not ${String(q)}`);
  }
  return Object.freeze([...percentiles]);
}

export class SummaryQuantiles {
  readonly percentiles: readonly number[];
  private readonly window: SlidingWindow;
  private writer: QuantileFileWriter | undefined;

  /** `target` undefined: single-process mode, the quantiles stay in memory. */
  constructor(target: QuantileTarget | undefined, readonly key: string, options: SummaryQuantileOptions = {}) {
    this.percentiles = checkPercentiles(options.percentiles ?? DEFAULT_PERCENTILES);
    this.window = new SlidingWindow({
      maxAgeSeconds: options.maxAgeSeconds,
      ageBuckets: options.ageBuckets,
      now: options.now,
      sketch: { relativeAccuracy: options.relativeAccuracy },
    });
    if (target !== undefined) {
      this.writer = quantileFileWriter({ dir: target.dir, identity: target.identity, writeIntervalMs: target.writeIntervalMs, now: options.now });
      this.writer.register(key, this);
    }
  }

  /** Counts a finite value (throws a RangeError for NaN and infinities, which prom-client rejects). */
  observe(value: number): void {
    this.window.observe(value);
    this.writer?.changed();
  }

  /** This process's quantiles over its window, one per percentile; 0 for an empty window, as prom-client shows it. */
  values(): number[] {
    return quantileValues(this.window.merged(), this.percentiles);
  }

  /** How many of this process's observations are in the window now. */
  windowCount(): number {
    return this.window.merged().count;
  }

  /** Forgets every observation (prom-client's reset()), those a predecessor of this identity left too. */
  reset(): void {
    this.window.reset();
    this.writer?.dropAdopted(this.key);
    this.writer?.changed();
  }

  /** Takes the series out of the side file (remove() of its labels); it then counts in memory only. */
  remove(): void {
    this.writer?.unregister(this.key);
    this.writer = undefined;
  }

  /** The series as the side file holds it (called by the writer). */
  record(): QuantileRecord {
    return { key: this.key, percentiles: this.percentiles, maxAgeMs: this.window.maxAgeMs, slots: this.window.liveSlots() };
  }
}
