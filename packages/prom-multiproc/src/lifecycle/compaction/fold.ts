// Folding the files of processes that are gone into archive entries, as a pure function:
// the merge of (archive + the rest) must equal the merge of (old archive + folded files +
// the rest), so each kind folds by the rule the collector merges it by.

import { isLiveMode, type FileKind } from '../../format/fileNames.js';
import type { FileRecords, RawEntry } from '../../format/decode.js';
import { isArchiveIdentity } from '../../directory/manifest.js';
import { entryKey } from '../../format/pythonJson.js';

interface Folded {
  value: number;
  timestamp: number;
}

/**
 * The archive entries per file kind for `files` (the current archive's and the dead processes'
 * files). Live-mode gauges are dropped: their processes are dead. `all`-mode gauges keep one
 * entry per process, with the process's identity moved into a `pid` label of the key.
 */
export function foldForArchive(files: Iterable<FileRecords>): Map<FileKind, RawEntry[]> {
  const kinds = new Map<FileKind, Map<string, Folded>>();
  for (const { file, keys, values, timestamps } of files) {
    if (file.mode !== undefined && isLiveMode(file.mode)) continue;
    let folded = kinds.get(file.kind);
    if (folded === undefined) {
      folded = new Map();
      kinds.set(file.kind, folded);
    }
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = values[i]!;
      const timestamp = timestamps[i]!;
      let archiveKey = key.raw;
      if (file.mode === 'all') {
        const pid = isArchiveIdentity(file.id) && key.labels.pid !== undefined ? key.labels.pid : file.id;
        const labels: Record<string, string> = { ...key.labelsWithoutPid, pid };
        const names = Object.keys(labels);
        archiveKey = entryKey(key.metricName, key.sampleName, names, names.map((name) => labels[name]!), key.help);
      }
      const current = folded.get(archiveKey);
      folded.set(archiveKey, combine(file.mode, current, { value, timestamp }));
    }
  }
  const result = new Map<FileKind, RawEntry[]>();
  for (const [kind, folded] of kinds) {
    const entries: RawEntry[] = [];
    for (const [key, { value, timestamp }] of folded) {
      // A mostrecent value never set (timestamp 0) is invisible to the merge; nothing to keep.
      if (kind === 'gauge_mostrecent' && !(timestamp > 0)) continue;
      entries.push({ key, value, timestamp });
    }
    if (entries.length > 0) result.set(kind, entries);
  }
  return result;
}

function combine(mode: string | undefined, current: Folded | undefined, next: Folded): Folded {
  if (current === undefined) return mode === 'mostrecent' && !(next.timestamp > 0) ? { value: 0, timestamp: 0 } : next;
  switch (mode) {
    case 'min':
      return next.value < current.value ? next : current;
    case 'max':
      return next.value > current.value ? next : current;
    case 'mostrecent':
      return current.timestamp < next.timestamp ? next : current;
    case 'all':
      return next; // one entry per process and series; a repeat can only come from the same file
    default:
      // counter, histogram (per bucket), summary, sum
      return { value: current.value + next.value, timestamp: 0 };
  }
}
