// The exemplar side of a scrape, without a file system: the bytes of several processes'
// exemplar files in, the latest exemplar per sample across them out. A file that cannot be
// decoded is left out and reported (once, naming it); the others are still merged.

import { floatToGoString, parsePythonFloat } from '../format/pythonFloat.js';
import { parseEntryKey } from '../format/pythonJson.js';
import { reportOnce } from '../common/report.js';
import { decodeExemplarFile, type Exemplar } from '../format/exemplarFormat.js';

export type { Exemplar } from '../format/exemplarFormat.js';

export interface ExemplarFileBytes {
  /** The file's path, for the report when it cannot be read. */
  file: string;
  bytes: Uint8Array;
}

/** Keeps `exemplar` for `key` in `into` unless the one there is newer. On a tie the first stays. */
export function keepLatest(into: Map<string, Exemplar>, key: string, exemplar: Exemplar): void {
  const kept = into.get(key);
  if (kept === undefined || exemplar.timestamp > kept.timestamp) into.set(key, exemplar);
}

/** The latest exemplar per entry key in `files` (give them in name order, so ties are decided alike every scrape). */
export function mergeExemplars(files: Iterable<ExemplarFileBytes>): Map<string, Exemplar> {
  const merged = new Map<string, Exemplar>();
  for (const { file, bytes } of files) {
    let exemplars: Map<string, Exemplar>;
    try {
      exemplars = decodeExemplarFile(bytes);
    } catch (error) {
      reportExemplarFile(file, (error as Error).message);
      continue;
    }
    for (const [key, exemplar] of exemplars) keepLatest(merged, key, exemplar);
  }
  return merged;
}

/** Reports, once per file and reason, a file of exemplars left out of the scrape. */
export function reportExemplarFile(file: string, reason: string): void {
  reportOnce(`exemplars\u0000${file}\u0000${reason}`, new Error(
    `prom-multiproc left ${file} out of the scrape's exemplars: ${reason}. Metrics and other exemplars are served; ` +
      'the file is rewritten at its process\'s next exemplar, and "prom-multiproc clean" removes it when the service starts.',
  ));
}

/**
 * Finds the exemplar of a merged sample by its name and labels, whatever help text the writing
 * processes had in their entry keys and whatever order they gave the labels in. A histogram
 * bucket's `le` is compared as a number, as the merge compares bounds.
 * Keys that are not entry keys match nothing.
 */
export class ExemplarsBySample {
  private readonly bySample = new Map<string, Exemplar>();

  constructor(exemplars: ReadonlyMap<string, Exemplar>) {
    for (const [key, exemplar] of exemplars) {
      let sampleName: string;
      let labels: Record<string, string>;
      try {
        ({ sampleName, labels } = parseEntryKey(key));
      } catch {
        continue;
      }
      keepLatest(this.bySample, sampleId(sampleName, labels), exemplar);
    }
  }

  get size(): number {
    return this.bySample.size;
  }

  /** The exemplar of the sample `sampleName` (`jobs_total`, `latency_bucket`) with these labels, if any. */
  get(sampleName: string, labels: Readonly<Record<string, string>>): Exemplar | undefined {
    return this.bySample.get(sampleId(sampleName, labels));
  }
}

function sampleId(sampleName: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  const values = names.map((name) => labels[name]!);
  const le = names.indexOf('le');
  if (le >= 0 && sampleName.endsWith('_bucket')) values[le] = boundText(values[le]!);
  return JSON.stringify([sampleName, names, values]);
}

/** A bucket bound as the merge writes it (`1` and `1.0` are one bucket); text that is no number, as it is. */
function boundText(le: string): string {
  try {
    return floatToGoString(parsePythonFloat(le));
  } catch {
    return le;
  }
}
