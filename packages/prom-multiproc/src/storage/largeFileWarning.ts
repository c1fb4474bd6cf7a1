// A metrics file past LARGE_FILE_BYTES holds hundreds of thousands of series, or series with
// very long label values: almost always a label given unbounded values (ids, URLs, user
// input). Every process that writes the metric has a file as large, and every scrape reads
// them all, so the writer says so, once per file, naming the metric that takes most of it.
import { metricNameOfKey } from '../format/pythonJson.js';
import { reportOnce } from '../common/report.js';

const MiB = 1024 * 1024;
/** 64 MiB: also where the collector stops reading a file whole (readMetricsFile.ts). */
export const LARGE_FILE_BYTES = 64 * MiB;

/** Warns once for `file` when `used` bytes in use are past LARGE_FILE_BYTES; `keys` are its entries' keys. */
export function warnIfLargeFile(file: string, used: number, keys: readonly Iterable<string>[]): void {
  if (used <= LARGE_FILE_BYTES) return;
  const { metric, entries, total } = metricWithMostEntries(keys);
  reportOnce(`large-file\u0000${file}`, new Error(
    `${file} has grown past ${LARGE_FILE_BYTES / MiB} MiB: ${entries} of its ${total} entries are of metric ${metric} ` +
      '(an entry per series, and one per bucket of a histogram\'s series). A label with unbounded values ' +
      '(ids, URLs, user input) makes a series of each, in the file of every process that writes it, and every scrape reads them all: ' +
      `give ${metric} fewer label values.`,
  ));
}

function metricWithMostEntries(keys: readonly Iterable<string>[]): { metric: string; entries: number; total: number } {
  const counts = new Map<string, number>();
  let total = 0;
  for (const group of keys) {
    for (const key of group) {
      const metric = metricNameOfKey(key);
      counts.set(metric, (counts.get(metric) ?? 0) + 1);
      total++;
    }
  }
  let most = { metric: '', entries: 0, total };
  for (const [metric, entries] of counts) {
    if (entries > most.entries) most = { metric, entries, total };
  }
  return most;
}
